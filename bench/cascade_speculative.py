#!/usr/bin/env python3
"""llama.cpp's speculative decoding on GSM8K tasks: the lossless speed reference of
docs/results/cascade.md (issue 10).

llama-server from the pinned llama.cpp runs the target model with a draft model
(--spec-draft-model; both Qwen2.5-Coder, one tokenizer), greedy, one request at a time, prompt
cache off. Each task's chat request is timed end to end; the answer text, token count, wall time
and llama-server's draft statistics go to one JSON line per task (appended and flushed, so a
killed run resumes with --resume). bench/score_answers then judges the texts with keytok's own
matcher. Without --draft the same runs the target alone (llama-server's plain greedy).

    python3 bench/cascade_speculative.py --build build --tasks docs/results/data/gsm8k/gsm8k_test.jsonl \\
        --limit 100 --target models/qwen2.5-coder-1.5b-instruct.gguf \\
        --draft models/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf -o spec.jsonl --resume
    build/bench/score_answers docs/results/data/gsm8k/gsm8k_test.jsonl spec.jsonl > spec_scored.jsonl
"""
import argparse
import http.client
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from server_bench import free_port, wait_ready  # noqa: E402


def load_tasks(path, limit):
    tasks = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            j = json.loads(line)
            if "format" in j:
                continue
            tasks.append(j)
    return tasks[:limit] if limit else tasks


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build")
    ap.add_argument("--tasks", required=True)
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--target", required=True, help="the model whose output counts (e.g. the 1.5B)")
    ap.add_argument("--draft", help="the draft model (e.g. the 0.5B); absent = no speculative decoding")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--ctx", type=int, default=4096)
    ap.add_argument("--max-tokens", type=int, default=512)
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("--resume", action="store_true")
    args = ap.parse_args()

    done = set()
    if os.path.exists(args.output) and os.path.getsize(args.output) > 0:
        if not args.resume:
            sys.exit(f"{args.output} exists; pass --resume to continue it, or remove it")
        with open(args.output, encoding="utf-8") as f:
            for line in f:
                try:
                    done.add(json.loads(line)["task"])
                except (json.JSONDecodeError, KeyError):
                    pass  # a line cut by a kill: that task runs again
    todo = [t for t in load_tasks(args.tasks, args.limit) if t["id"] not in done]
    if not todo:
        print("nothing to do")
        return

    server = os.path.join(args.build, "bin", "llama-server")
    port = free_port()
    cmd = [server, "-m", args.target, "-t", str(args.threads), "-c", str(args.ctx), "--port", str(port),
           "-np", "1", "--no-webui", "--cache-reuse", "0",
           # The chat prompt as keytok builds it (llama_chat_apply_template on the GGUF's template):
           # the Jinja engine would run Qwen2.5's template with its default system message, a
           # different prompt and so different answers.
           "--no-jinja"]
    if args.draft:
        # --spec-type: this llama.cpp loads a draft model without it but drafts nothing.
        cmd += ["--spec-draft-model", args.draft, "--spec-type", "draft-simple", "--threads-draft", str(args.threads)]
    log = open(args.output + ".server.log", "ab")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_ready(port, proc)
        with open(args.output, "a", encoding="utf-8") as out:
            for i, t in enumerate(todo):
                body = {"messages": [{"role": "user", "content": t["prompt"]}], "max_tokens": args.max_tokens,
                        "temperature": 0, "cache_prompt": False}
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=3600)
                t0 = time.perf_counter()
                c.request("POST", "/v1/chat/completions", json.dumps(body), {"Content-Type": "application/json"})
                r = c.getresponse()
                raw = r.read()
                wall_ms = 1000 * (time.perf_counter() - t0)
                c.close()
                if r.status != 200:
                    sys.exit(f"task {t['id']}: HTTP {r.status}: {raw[:300]!r}")
                j = json.loads(raw)
                timings = j.get("timings", {})
                row = {"task": t["id"], "strategy": "speculative" if args.draft else "llama-server greedy",
                       "output": j["choices"][0]["message"]["content"],
                       "finish_reason": j["choices"][0]["finish_reason"],
                       "prompt_tokens": j["usage"]["prompt_tokens"],
                       "generated_tokens": j["usage"]["completion_tokens"], "wall_ms": wall_ms,
                       "draft_n": timings.get("draft_n"), "draft_n_accepted": timings.get("draft_n_accepted")}
                if args.draft and not row["draft_n"]:
                    sys.exit(f"task {t['id']}: llama-server drafted no tokens; speculative decoding is off")
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
                out.flush()
                print(f"{i + 1}/{len(todo)} {t['id']} {wall_ms / 1000:.1f} s", flush=True)
    finally:
        proc.terminate()
        proc.wait(timeout=60)


if __name__ == "__main__":
    main()
