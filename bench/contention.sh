#!/usr/bin/env bash
# Two processes on one machine: does each get about its fair share? Runs keytok and llama.cpp's
# own llama-completion (the anchor) on the same model, prompt, threads and token count, alone and
# two at once, under several OpenMP wait settings, and prints one Markdown table of wall times
# (median of R repetitions, and the slowest; a pair's time is the slower of its two runs).
#
#   bench/contention.sh [-b BUILD] [-m MODEL] [-n TOKENS] [-t THREADS] [-r REPS]
#
# keytok's own default (GOMP_SPINCOUNT=1000, set by the CLI itself; keytok/threading.hpp) is the
# row "keytok default". "libgomp default" forces libgomp's own settings back
# (GOMP_SPINCOUNT=300000, what an unset environment means) to show what keytok replaced.
# Builds llama-completion in BUILD on first use. Results: docs/results/contention.md.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="$root/build" model="$root/models/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
tokens=96 threads=2 reps=3
while getopts "b:m:n:t:r:" o; do
  case "$o" in
    b) build="$OPTARG" ;; m) model="$OPTARG" ;; n) tokens="$OPTARG" ;;
    t) threads="$OPTARG" ;; r) reps="$OPTARG" ;; *) exit 2 ;;
  esac
done
prompt="Write a long story about a lighthouse keeper who finds a message in a bottle."
[[ -x "$build/bin/llama-completion" ]] || cmake --build "$build" --target llama-completion >/dev/null

# Each runner: the command for one run; the environment comes from the caller.
keytok_run() {
  "$build/bin/keytok" analyze -m "$model" -p "$prompt" --generate "$tokens" -t "$threads" \
    --no-auto-calibrate >/dev/null 2>&1
}
llama_run() {
  # --ignore-eos: exactly $tokens tokens, like keytok's run of a prompt that never stops early.
  "$build/bin/llama-completion" -m "$model" -p "$prompt" -n "$tokens" -t "$threads" -no-cnv \
    --ignore-eos --temp 0 -c 2048 </dev/null >/dev/null 2>&1
}

secs() { date +%s.%N; }
# timed ENV RUNNER: wall seconds of one run (ENV is NAME=VALUE, exported in a subshell).
timed() {
  local s; s=$(secs)
  ( export "$1"; "$2" ) || { echo "run failed: $1 $2" >&2; exit 1; }
  echo "$(secs) - $s" | bc
}
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

# measure ENV RUNNER: prints "alone-median pair-median pair-max".
measure() {
  local env="$1" runner="$2" alone=() pair=() i a b
  for ((i = 0; i < reps; i++)); do
    alone+=("$(timed "$env" "$runner")")
    a=$(mktemp) b=$(mktemp)
    timed "$env" "$runner" >"$a" & timed "$env" "$runner" >"$b" & wait
    pair+=("$(sort -g "$a" "$b" | tail -n 1)")
    rm -f "$a" "$b"
  done
  printf '%s %s %s\n' "$(printf '%s\n' "${alone[@]}" | median)" "$(printf '%s\n' "${pair[@]}" | median)" \
    "$(printf '%s\n' "${pair[@]}" | sort -g | tail -n 1)"
}

echo "| program | OpenMP setting | alone (s) | two at once (s, each) | two at once / alone | slowest pair (s) |"
echo "|---|---|---:|---:|---:|---:|"
row() {  # row PROGRAM SETTING ENV RUNNER
  local alone pair worst
  read -r alone pair worst < <(measure "$3" "$4")
  printf '| %s | %s | %.2f | %.2f | %.1fx | %.2f |\n' "$1" "$2" "$alone" "$pair" \
    "$(echo "$pair / $alone" | bc -l)" "$worst"
}
row keytok "keytok default (GOMP_SPINCOUNT=1000)" KEYTOK_BENCH=1 keytok_run
row keytok "libgomp default (spin 300000)" GOMP_SPINCOUNT=300000 keytok_run
row keytok "OMP_WAIT_POLICY=PASSIVE" OMP_WAIT_POLICY=PASSIVE keytok_run
row llama-completion "libgomp default (spin 300000)" KEYTOK_BENCH=1 llama_run
row llama-completion "GOMP_SPINCOUNT=1000" GOMP_SPINCOUNT=1000 llama_run
row llama-completion "OMP_WAIT_POLICY=PASSIVE" OMP_WAIT_POLICY=PASSIVE llama_run
