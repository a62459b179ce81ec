#!/usr/bin/env python3
"""Equal-budget table and plot (docs/results/claims.md, section 2): accuracy with a 95% Wilson
interval against mean generated tokens and wall time, and exact McNemar tests against reference
runs on the same problems.

Each argument is LABEL=FILE or LABEL=FILE#KEY=VALUE,...: a `keytok bench` results file (its
header line is skipped), or the rows `revote --rows` writes, picked by their fields (strategy,
rule, first, max_paths, stop_agree, grow_from; fields not named must be 0; rule majority
unless named). Only problems present in every run are compared. Rows from revote have no wall
time ("-").

    python3 bench/budget_report.py greedy=g.jsonl sc:8=sc8.jsonl \\
        'sc:4=rows.jsonl#strategy=sc:8,rule=majority,first=4' --ref greedy --ref sc:8 --svg plot.svg
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cascade_report import mcnemar, task_rows, wilson  # noqa: E402

REPLAY_KEYS = ("first", "max_paths", "stop_agree", "grow_from")


def parse_run(item):
    label, _, rest = item.partition("=")
    path, _, query = rest.partition("#")
    if not label or not path:
        sys.exit(f"budget_report: '{item}' is not LABEL=FILE or LABEL=FILE#KEY=VALUE,...")
    want = {}
    for pair in filter(None, query.split(",")):
        key, eq, value = pair.partition("=")
        if not eq:
            sys.exit(f"budget_report: '{pair}' in '{item}' is not KEY=VALUE")
        want[key] = value
    return label, path, want


def load(path, want):
    """Rows by task: bench rows as they are, revote rows that match `want`."""
    rows = {}
    for j in task_rows(path):
        if "rule" in j and "first" in j:  # a revote row
            fields = {k: str(j.get(k, 0)) for k in ("strategy", "rule", *REPLAY_KEYS)}  # rows before --grow lack it
            if any(fields.get(k) != v for k, v in want.items()):
                continue
            if any(k not in want and fields[k] != "0" for k in REPLAY_KEYS):
                continue
            if "rule" not in want and fields["rule"] != "majority":
                continue
        elif "strategy" in want and j.get("strategy") != want["strategy"]:
            continue
        if j["task"] in rows:
            sys.exit(f"budget_report: {path} holds task {j['task']} twice for '{want}'; narrow the selection")
        rows[j["task"]] = j
    if not rows:
        sys.exit(f"budget_report: no rows in {path} match {want or 'anything'}")
    return rows


def svg_plot(points, path, title):
    """Accuracy (with its Wilson interval) against mean tokens per problem, log-scaled x."""
    import math
    w, h, left, bottom, top, right = 640, 400, 60, 50, 30, 150
    xs = [p["tokens"] for p in points]
    lo_x, hi_x = math.log10(max(1.0, min(xs) / 1.5)), math.log10(max(xs) * 1.5)
    def x(v):
        return left + (math.log10(max(v, 1.0)) - lo_x) / (hi_x - lo_x) * (w - left - right)
    def y(v):
        return top + (1 - v) * (h - top - bottom)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">',
           f'<text x="{left}" y="18">{title}</text>',
           f'<line x1="{left}" y1="{y(0)}" x2="{w - right}" y2="{y(0)}" stroke="black"/>',
           f'<line x1="{left}" y1="{y(0)}" x2="{left}" y2="{y(1)}" stroke="black"/>']
    for v in (0, 0.25, 0.5, 0.75, 1.0):
        out.append(f'<text x="{left - 8}" y="{y(v) + 4}" text-anchor="end">{int(v * 100)}%</text>')
        out.append(f'<line x1="{left}" y1="{y(v)}" x2="{w - right}" y2="{y(v)}" stroke="#ddd"/>')
    decade = 10 ** math.floor(lo_x)
    while decade <= 10 ** hi_x:
        for m in (1, 2, 5):
            v = decade * m
            if lo_x <= math.log10(v) <= hi_x:
                out.append(f'<text x="{x(v)}" y="{y(0) + 16}" text-anchor="middle">{v:g}</text>')
        decade *= 10
    out.append(f'<text x="{(left + w - right) / 2}" y="{h - 10}" text-anchor="middle">'
               'generated tokens per problem (log scale)</text>')
    for p in points:
        cx = x(p["tokens"])
        out.append(f'<line x1="{cx}" y1="{y(p["lo"])}" x2="{cx}" y2="{y(p["hi"])}" stroke="#888"/>')
        out.append(f'<circle cx="{cx}" cy="{y(p["acc"])}" r="4" fill="#1f77b4"/>')
        out.append(f'<text x="{cx + 6}" y="{y(p["acc"]) - 6}">{p["label"]}</text>')
    out.append("</svg>")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(out) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", help="LABEL=FILE or LABEL=FILE#KEY=VALUE,...")
    ap.add_argument("--ref", action="append", default=[], help="label to test every run against (repeatable)")
    ap.add_argument("--tokens-of", help="label whose mean tokens the 'tokens vs' column divides by")
    ap.add_argument("--svg", help="write the accuracy-against-tokens plot here")
    ap.add_argument("--title", default="accuracy against generated tokens", help="the plot's title")
    args = ap.parse_args()
    runs = {}
    for item in args.runs:
        label, path, want = parse_run(item)
        if label in runs:
            sys.exit(f"budget_report: label '{label}' given twice")
        if not os.path.isfile(path):
            sys.exit(f"budget_report: no results file '{path}' (for '{label}'; a label may not hold '=')")
        runs[label] = load(path, want)
    for ref in args.ref + ([args.tokens_of] if args.tokens_of else []):
        if ref not in runs:
            sys.exit(f"budget_report: --ref/--tokens-of '{ref}' is not one of the labels")
    common = sorted(set.intersection(*(set(r) for r in runs.values())))
    print(f"{len(common)} problems in every run\n")
    mean_tokens = {label: sum(r[t].get("generated_tokens", 0) for t in common) / max(1, len(common))
                   for label, r in runs.items()}
    head = "| run | n | correct | accuracy [95% Wilson] | tokens/problem |"
    if args.tokens_of:
        head += f" tokens vs {args.tokens_of} |"
    head += " s/problem |" + "".join(f" vs {ref} (+gain/-loss, McNemar p) |" for ref in args.ref)
    print(head)
    print("|" + "|".join(["---"] * (head.count("|") - 1)) + "|")
    points = []
    for label, r in runs.items():
        rows = [r[t] for t in common]
        n = len(rows)
        k = sum(bool(x["correct"]) for x in rows)
        lo, hi = wilson(k, n)
        walls = [x["wall_ms"] for x in rows if "wall_ms" in x]
        wall = f"{sum(walls) / len(walls) / 1000:.1f}" if len(walls) == n else "-"
        line = (f"| {label} | {n} | {k} | {100 * k / max(1, n):.1f}% [{100 * lo:.1f}, {100 * hi:.1f}] | "
                f"{mean_tokens[label]:.0f} |")
        if args.tokens_of:
            line += f" {mean_tokens[label] / max(1e-9, mean_tokens[args.tokens_of]):.2f} |"
        line += f" {wall} |"
        for ref in args.ref:
            if ref == label:
                line += " - |"
                continue
            g, l, p = mcnemar([bool(runs[ref][t]["correct"]) for t in common], [bool(x["correct"]) for x in rows])
            line += f" +{g}/-{l}, p={p:.3f} |"
        print(line)
        points.append({"label": label, "tokens": mean_tokens[label], "acc": k / max(1, n), "lo": lo, "hi": hi})
    if args.svg:
        svg_plot(points, args.svg, args.title)


if __name__ == "__main__":
    main()
