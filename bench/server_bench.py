#!/usr/bin/env python3
"""keytok serve against llama-server, side by side: throughput and latency of streaming clients.

Both servers run the same model with the same threads, parallel slots and context, one at a time
(never both at once, on a 2-core machine), at each concurrency in turn. Each of C clients sends R
streaming greedy /v1/completions requests back to back; the script measures

  throughput   generated tokens (usage.completion_tokens, every path's) of all clients / wall
               time of the round
  TTFT         request sent -> first content chunk, median over requests (for a keytok
               strategy with several paths: the answer, which comes after the vote)
  inter-token  gap between content chunks of one request, median over all gaps

and prints one Markdown table with the ratio keytok / llama-server (> 1: keytok is faster). With
--branch it also times keytok `branch` requests (keytok only: llama-server has no such thing).

    python3 bench/server_bench.py --build build --model models/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf

llama-server comes from the pinned llama.cpp: configure with -DKEYTOK_LLAMA_SERVER=ON and build
`--target llama-server` (the script does the build when the binary is missing and the build
folder is configured for it). Results: docs/results/server.md.
"""
import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time

PROMPTS = [
    "Once upon a time, in a small village by the sea, there lived an old lighthouse keeper who",
    "The history of the printing press begins in the fifteenth century, when",
    "def fibonacci(n):\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n",
    "Here is a detailed recipe for baking bread at home. First,",
    "The three laws of thermodynamics can be explained simply as follows.",
    "Dear diary, today was the strangest day of my life because",
    "In computer science, a hash table is a data structure that",
    "The mountain expedition started at dawn. The climbers",
]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(port, proc, timeout=600):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", "/health")
            r = c.getresponse()
            r.read()
            if r.status == 200:
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise RuntimeError("server not ready")


def stream_request(port, prompt, max_tokens, extra=None):
    """One streaming completion; returns (ttft_s, gaps_s list, n_tokens). n_tokens is the usage's
    completion_tokens (every path's tokens for a keytok strategy), else the content chunks."""
    body = {"prompt": prompt, "max_tokens": max_tokens, "temperature": 0, "stream": True,
            "stream_options": {"include_usage": True}}
    body.update(extra or {})
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    t0 = time.perf_counter()
    c.request("POST", "/v1/completions", json.dumps(body), {"Content-Type": "application/json"})
    r = c.getresponse()
    if r.status != 200:
        raise RuntimeError(f"HTTP {r.status}: {r.read()[:300]!r}")
    ttft, last, gaps, n, usage = None, None, [], 0, None
    for raw in r:
        line = raw.decode("utf-8", "replace").strip()
        if not line.startswith("data: "):
            continue
        data = line[6:]
        if data == "[DONE]":
            break
        chunk = json.loads(data)
        if chunk.get("usage"):
            usage = chunk["usage"]["completion_tokens"]
        choices = chunk.get("choices") or []
        if not choices or not choices[0].get("text"):
            continue
        now = time.perf_counter()
        if ttft is None:
            ttft = now - t0
        else:
            gaps.append(now - last)
        last = now
        n += 1
    c.close()
    return ttft if ttft is not None else float("nan"), gaps, usage if usage is not None else n


def round_of(port, clients, requests, max_tokens, extra=None):
    results, errors = [], []

    def client(i):
        for j in range(requests):
            try:
                results.append(stream_request(port, PROMPTS[(i * requests + j) % len(PROMPTS)], max_tokens, extra))
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(str(e))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    if errors:
        raise RuntimeError(f"{len(errors)} failed requests, e.g. {errors[0]}")
    tokens = sum(r[2] for r in results)
    gaps = [g for r in results for g in r[1]]
    return {
        "clients": clients,
        "requests": len(results),
        "tokens": tokens,
        "wall_s": wall,
        "tokens_per_s": tokens / wall,
        "ttft_ms": 1000 * statistics.median(r[0] for r in results),
        "itl_ms": 1000 * statistics.median(gaps) if gaps else float("nan"),
    }


def start(cmd, port):
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_ready(port, proc)
    return proc


def stop(proc):
    proc.terminate()
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap.add_argument("--build", default=os.path.join(root, "build"))
    ap.add_argument("--model", default=os.path.join(root, "models", "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--parallel", type=int, default=8, help="slots: keytok --parallel, llama-server -np")
    ap.add_argument("--ctx", type=int, default=4096, help="KV cells shared by all slots")
    ap.add_argument("--clients", default="1,4,8")
    ap.add_argument("--requests", type=int, default=2, help="requests per client per round")
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--branch", action="store_true", help="also time keytok branch requests")
    ap.add_argument("--json", help="write the rows here")
    a = ap.parse_args()

    keytok = os.path.join(a.build, "bin", "keytok")
    llama = os.path.join(a.build, "bin", "llama-server")
    if not os.path.exists(llama):
        subprocess.run(["cmake", "--build", a.build, "--target", "llama-server"], check=True)
    clients = [int(c) for c in a.clients.split(",")]
    rows = []
    for c in clients:
        for name in ("keytok", "llama-server"):
            port = free_port()
            if name == "keytok":
                cmd = [keytok, "serve", "-m", a.model, "--port", str(port), "--threads", str(a.threads),
                       "--parallel", str(a.parallel), "--ctx", str(a.ctx), "--no-auto-calibrate",
                       "--queue", "64"]
            else:
                cmd = [llama, "-m", a.model, "--port", str(port), "-t", str(a.threads), "-tb", str(a.threads),
                       "-np", str(a.parallel), "-c", str(a.ctx), "--kv-unified", "--no-webui", "-fa", "off"]
            proc = start(cmd, port)
            try:
                # llama-server would otherwise reuse a slot's KV for a prompt it saw before
                # (cache_prompt); keytok prefills every request, so compare like with like.
                extra = {"cache_prompt": False} if name == "llama-server" else None
                round_of(port, 1, 1, 8, extra)  # warm-up
                row = round_of(port, c, a.requests, a.max_tokens, extra)
                row["server"] = name
                rows.append(row)
                print(json.dumps(row), file=sys.stderr)
                if name == "keytok" and a.branch:
                    b = round_of(port, c, a.requests, a.max_tokens, {"keytok": {"strategy": "branch"}})
                    b["server"] = "keytok branch"
                    rows.append(b)
                    print(json.dumps(b), file=sys.stderr)
            finally:
                stop(proc)
    print("| clients | server | requests | tokens | tokens/s | ratio | TTFT ms (median) | inter-token ms (median) |")
    print("|---|---|---|---|---|---|---|---|")
    for c in clients:
        base = next(r for r in rows if r["clients"] == c and r["server"] == "llama-server")
        for r in (r for r in rows if r["clients"] == c):
            ratio = r["tokens_per_s"] / base["tokens_per_s"]
            print(f"| {c} | {r['server']} | {r['requests']} | {r['tokens']} | {r['tokens_per_s']:.1f} | "
                  f"{ratio:.2f} | {r['ttft_ms']:.0f} | {r['itl_ms']:.1f} |")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"args": vars(a), "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
