#!/usr/bin/env bash
# Fetches the pinned llama.cpp source (vendor/llama.cpp of the llama-cpp-python sdist on PyPI)
# into the git-ignored third_party/llama.cpp. Idempotent: a matching stamp skips all work.
source "$(dirname "$0")/lib.sh"

dest="$KEYTOK_ROOT/third_party/llama.cpp"
stamp="$dest/.keytok-pin"
want="llama-cpp-python $LLAMA_CPP_PYTHON_VERSION $LLAMA_CPP_PYTHON_SHA256"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then exit 0; fi

sdist="$KEYTOK_CACHE/llama_cpp_python-$LLAMA_CPP_PYTHON_VERSION.tar.gz"
if ! sha256_ok "$sdist" "$LLAMA_CPP_PYTHON_SHA256"; then
  log "downloading llama-cpp-python $LLAMA_CPP_PYTHON_VERSION source distribution"
  tmp=$(mktemp -d)
  # --no-binary for this package only: pip keeps the sdist; build tools may come as wheels.
  pip_fetch "$tmp" --no-binary llama-cpp-python "llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION"
  mkdir -p "$KEYTOK_CACHE"
  mv "$tmp"/llama_cpp_python-*.tar.gz "$sdist"
  rm -rf "$tmp"
fi
require_sha256 "$sdist" "$LLAMA_CPP_PYTHON_SHA256"

log "unpacking llama.cpp into third_party/llama.cpp"
rm -rf "$dest" && mkdir -p "$dest"
tar -xzf "$sdist" -C "$dest" --strip-components=3 \
  "llama_cpp_python-$LLAMA_CPP_PYTHON_VERSION/vendor/llama.cpp"
[[ -f "$dest/include/llama.h" ]] || die "the sdist has no vendor/llama.cpp/include/llama.h"
# The sdist keeps the submodule's .git pointer file; without its repository, llama.cpp's CMake
# would warn on every configure.
rm -f "$dest/.git"
echo "$want" > "$stamp"
