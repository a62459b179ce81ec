#!/usr/bin/env bash
# Fetches the long English prose of the long-context measurements (issue 9, docs/texts.md) into
# the git-ignored texts/ folder: texts/alice.txt, Alice's Adventures in Wonderland (public
# domain), from the Canterbury corpus copy inside the brotli source distribution on PyPI. The
# archive (cached), the extracted member and the installed text are each checked against their
# sha256 in scripts/pins.env. Idempotent: a text in place with the pinned sha256 skips all work.
#   scripts/fetch_texts.sh
# What is changed from the member, nothing else: CRLF line ends become LF, and the trailing DOS
# end-of-file byte (0x1A) is dropped (`tr -d '\r\032'`).
# Environment: KEYTOK_TEXTS_DIR (default texts/), KEYTOK_CACHE (the archive goes there),
# KEYTOK_PIP_ARGS (extra pip arguments, e.g. "--no-index --find-links DIR" for a local mirror).
source "$(dirname "$0")/lib.sh"

texts="${KEYTOK_TEXTS_DIR:-$KEYTOK_ROOT/texts}"
pkg="$TEXT_SOURCE_PACKAGE" ver="$TEXT_SOURCE_VERSION"
sdist="$KEYTOK_CACHE/$pkg-$ver.tar.gz"
out="$texts/alice.txt"
pins="scripts/pins.env"

# show PATH: PATH relative to the checkout when it lies inside it, for shorter messages.
show() { if [[ "$1" == "$KEYTOK_ROOT/"* ]]; then printf '%s' "${1#"$KEYTOK_ROOT/"}"; else printf '%s' "$1"; fi; }
sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

for arg in "$@"; do
  case "$arg" in
    -h|--help)
      cat <<EOF
usage: scripts/fetch_texts.sh
Installs $(show "$out") ($TEXT_ALICE_BYTES bytes): Alice's Adventures in Wonderland (public domain),
the member $TEXT_ALICE_MEMBER of the $pkg $ver source distribution on PyPI (MIT), with CRLF line
ends made LF and the trailing DOS end-of-file byte dropped. Pins: $pins. See docs/texts.md.
EOF
      exit 0 ;;
    *) die "unknown argument $arg (see scripts/fetch_texts.sh --help)" ;;
  esac
done

# --- Temporary files: removed on any exit, error or interruption -------------------------------
tmp_dl="" tmp_raw="" tmp_out=""
# shellcheck disable=SC2317  # run from the traps
cleanup() {
  [[ -z "$tmp_dl" ]] || rm -rf -- "$tmp_dl"
  [[ -z "$tmp_raw" ]] || rm -f -- "$tmp_raw"
  [[ -z "$tmp_out" ]] || rm -f -- "$tmp_out"
  tmp_dl="" tmp_raw="" tmp_out=""
}
trap cleanup EXIT
trap 'cleanup; log "interrupted"; exit 130' INT
trap 'cleanup; log "terminated"; exit 143' TERM

# --- Already in place? ---------------------------------------------------------------------------
shown="$(show "$out")"
if [[ -f "$out" ]]; then
  have=$(sha256_of "$out")
  if [[ "$have" == "$TEXT_ALICE_SHA256" ]]; then
    log "text ready: $shown ($TEXT_ALICE_BYTES bytes, already installed, sha256 checked)"
    exit 0
  fi
  log "$shown is wrong (its sha256 is $have, $pins says $TEXT_ALICE_SHA256); removing it and installing it again"
  rm -f -- "$out"
fi

for tool in python3 sha256sum tar tr; do
  command -v "$tool" >/dev/null || die "$tool is missing; run scripts/install_deps.sh"
done

# --- The archive: from the cache, else from PyPI ------------------------------------------------
if [[ -f "$sdist" ]] && ! sha256_ok "$sdist" "$TEXT_SOURCE_SHA256"; then
  log "the cached $(show "$sdist") does not match its pinned sha256; downloading it again"
  rm -f -- "$sdist"
fi
if [[ ! -f "$sdist" ]]; then
  log "downloading the $pkg $ver source distribution from PyPI (7 MB; it holds the text)"
  mkdir -p "$KEYTOK_CACHE"
  tmp_dl=$(mktemp -d "$KEYTOK_CACHE/.download.XXXXXX")
  # --no-binary for this package only: pip keeps the sdist (build tools may come as wheels).
  if ! pip_download "$tmp_dl/dist" "$tmp_dl/pip.log" --no-binary "$pkg" "$pkg==$ver"; then
    why=$(pip_errors "$tmp_dl/pip.log"); why="${why%.}"
    die "$pkg==$ver could not be downloaded: ${why:-pip failed}. To do: check the network access to PyPI (and KEYTOK_PIP_ARGS), or put $TEXT_SOURCE_URL into $(show "$sdist") by hand"
  fi
  got_file=""
  for f in "$tmp_dl/dist/"*.tar.gz; do
    base="${f##*/}"
    [[ -f "$f" && "${base,,}" == "$pkg-$ver.tar.gz" ]] && got_file="$f"
  done
  if [[ -z "$got_file" ]]; then
    left=("$tmp_dl/dist/"*)
    die "pip reported success but left no $pkg-$ver.tar.gz (it left: ${left[*]##*/})"
  fi
  got=$(sha256_of "$got_file")
  if [[ "$got" != "$TEXT_SOURCE_SHA256" ]]; then
    die "the downloaded $pkg-$ver.tar.gz has sha256 $got, but $pins pins $TEXT_SOURCE_SHA256; it was deleted and nothing was installed. Run again; if it repeats, the file on PyPI (or your mirror) differs from the pinned one and the pin needs a review"
  fi
  mv -f -- "$got_file" "$sdist"
  rm -rf -- "$tmp_dl"; tmp_dl=""
fi

# --- Extract, check, normalise, check ----------------------------------------------------------
mkdir -p "$texts"
tmp_raw=$(mktemp "$texts/.alice.txt.raw.XXXXXX")
tar -xzOf "$sdist" "$TEXT_ALICE_MEMBER" > "$tmp_raw" 2>/dev/null \
  || die "$(show "$sdist") has no member $TEXT_ALICE_MEMBER (or tar could not read it); delete the archive and run again"
got=$(sha256_of "$tmp_raw")
[[ "$got" == "$TEXT_ALICE_MEMBER_SHA256" ]] \
  || die "the member $TEXT_ALICE_MEMBER has sha256 $got, but $pins pins $TEXT_ALICE_MEMBER_SHA256 (nothing was installed)"
tmp_out=$(mktemp "$texts/.alice.txt.tmp.XXXXXX")
tr -d '\r\032' < "$tmp_raw" > "$tmp_out"
got=$(sha256_of "$tmp_out")
[[ "$got" == "$TEXT_ALICE_SHA256" ]] \
  || die "the normalised text has sha256 $got, but $pins pins $TEXT_ALICE_SHA256 (nothing was installed)"
chmod "$(printf '%04o' $((0666 & ~0$(umask))))" "$tmp_out"   # mktemp made it private
mv -f -- "$tmp_out" "$out"
tmp_out=""
log "text ready: $shown ($TEXT_ALICE_BYTES bytes; Alice's Adventures in Wonderland, public domain; docs/texts.md)"
