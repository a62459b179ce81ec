#!/usr/bin/env bash
# Label `slow` (about 6 minutes on 2 cores): builds keytok with -DKEYTOK_PORTABLE=ON in its own
# build folder and checks that every x86-64 CPU variant but the AMX one lands next to the binary,
# that `keytok --version` reports a portable build without AMX, and that a generation runs.
#   tests/scripts/portable_build_test.sh SOURCE_DIR BUILD_DIR [MODEL.gguf]
set -euo pipefail
src="$1" out="$2" model="${3:-}"
fail() { echo "FAIL: $*" >&2; exit 1; }

start=$(date +%s)
cmake -S "$src" -B "$out" -G Ninja -DCMAKE_BUILD_TYPE=Release -DKEYTOK_PORTABLE=ON \
  -DKEYTOK_BUILD_TESTS=OFF -DKEYTOK_BUILD_BENCH=OFF -DKEYTOK_BUILD_EXAMPLES=OFF \
  -DKEYTOK_LLAMA_TOOLS=OFF >/dev/null
cmake --build "$out" --target keytok-cli -j "$(nproc)" >"$out/build.log" 2>&1 \
  || { tail -n 30 "$out/build.log" >&2; fail "the portable build failed; log: $out/build.log"; }
echo "portable build: $(( $(date +%s) - start )) s"

# The loadable CPU variants: all of ggml's x86-64 list except sapphirerapids (AMX).
want="alderlake cannonlake cascadelake cooperlake haswell icelake ivybridge piledriver sandybridge skylakex sse42 x64 zen4"
got=$(cd "$out/bin" && ls libggml-cpu-*.so | sed -E 's/libggml-cpu-(.*)\.so/\1/' | sort | xargs)
[[ "$got" == "$want" ]] || fail "CPU variants next to the binary: '$got', expected '$want'"
[[ -f "$out/ggml-cpu-not-loaded/libggml-cpu-sapphirerapids.so" ]] \
  || fail "the AMX variant was not built into ggml-cpu-not-loaded/"

version=$("$out/bin/keytok" --version) || fail "keytok --version exited $?"
echo "$version"
grep -q "^CPU build: portable (all CPU variants, picked at run time), AMX off$" <<<"$version" \
  || fail "unexpected CPU build line"
! grep -q "AMX_" <<<"$version" || fail "the portable build loaded an AMX variant"
grep -q "^CPU features: .*AVX" <<<"$version" || fail "no AVX feature reported; no variant loaded?"

if [[ -n "$model" && -f "$model" ]]; then
  summary=$("$out/bin/keytok" analyze -m "$model" -p "Name two planets." --generate 8 --no-auto-calibrate) \
    || fail "analyze exited $?"
  grep -q '"n_tokens": [1-9]' <<<"$summary" || fail "analyze produced no tokens: $summary"
fi
echo "ok"
