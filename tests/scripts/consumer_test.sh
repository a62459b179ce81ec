#!/usr/bin/env bash
# Label `package`: keytok as another project sees it. Installs the current build into a staging
# prefix, checks what landed there, builds tests/consumer (one .cpp on the public API) against
# it twice, with find_package(keytok) and with pkg-config --static, and runs both on a model:
# exact output, exact exit codes. The installed `keytok --version` must print what the build's
# does. Takes seconds; wipes its folders first, so a re-run starts clean.
#   tests/scripts/consumer_test.sh SOURCE_DIR BUILD_DIR MODEL.gguf [STAGE_DIR]
# STAGE_DIR (default BUILD_DIR/consumer-stage) is where the build is installed; the slow
# shared-library test passes its own build (tests/scripts/shared_consumer_test.sh). A build on
# an installed llama.cpp needs its prefix in the environment's CMAKE_PREFIX_PATH and
# PKG_CONFIG_PATH, which are kept.
set -euo pipefail
src="$1" build="$2" model="$3" stage="${4:-$2/consumer-stage}"
work="$stage-work"
fail() { echo "FAIL: $*" >&2; exit 1; }
start=$(date +%s%N)

[[ -f "$model" ]] || fail "model $model is absent; scripts/test fetches it (scripts/fetch_models.sh --tests)"
rm -rf "$stage" "$work"
mkdir -p "$work"
export KEYTOK_CACHE="$work/cache"  # nothing of the user's ~/.cache/keytok is read or written

# 1. The install: headers, library, CLI, CMake package, pkg-config file.
cmake --install "$build" --prefix "$stage" >"$work/install.log" 2>&1 \
  || { cat "$work/install.log" >&2; fail "cmake --install $build failed"; }
for f in include/keytok/keytok.hpp include/keytok/model.hpp bin/keytok \
  lib/cmake/keytok/keytokConfig.cmake lib/cmake/keytok/keytokConfigVersion.cmake \
  lib/cmake/keytok/keytokTargets.cmake lib/pkgconfig/keytok.pc; do
  [[ -f "$stage/$f" ]] || fail "the install lacks $f"
done
[[ -f "$stage/lib/libkeytok.a" || -f "$stage/lib/libkeytok.so" ]] || fail "the install has no lib/libkeytok.a or .so"
# Nothing may point back into the source or build tree (they are not there for a user).
for tree in "$(realpath "$src")" "$(realpath "$build")" "$src" "$build"; do
  if grep -rlF "$tree" "$stage"/lib/cmake "$stage"/lib/pkgconfig >"$work/leaks" 2>/dev/null; then
    fail "installed package files name $tree: $(xargs <"$work/leaks")"
  fi
done

# What the consumer must print (greedy decoding; the model's answer is far from any tie).
version=$(sed -nE 's/^project\(keytok VERSION ([0-9.]+).*/\1/p' "$src/CMakeLists.txt")
expected="keytok $version
model: llama, 49152 tokens
tokens of \"Hello, world!\": 19556 28 905 17
0 504 \"The\"
1 3575 \" capital\"
2 282 \" of\"
3 4649 \" France\"
4 314 \" is\"
5 7042 \" Paris\"
6 30 \".\"
text: The capital of France is Paris.
stop: eog"

# check_run NAME BINARY: exit codes and output of one build of the consumer.
check_run() {
  local name="$1" bin="$2" out rc
  rc=0; out=$("$bin" "$model" 2>"$work/$name.err") || rc=$?
  [[ $rc -eq 0 ]] || { cat "$work/$name.err" >&2; fail "$name: exit $rc on $model, expected 0"; }
  if [[ "$out" != "$expected" ]]; then
    diff <(echo "$expected") <(echo "$out") >&2 || true
    fail "$name: unexpected output (diff above: < expected, > got)"
  fi
  rc=0; "$bin" >/dev/null 2>"$work/$name.usage" || rc=$?
  [[ $rc -eq 2 ]] || fail "$name: exit $rc without arguments, expected 2"
  grep -q "^usage: .* MODEL.gguf$" "$work/$name.usage" || fail "$name: no usage line: $(cat "$work/$name.usage")"
  rc=0; "$bin" "$work/absent.gguf" >/dev/null 2>"$work/$name.absent" || rc=$?
  [[ $rc -eq 1 ]] || fail "$name: exit $rc for an absent model, expected 1"
  grep -q "^keytok_consumer: not_found: model file not found: $work/absent.gguf;" "$work/$name.absent" \
    || fail "$name: unexpected error for an absent model: $(cat "$work/$name.absent")"
  echo "$name: ok"
}

# 2. CMake: find_package(keytok CONFIG REQUIRED) from the staging prefix.
generator=(); command -v ninja >/dev/null && generator=(-G Ninja)
cmake -S "$src/tests/consumer" -B "$work/cmake" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$stage" >"$work/cmake.log" 2>&1 \
  || { cat "$work/cmake.log" >&2; fail "configuring tests/consumer against $stage failed"; }
found=$(sed -n 's/^keytok_DIR:PATH=//p' "$work/cmake/CMakeCache.txt")
[[ "$found" == "$stage/lib/cmake/keytok" ]] || fail "find_package found keytok at '$found', not in $stage"
cmake --build "$work/cmake" >>"$work/cmake.log" 2>&1 \
  || { cat "$work/cmake.log" >&2; fail "building tests/consumer against $stage failed"; }
check_run find_package "$work/cmake/keytok_consumer"

# 3. pkg-config: the same source with the flags keytok.pc gives (--static: a static libkeytok
# needs the bundled llama.cpp archives and their dependencies; harmless for a shared one), and
# a run path to the staging prefix, which the loader does not search by itself.
export PKG_CONFIG_PATH="$stage/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
pc=$(pkg-config --cflags --libs --static keytok) || fail "pkg-config does not know keytok from $PKG_CONFIG_PATH"
read -r -a flags <<<"$pc"
flags+=("-Wl,-rpath,$(pkg-config --variable=libdir keytok)")
"${CXX:-c++}" -std=c++20 -O2 "$src/tests/consumer/consumer.cpp" -o "$work/consumer-pc" "${flags[@]}" \
  >"$work/pkg-config.log" 2>&1 || { cat "$work/pkg-config.log" >&2; fail "building with pkg-config flags failed: ${flags[*]}"; }
check_run pkg-config "$work/consumer-pc"

# 4. The installed CLI prints the same version report as the build's.
want=$("$build/bin/keytok" --version) || fail "$build/bin/keytok --version exited $?"
got=$("$stage/bin/keytok" --version) || fail "installed keytok --version exited $?"
[[ "$got" == "$want" ]] || { diff <(echo "$want") <(echo "$got") >&2 || true; fail "installed keytok --version differs"; }
grep -q "^keytok $version$" <<<"$got" || fail "installed keytok --version: no 'keytok $version' line"
echo "$got"
echo "ok ($(( ($(date +%s%N) - start) / 1000000 )) ms)"
