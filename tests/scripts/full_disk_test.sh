#!/usr/bin/env bash
# A full disk while sweep and bench write their results (issue "Hardening": faults). Each
# command writes -o onto a small tmpfs mounted in a private mount namespace (nothing outside the
# test sees it) that fills up after a few rows. Checked, for each command:
#  - it stops with exit 1 and the message that says what happened and that --resume continues;
#  - every row written before is intact (each complete line parses, none is changed later);
#  - after space is freed, --resume finishes the run, and the rows equal those of a run on a
#    disk with room (the same answers, no row lost or repeated).
#   tests/scripts/full_disk_test.sh KEYTOK_BINARY MODEL.gguf
# Needs root, or unprivileged user namespaces, to mount the tmpfs; exits 77 (ctest: skipped)
# saying so when neither is available.
set -euo pipefail
keytok="$1" model="$2"
fail() { echo "FAIL: $*" >&2; exit 1; }

if [[ "${KEYTOK_IN_PRIVATE_MOUNTS:-}" != 1 ]]; then
  export KEYTOK_IN_PRIVATE_MOUNTS=1
  if [[ $(id -u) -eq 0 ]] && unshare --mount --propagation private true 2>/dev/null; then
    exec unshare --mount --propagation private bash "$0" "$@"
  elif unshare --user --map-root-user --mount true 2>/dev/null; then
    exec unshare --user --map-root-user --mount bash "$0" "$@"
  fi
  echo "SKIP: cannot make a private mount namespace (run as root, or enable unprivileged user namespaces)"
  exit 77
fi

work=$(mktemp -d)
disk="$work/disk"
mkdir -p "$disk"
trap 'umount "$disk" 2>/dev/null || true; rm -rf "$work"' EXIT
# 16 pages of 4 KiB; a filler takes 14 of them, so the results file has 8 KiB until it goes.
mount -t tmpfs -o size=64k tmpfs "$disk" || { echo "SKIP: cannot mount a tmpfs here"; exit 77; }

"$keytok" tasks --family copy,count --lengths 2 --per 20 -o "$work/tasks.jsonl" >/dev/null
common=(-m "$model" --tasks "$work/tasks.jsonl" -t 1 --max-tokens 8 --no-auto-calibrate)

# rows_of FILE: each row without its timing, sorted, for comparing runs.
rows_of() {
  python3 - "$1" <<'PY'
import json, sys
lines = open(sys.argv[1], encoding="utf-8").read().splitlines()
rows = [json.loads(l) for l in lines[1:] if l]
for r in rows:
    r.pop("seconds", None); r.pop("wall_ms", None)
print("\n".join(sorted(json.dumps(r, sort_keys=True) for r in rows)))
PY
}

check() {  # check NAME ARGS... : one command on the full disk, then resumed, against a reference
  local name="$1"; shift
  local out="$disk/$name.jsonl" ref="$work/$name-ref.jsonl"
  "$keytok" "$@" "${common[@]}" -o "$ref" >/dev/null 2>"$work/ref.err" \
    || { cat "$work/ref.err" >&2; fail "$name: the reference run failed"; }
  head -c 57344 /dev/zero >"$disk/filler"
  set +e
  "$keytok" "$@" "${common[@]}" -o "$out" >/dev/null 2>"$work/full.err"
  code=$?
  set -e
  [[ $code -eq 1 ]] || { cat "$work/full.err" >&2; fail "$name on a full disk exited $code, expected 1"; }
  grep -q "^keytok $name: error: writing $out failed: No space left on device (disk full?); the rows written before are intact, and --resume continues after them$" "$work/full.err" \
    || { cat "$work/full.err" >&2; fail "$name: not the full-disk message"; }
  # Every complete line is a whole JSON object; at most the last one is cut off.
  python3 - "$out" <<'PY' || fail "$name: a complete line does not parse"
import json, sys
body = open(sys.argv[1], "rb").read()
lines = body.split(b"\n")
for l in lines[:-1]:
    json.loads(l)
assert len(lines) >= 3, "fewer than 2 lines were written before the disk filled"
PY
  local kept; kept=$(python3 -c 'import sys; b=open(sys.argv[1],"rb").read(); print(b.rfind(b"\n")+1)' "$out")
  head -c "$kept" "$out" >"$work/before"
  local n_before; n_before=$(($(wc -l <"$work/before") - 1))
  ((n_before < 40)) || fail "$name: the disk did not fill ($n_before rows)"
  rm "$disk/filler"
  "$keytok" "$@" "${common[@]}" -o "$out" --resume >/dev/null 2>"$work/resume.err" \
    || { cat "$work/resume.err" >&2; fail "$name: --resume after freeing space failed"; }
  cmp -s -n "$kept" "$work/before" "$out" || fail "$name: rows written before the disk filled changed"
  [[ "$(rows_of "$out")" == "$(rows_of "$ref")" ]] || fail "$name: the resumed rows differ from the reference run's"
  echo "$name: the disk filled after $n_before rows; exit 1 with the message; rows intact; --resume completed 40 rows equal to the reference"
  rm -f "$out"
}

check sweep sweep
check bench bench --strategies greedy
echo "PASS"
