#!/usr/bin/env bash
# Batched decode throughput of keytok's Session against llama.cpp's llama-batched-bench, same
# model, threads, prompt length and steps, in one run (docs/results/decoding.md, part 2 and 3).
#   bench/decoding_bench.sh [BUILD_DIR] [THREADS]
set -euo pipefail
build=${1:-build}
threads=${2:-2}
model=${KEYTOK_MODEL:-$(dirname "$0")/../models/SmolLM2-135M-Instruct.Q4_1.gguf}
echo "== date $(date -u +%FT%TZ), $(nproc) CPUs, threads $threads, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== llama-batched-bench (-pps: shared prompt, -kvu: unified KV), 3 runs: keytok reports its best of 3 too"
for run in 1 2 3; do
  "$build/bin/llama-batched-bench" -m "$model" -c 2048 -b 512 -ub 512 -npp 128 -ntg 64 -npl 1,4,8 \
    -pps -kvu -t "$threads" -fa off 2>/dev/null | grep -E '^\|' | { [[ $run == 1 ]] && cat || grep -v -e '---' -e 'PP '; }
done
echo "== keytok Session (batched_decode_bench)"
"$build/bin/batched_decode_bench" -m "$model" -t "$threads" -npp 128 -ntg 64 -r 3 --ctx 2048
echo "== load after: $(cut -d' ' -f1-3 /proc/loadavg)"
