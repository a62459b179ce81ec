#!/usr/bin/env bash
# --rpc (docs/scale-out.md): two ggml-rpc-servers on loopback take the model's layers, and
# `analyze` (scores and generated tokens) and `generate` give what a local run gives. Also: an
# endpoint nobody listens on, and a malformed one, are clear errors (exit 1), not llama.cpp's abort.
#   tests/scripts/rpc_test.sh KEYTOK_BINARY GGML_RPC_SERVER MODEL.gguf
set -euo pipefail
keytok="$1" rpc_server="$2" model="$3"
fail() { echo "FAIL: $*" >&2; exit 1; }
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_listening() {  # wait_listening PORT
  for _ in $(seq 100); do
    python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1",int(sys.argv[1])),1).close()' "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  fail "no rpc-server listening on $1"
}

endpoints=()
for i in 1 2; do
  port=$(free_port)
  "$rpc_server" -H 127.0.0.1 -p "$port" -t 1 >"$work/rpc$i.log" 2>&1 &
  pids+=($!)
  wait_listening "$port"
  endpoints+=("127.0.0.1:$port")
done
rpc="${endpoints[0]},${endpoints[1]}"

prompt="List the first five prime numbers."
analyze=(analyze -m "$model" -t 1 -p "$prompt" --generate 24 --no-auto-calibrate)
"$keytok" "${analyze[@]}" --jsonl "$work/local.jsonl" >/dev/null 2>"$work/err" || { cat "$work/err" >&2; fail "local analyze"; }
"$keytok" "${analyze[@]}" --jsonl "$work/rpc.jsonl" --rpc "$rpc" --verbose >/dev/null 2>"$work/rpc.err" \
  || { tail -20 "$work/rpc.err" >&2; fail "analyze --rpc"; }
# The layers really went to both servers: llama.cpp's log assigns layers to each.
for dev in RPC0 RPC1; do
  grep -q "layer .* assigned to device $dev" "$work/rpc.err" \
    || { grep -i "device" "$work/rpc.err" >&2; fail "no layer on $dev in llama.cpp's log"; }
done
python3 - "$work/local.jsonl" "$work/rpc.jsonl" <<'PY' || fail "analyze --rpc gave other tokens than a local run"
import json, sys
def rows(path):
    return [json.loads(l) for l in open(path, encoding="utf-8").read().splitlines()[1:] if l.strip()]
a, b = rows(sys.argv[1]), rows(sys.argv[2])
assert len(a) == 24, f"{len(a)} token rows, expected 24"
assert [r["token_id"] for r in a] == [r["token_id"] for r in b], "other tokens"
# The same kernels run on the servers' CPUs; only the summation order may differ.
worst = max(abs(x[k] - y[k]) for x, y in zip(a, b) for k in ("logprob", "entropy"))
assert worst < 1e-3, f"scores differ by {worst}"
print(f"analyze: 24 tokens equal, scores within {worst:.2e}")
PY

generate=(generate -m "$model" -t 1 -p "$prompt" --max-tokens 24 --no-auto-calibrate)
local_text=$("$keytok" "${generate[@]}" 2>/dev/null) || fail "local generate"
rpc_text=$("$keytok" "${generate[@]}" --rpc "$rpc" 2>/dev/null) || fail "generate --rpc"
[[ -n "$local_text" && "$local_text" == "$rpc_text" ]] || fail "generate --rpc: '$rpc_text', local: '$local_text'"

# Nobody listens: a clear error, exit 1 (llama.cpp itself would abort).
dead=$(free_port)
set +e
"$keytok" "${generate[@]}" --rpc "127.0.0.1:$dead" >/dev/null 2>"$work/dead.err"; code=$?
set -e
[[ $code -eq 1 ]] || { cat "$work/dead.err" >&2; fail "an unreachable rpc-server: exit $code, expected 1"; }
grep -q "^keytok generate: error: --rpc: cannot reach an rpc-server at 127.0.0.1:$dead (Connection refused); start one there" "$work/dead.err" \
  || { cat "$work/dead.err" >&2; fail "an unreachable rpc-server: not the expected message"; }
set +e
"$keytok" "${generate[@]}" --rpc "localhost" >/dev/null 2>"$work/bad.err"; code=$?
set -e
[[ $code -eq 1 ]] && grep -q "^keytok generate: error: --rpc: 'localhost' is not HOST:PORT" "$work/bad.err" \
  || { cat "$work/bad.err" >&2; fail "a malformed endpoint: exit $code"; }
echo "PASS: analyze and generate through two rpc-servers ($rpc) match a local run"
