# Shared helpers for keytok's setup scripts. Sourced, not run.
set -euo pipefail

KEYTOK_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Downloads are kept outside the checkout so a fresh clone (CI) does not fetch them again.
KEYTOK_CACHE="${KEYTOK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/keytok}"
# shellcheck source=pins.env
source "$KEYTOK_ROOT/scripts/pins.env"

log() { printf '[keytok] %s\n' "$*" >&2; }
die() { printf '[keytok] error: %s\n' "$*" >&2; exit 1; }

# sha256_ok FILE EXPECTED: true when FILE exists and has the expected digest.
sha256_ok() {
  [[ -f "$1" ]] || return 1
  [[ "$(sha256sum "$1" | cut -d' ' -f1)" == "$2" ]]
}

# require_sha256 FILE EXPECTED: stop with a clear message on a mismatch.
require_sha256() {
  sha256_ok "$1" "$2" || die "checksum mismatch for $1 (expected $2, got $(sha256sum "$1" | cut -d' ' -f1)); delete it and run again"
}

# pip_fetch DEST SPEC [extra pip args...]: download a distribution with pip, never install it.
pip_fetch() {
  local dest="$1"; shift
  mkdir -p "$dest"
  python3 -m pip download --quiet --no-deps --disable-pip-version-check -d "$dest" "$@" \
    || die "pip could not download $*; check the network access to PyPI"
}

physical_cores() {
  local n
  n=$(lscpu -p=CORE,SOCKET 2>/dev/null | grep -v '^#' | sort -u | wc -l || true)
  [[ "$n" -gt 0 ]] 2>/dev/null || n=$(nproc)
  echo "$n"
}
