#!/usr/bin/env bash
# Label `slow` (several minutes on 2 cores): builds keytok with -DBUILD_SHARED_LIBS=ON in its own
# build folder, then runs the consumer test (tests/scripts/consumer_test.sh) against its
# install, and checks that the consumer and the installed CLI load libkeytok.so from the install
# while llama.cpp stays inside it (no libllama/libggml of their own, no llama_* exported).
#   tests/scripts/shared_consumer_test.sh SOURCE_DIR BUILD_DIR MODEL.gguf
set -euo pipefail
src="$1" out="$2" model="$3"
fail() { echo "FAIL: $*" >&2; exit 1; }
[[ -f "$model" ]] || fail "model $model is absent; scripts/test fetches it (scripts/fetch_models.sh --tests)"

start=$(date +%s)
cmake -S "$src" -B "$out" -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=ON \
  -DKEYTOK_BUILD_TESTS=OFF -DKEYTOK_BUILD_BENCH=OFF -DKEYTOK_BUILD_EXAMPLES=OFF \
  -DKEYTOK_LLAMA_TOOLS=OFF >/dev/null
cmake --build "$out" -j "$(nproc)" >"$out/build.log" 2>&1 \
  || { tail -n 30 "$out/build.log" >&2; fail "the shared build failed; log: $out/build.log"; }
echo "shared build: $(( $(date +%s) - start )) s"

stage="$out/consumer-stage"
bash "$src/tests/scripts/consumer_test.sh" "$src" "$out" "$model" "$stage"

[[ -L "$stage/lib/libkeytok.so" && ! -e "$stage/lib/libkeytok.a" ]] || fail "expected lib/libkeytok.so and no libkeytok.a"
lib=$(readlink "$stage/lib/libkeytok.so")  # the SONAME link, libkeytok.so.MAJOR.MINOR
[[ ! -e "$stage/lib/keytok" ]] || fail "a shared libkeytok needs no bundled llama.cpp, but lib/keytok/ exists"
readelf -d "$stage/lib/$lib" | grep -q "(SONAME).*\[libkeytok\.so\.[0-9]" || fail "$lib has no versioned SONAME"
if readelf --dyn-syms -W "$stage/lib/$lib" | awk '$7 != "UND"' | grep -Eq ' (llama|ggml)_'; then
  fail "$lib exports llama.cpp symbols"
fi
for bin in "$stage-work/cmake/keytok_consumer" "$stage-work/consumer-pc" "$stage/bin/keytok"; do
  readelf -d "$bin" | grep -q "(NEEDED).*\[libkeytok\.so" || fail "$bin does not link libkeytok.so"
  deps=$(ldd "$bin")
  loaded=$(awk '/libkeytok\.so/ { print $3 }' <<<"$deps")
  [[ -n "$loaded" && "$(realpath "$loaded")" == "$(realpath "$stage/lib/$lib")" ]] \
    || fail "$bin does not load $stage/lib/$lib:"$'\n'"$deps"
  ! grep -Eq "lib(llama|ggml)" <<<"$deps" || fail "$bin loads llama.cpp libraries of its own"
  echo "$bin: $(grep libkeytok <<<"$deps" | xargs)"
done
echo "ok"
