#!/usr/bin/env python3
"""Tables for docs/results/kv.md from the files keytok longctx and keytok bench wrote.

    python3 bench/kv_report.py longctx FILE.jsonl [FILE.jsonl ...]
    python3 bench/kv_report.py needle full=needle_full.jsonl window=needle_window.jsonl ...
    python3 bench/kv_report.py bench full=gsm8k_full.jsonl window=gsm8k_window.jsonl ...

longctx: one row per run, with the perplexity increase over `full` (from the same file, or the
first file that holds a full row) and that increase as a share of `window`'s at the same budget.
needle: retrieval accuracy per depth (the task's index mod 5 gives depth 0, 25, 50, 75, 100%;
docs/tasks.md). bench: accuracy with a Wilson interval, mean generated tokens, peak cells, and an
exact McNemar test of each policy against the first one on the tasks both ran.
"""
import json
import math
import sys


def rows_of(path):
    with open(path) as f:
        lines = [json.loads(line) for line in f if line.strip()]
    return lines[0], lines[1:]


def wilson(k, n, z=1.96):
    if n == 0:
        return (0.0, 0.0)
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return (max(0.0, c - h), min(1.0, c + h))


def mcnemar_exact(b, c):
    """Two-sided exact McNemar p-value for b and c discordant pairs."""
    n = b + c
    if n == 0:
        return 1.0
    k = min(b, c)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2 ** n
    return min(1.0, 2 * tail)


def longctx(paths):
    runs = []
    for p in paths:
        header, rows = rows_of(p)
        for r in rows:
            runs.append((p, header, r))
    full = next((r["perplexity"] for _, _, r in runs if r["policy"] == "full"), None)
    window = {r["budget_cells"]: r["perplexity"] for _, _, r in runs if r["policy"] == "window"}
    print("| policy | budget | cells | window | importance | ppl | ppl after full cache | Δppl vs full | Δ / Δwindow | peak KV MiB | policy cost |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for p, header, r in runs:
        s = header.get("settings", {})
        d = r["perplexity"] - full if full else float("nan")
        dw = window.get(r["budget_cells"])
        share = d / (dw - full) if (full and dw and dw != full and r["policy"] != "full") else float("nan")
        print(f"| {r['policy']} | {r['budget'] or '-'} | {r['budget_cells'] or r['n_ctx']} | "
              f"{r.get('window_cells', 0) or '-'} | {s.get('importance', '')} | {r['perplexity']:.4f} | "
              f"{r['perplexity_after']:.4f} | {d:+.4f} | {share:.2f} | {r['kv_mib_peak']:.1f} | "
              f"{100 * r['policy_cost_fraction']:.2f}% |")


def named(args):
    out = []
    for a in args:
        name, _, path = a.partition("=")
        out.append((name, rows_of(path)[1]))
    return out


def needle(args):
    runs = named(args)
    depths = [0, 25, 50, 75, 100]
    print("| policy | " + " | ".join(f"depth {d}%" for d in depths) + " | all | peak cells |")
    print("|---|" + "---|" * (len(depths) + 2))
    for name, rows in runs:
        by = {d: [0, 0] for d in depths}
        for r in rows:
            idx = int(r["task"].rsplit("-", 1)[1])
            d = depths[idx % 5]
            by[d][0] += r["correct"]
            by[d][1] += 1
        k = sum(v[0] for v in by.values())
        n = sum(v[1] for v in by.values())
        peak = max((r.get("peak_cells", 0) for r in rows), default=0)
        cells = " | ".join(f"{by[d][0]}/{by[d][1]}" for d in depths)
        print(f"| {name} | {cells} | {k}/{n} | {peak or '-'} |")


def bench(args):
    runs = named(args)
    base_name, base_rows = runs[0]
    base = {r["task"]: r["correct"] for r in base_rows}
    print(f"| policy | tasks | accuracy | 95% Wilson | mean generated tokens | peak cells | vs {base_name}: gained / lost | McNemar p |")
    print("|---|---|---|---|---|---|---|---|")
    for name, rows in runs:
        n = len(rows)
        k = sum(r["correct"] for r in rows)
        lo, hi = wilson(k, n)
        toks = sum(r["generated_tokens"] for r in rows) / max(1, n)
        peak = max((r.get("peak_cells", 0) for r in rows), default=0)
        b = sum(1 for r in rows if r["task"] in base and r["correct"] and not base[r["task"]])
        c = sum(1 for r in rows if r["task"] in base and not r["correct"] and base[r["task"]])
        print(f"| {name} | {n} | {100 * k / max(1, n):.0f}% | {100 * lo:.0f}-{100 * hi:.0f}% | {toks:.0f} | "
              f"{peak or '-'} | {b} / {c} | {mcnemar_exact(b, c):.3f} |")


if __name__ == "__main__":
    if len(sys.argv) < 3 or sys.argv[1] not in ("longctx", "needle", "bench"):
        sys.exit(__doc__)
    {"longctx": longctx, "needle": needle, "bench": bench}[sys.argv[1]](sys.argv[2:])
