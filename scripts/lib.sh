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

# pip_download DEST LOG ARGS...: download distributions with pip into DEST, never install them,
# with the words of $KEYTOK_PIP_ARGS added (e.g. "--no-index --find-links DIR" for a local
# mirror). pip's output goes to LOG; returns pip's exit status.
pip_download() {
  local dest="$1" pip_log="$2"; shift 2
  local extra=()
  read -r -a extra <<< "${KEYTOK_PIP_ARGS:-}"
  mkdir -p "$dest"
  python3 -m pip download --quiet --no-deps --disable-pip-version-check -d "$dest" \
    "${extra[@]}" "$@" > "$pip_log" 2>&1
}

# pip_errors LOG: the key lines of a failed pip run, joined by "; " (pip's ERROR lines, else its
# last line), plus a note when pip could not reach the package index.
pip_errors() {
  local lines
  lines=$(grep '^ERROR: ' "$1" | grep -v '^ERROR: Exception:' | sed 's/^ERROR: //' | head -n 3 || true)
  [[ -n "$lines" ]] || lines=$(grep -v '^[[:space:]]*$' "$1" | tail -n 1 || true)
  lines=$(printf '%s' "$lines" | paste -sd '|' | sed 's/|/; /g')
  if grep -Eq 'NewConnectionError|ConnectTimeout|ReadTimeout|Name or service not known|Temporary failure in name resolution|Network is unreachable|No route to host' "$1"; then
    lines="${lines:+$lines; }pip could not reach the package index"
  fi
  printf '%s' "$lines"
}

# pip_fetch DEST SPEC [extra pip args...]: download a distribution with pip, never install it.
pip_fetch() {
  local dest="$1"; shift
  local pip_log why
  pip_log=$(mktemp)
  if ! pip_download "$dest" "$pip_log" "$@"; then
    why=$(pip_errors "$pip_log"); rm -f "$pip_log"
    die "pip could not download $*${why:+ (pip: $why)}; check the network access to PyPI"
  fi
  rm -f "$pip_log"
}

physical_cores() {
  local n
  n=$(lscpu -p=CORE,SOCKET 2>/dev/null | grep -v '^#' | sort -u | wc -l || true)
  [[ "$n" -gt 0 ]] 2>/dev/null || n=$(nproc)
  echo "$n"
}
