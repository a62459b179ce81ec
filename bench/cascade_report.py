#!/usr/bin/env python3
"""The table of docs/results/cascade.md from result files: accuracy with a 95% Wilson interval,
generated tokens, the large model's share of the tokens, wall time, the share of the
small-to-large accuracy gap closed, and exact McNemar tests against the two greedy baselines on
the same problems.

Each argument is LABEL=FILE: a `keytok bench` results file (its header line is skipped) or rows
scored by bench/score_answers. Only problems present in every file are compared.

    python3 bench/cascade_report.py small=greedy05.jsonl large=greedy15.jsonl cascade=c.jsonl \\
        --small small --large large
"""
import argparse
import json
import math


def task_rows(path):
    """The JSON lines of a results file that are task rows (header and a line cut by a kill left out)."""
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                j = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut by a kill
            if "task" in j:
                yield j


def load(path):
    return {j["task"]: j for j in task_rows(path)}


def wilson(k, n, z=1.959963984540054):
    if n == 0:
        return 0.0, 0.0
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return max(0.0, c - h), min(1.0, c + h)


def mcnemar(a, b):
    """Exact two-sided McNemar p-value for paired outcomes: (b right, a wrong) vs the reverse."""
    gain = sum(1 for x, y in zip(a, b) if y and not x)
    loss = sum(1 for x, y in zip(a, b) if x and not y)
    n = gain + loss
    if n == 0:
        return gain, loss, 1.0
    k = min(gain, loss)
    p = sum(math.comb(n, i) for i in range(k + 1)) / 2 ** n
    return gain, loss, min(1.0, 2 * p)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", help="LABEL=FILE")
    ap.add_argument("--small", help="label of the small model's greedy run")
    ap.add_argument("--large", help="label of the large model's greedy run")
    args = ap.parse_args()
    runs = {}
    for item in args.runs:
        label, path = item.split("=", 1)
        runs[label] = load(path)
    common = sorted(set.intersection(*(set(r) for r in runs.values())))
    print(f"{len(common)} problems in every run\n")
    acc = {label: sum(bool(r[t]["correct"]) for t in common) / max(1, len(common)) for label, r in runs.items()}
    head = "| run | n | accuracy | 95% Wilson | tokens/problem | large-model share | s/problem |"
    if args.small and args.large:
        head += " gap closed | vs small (gain/loss, p) | vs large (gain/loss, p) |"
    print(head)
    print("|" + "|".join(["---"] * (head.count("|") - 1)) + "|")
    for label, r in runs.items():
        rows = [r[t] for t in common]
        n = len(rows)
        k = sum(bool(x["correct"]) for x in rows)
        lo, hi = wilson(k, n)
        tokens = sum(x.get("generated_tokens", 0) for x in rows)
        large = sum(x.get("large_decisions", 0) for x in rows)
        share = f"{100 * large / tokens:.1f}%" if "large_decisions" in rows[0] else "-"
        wall = sum(x.get("wall_ms", 0.0) for x in rows) / max(1, n) / 1000
        line = (f"| {label} | {n} | {100 * k / max(1, n):.1f}% | {100 * lo:.1f}-{100 * hi:.1f}% | "
                f"{tokens / max(1, n):.1f} | {share} | {wall:.1f} |")
        if args.small and args.large:
            gap = acc[args.large] - acc[args.small]
            closed = f"{100 * (acc[label] - acc[args.small]) / gap:.0f}%" if gap > 0 else "-"
            cells = []
            for base in (args.small, args.large):
                g, l, p = mcnemar([bool(runs[base][t]["correct"]) for t in common], [bool(x["correct"]) for x in rows])
                cells.append("-" if base == label else f"+{g}/-{l}, p={p:.3f}")
            line += f" {closed} | {cells[0]} | {cells[1]} |"
        print(line)


if __name__ == "__main__":
    main()
