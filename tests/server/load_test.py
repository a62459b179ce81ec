"""A load test of keytok serve on loopback: 8 concurrent streaming clients for a bounded time.

Label `slow` (left out of scripts/test; `scripts/test -L slow` and CI run it). The clients mix
greedy completions, greedy chat, sampled chat and key-token branching (`"keytok": {"strategy":
"branch"}`), each with a modest max_tokens, and start a new request as soon as one ends, until
the time is up (KEYTOK_LOAD_SECONDS, default 300). The server runs with --parallel 8, so all
eight are admitted at once and a 429 would be a failure.

Asserted: zero failed requests (every one 200, well-formed SSE ending in [DONE], one finish
reason, no error event, a usage chunk, a token in the stream, max_tokens reached when the finish
is "length"), the server's own count of them, and no leak: the server's resident memory (VmRSS)
as the time runs out, still under the same load, is within 5% of the one after the first minute
(after the first fifth, for a run shorter than five minutes). Printed (and written to KEYTOK_LOAD_REPORT when set) as
one JSON line: requests completed, p50/p99 of the time to the first token and to the last byte,
tokens/s, and the two RSS readings. Timings are reported, never asserted.

    KEYTOK_LOAD_SECONDS=30 KEYTOK_BINARY=build/bin/keytok \
        KEYTOK_TEST_MODEL=models/SmolLM2-135M-Instruct.Q4_1.gguf \
        PYTHONPATH=tests/server build/venv/bin/python tests/server/load_test.py
"""
import http.client
import json
import os
import platform
import threading
import time
import unittest

from api_test import COUNT_PROMPT, sse_payloads, start_server

CLIENTS = 8
SECONDS = float(os.environ.get("KEYTOK_LOAD_SECONDS", "300"))
RSS_TOLERANCE = 0.05

BRANCH_QUESTION = [{"role": "user", "content": "What is 7 times 6? Answer with a number."}]
# One request kind per client in turn: (name, path, body). Streamed, with the usage chunk.
KINDS = [
    ("greedy", "/v1/completions", dict(prompt=COUNT_PROMPT, max_tokens=48, temperature=0)),
    ("branch", "/v1/chat/completions",
     dict(messages=BRANCH_QUESTION, max_tokens=32, temperature=0,
          keytok={"strategy": "branch", "max-paths": 4, "max-live": 2})),
    ("greedy_chat", "/v1/chat/completions",
     dict(messages=[{"role": "user", "content": "Name three primary colors."}], max_tokens=48, temperature=0)),
    ("sample", "/v1/completions", dict(prompt="Once upon a time", max_tokens=48, temperature=0.8)),
]


def vm_rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS in /proc/{pid}/status")


def percentile(values, p):
    """Nearest-rank percentile (p in 0..100) of a non-empty list."""
    s = sorted(values)
    return s[max(0, min(len(s) - 1, -(-p * len(s) // 100) - 1))]


def has_token(chunks):
    """Whether a chunk carries generated text: a content delta, or a keytok token event (a branch
    request's text comes only after the vote; its token events stream live)."""
    for c in chunks:
        for ch in c.get("choices", []):
            if (ch.get("delta", {}).get("content") if "delta" in ch else ch.get("text")):
                return True
        if any(e.get("type") == "token" for e in c.get("keytok", {}).get("events", [])):
            return True
    return False


def run_request(port, kind, seed):
    """Sends one streamed request and reads it to the end. Returns a record with the timings,
    or an `error` string saying what was wrong."""
    name, path, body = kind
    body = dict(body, stream=True, stream_options={"include_usage": True})
    if body.get("temperature"):
        body["seed"] = seed
    rec = {"kind": name}
    t0 = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    try:
        conn.request("POST", path, body=json.dumps(body), headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        rec["status"] = resp.status
        if resp.status != 200:
            rec["error"] = f"HTTP {resp.status}: {resp.read()[:300]!r}"
            return rec
        raw, ttft = b"", None
        while True:
            line = resp.readline()
            if not line:
                break
            raw += line
            if ttft is None and line.startswith(b"data: {") and has_token([json.loads(line[6:])]):
                ttft = time.monotonic() - t0
        rec["ttlb"] = time.monotonic() - t0
        rec["ttft"] = ttft
    except (OSError, http.client.HTTPException) as e:
        rec["error"] = repr(e)
        return rec
    finally:
        conn.close()
    try:
        chunks = sse_payloads(unittest.TestCase(), raw)  # its asserts raise AssertionError
    except AssertionError as e:
        rec["error"] = f"bad SSE: {e}"
        return rec
    errors = [c["error"] for c in chunks if "error" in c]
    reasons = [ch["finish_reason"] for c in chunks for ch in c.get("choices", []) if ch.get("finish_reason")]
    usage = chunks[-1].get("usage") if chunks else None
    if errors:
        rec["error"] = f"error event: {errors[0]}"
    elif len(reasons) != 1 or reasons[0] not in ("length", "stop"):
        rec["error"] = f"finish reasons {reasons}"
    elif not usage or usage["completion_tokens"] < 1:
        rec["error"] = f"usage {usage}"
    elif ttft is None:
        rec["error"] = "no token in the stream"
    elif name != "branch" and reasons[0] == "length" and usage["completion_tokens"] != body["max_tokens"]:
        rec["error"] = f"finish length after {usage['completion_tokens']} of {body['max_tokens']} tokens"
    else:
        rec["tokens"] = usage["completion_tokens"]
    return rec


class LoadTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # --parallel 8: every client decodes at once; --queue 8 as slack (a 429 would be a failure).
        cls.srv = start_server(cls, "--parallel", str(CLIENTS), "--queue", str(CLIENTS))

    def wait_metric(self, name, value, seconds=10.0):
        deadline = time.time() + seconds
        while self.srv.metrics()[name] != value and time.time() < deadline:
            time.sleep(0.05)
        return self.srv.metrics()[name]

    def test_eight_streaming_clients(self):
        srv = self.srv
        pid = srv.proc.pid
        rss_at = min(60.0, SECONDS / 5)
        records, lock = [], threading.Lock()
        start = time.monotonic()
        deadline = start + SECONDS

        def client(i):
            n = 0
            while time.monotonic() < deadline:
                rec = run_request(srv.port, KINDS[(i + n) % len(KINDS)], seed=1000 * i + n)
                rec["client"] = i
                with lock:
                    records.append(rec)
                n += 1

        before = srv.metrics()
        threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(CLIENTS)]
        for t in threads:
            t.start()
        # Both readings under the same load: after the first minute, and as the time runs out.
        time.sleep(max(0.0, start + rss_at - time.monotonic()))
        rss_first = vm_rss_kib(pid)
        time.sleep(max(0.0, deadline - time.monotonic()))
        rss_end = vm_rss_kib(pid)
        for t in threads:
            t.join(600)
        self.assertFalse(any(t.is_alive() for t in threads), "a client is still waiting for its response")
        elapsed = time.monotonic() - start
        rss_idle = vm_rss_kib(pid)  # every request's sequences released
        # The status counter is bumped by the access logger, just after a response is sent.
        ok_before = before['keytok_requests_total{outcome="ok"}']
        self.wait_metric('keytok_requests_total{outcome="ok"}', ok_before + len(records))
        after = srv.metrics()

        ok = [r for r in records if "error" not in r]
        failed = [r for r in records if "error" in r]
        tokens = sum(r["tokens"] for r in ok)
        by_kind = {k[0]: sum(1 for r in ok if r["kind"] == k[0]) for k in KINDS}
        summary = {
            "test": "load_test",
            "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "machine": platform.machine(),
            "cpu": cpu_model(),
            "clients": CLIENTS,
            "seconds": round(elapsed, 1),
            "requests_completed": len(ok),
            "requests_failed": len(failed),
            "requests_by_kind": by_kind,
            "status_429": sum(1 for r in records if r.get("status") == 429),
            "ttft_p50_s": round(percentile([r["ttft"] for r in ok], 50), 3) if ok else None,
            "ttft_p99_s": round(percentile([r["ttft"] for r in ok], 99), 3) if ok else None,
            "ttlb_p50_s": round(percentile([r["ttlb"] for r in ok], 50), 3) if ok else None,
            "ttlb_p99_s": round(percentile([r["ttlb"] for r in ok], 99), 3) if ok else None,
            "completion_tokens": tokens,
            "tokens_per_s": round(tokens / elapsed, 1),
            "decoded_tokens_per_s": round((after["keytok_decoded_tokens_total"]
                                           - before["keytok_decoded_tokens_total"]) / elapsed, 1),
            "decode_calls": int(after["keytok_decode_calls_total"] - before["keytok_decode_calls_total"]),
            "rss_kib_at_s": round(rss_at, 1),
            "rss_kib_first": rss_first,
            "rss_kib_end": rss_end,
            "rss_change": round(rss_end / rss_first - 1, 4),
            "rss_kib_idle_after": rss_idle,
        }
        line = json.dumps(summary)
        print("\n" + line)
        if os.environ.get("KEYTOK_LOAD_REPORT"):
            with open(os.environ["KEYTOK_LOAD_REPORT"], "w") as f:
                f.write(line + "\n")

        self.assertEqual(failed[:5], [], f"{len(failed)} of {len(records)} requests failed")
        self.assertTrue(all(n > 0 for n in by_kind.values()), by_kind)
        # The server saw them all as ok (its access logger counts after the response is sent).
        self.assertEqual(after['keytok_requests_total{outcome="ok"}'] - ok_before, len(records))
        for name in ("keytok_requests_running", "keytok_queue_depth", "keytok_kv_sequences_in_use",
                     "keytok_kv_positions_held"):
            self.assertEqual(after[name], 0, name)
        self.assertLessEqual(abs(rss_end - rss_first), RSS_TOLERANCE * rss_first,
                             f"resident memory went from {rss_first} KiB at {rss_at:.0f} s to {rss_end} KiB")


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


if __name__ == "__main__":
    unittest.main()
