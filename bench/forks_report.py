#!/usr/bin/env python3
"""Per-problem figures of a `keytok forks` results file that its summary does not give (issue 13,
docs/results/claims.md section 1): what each task's base answer was, where its forks are and
which tokens they swap, and whether forking ever makes a wrong answer right.

The summary answers "how often do positions fork, and which signal predicts it"; a fork is a
change of answer, not a correction. This report reads the rows for correctness: per task, how
many completions reach the expected answer with the base token and with the alternatives, and
the studied positions where an alternative is right at least --right-gain more often than the
base token (forking or not). Pass 0 only; tasks a kill cut short are left out, as by
`keytok forks --report`.

    python3 bench/forks_report.py forks.jsonl [--right-gain 0.5]
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tree_report import same  # noqa: E402  (answers equal as numbers, else as trimmed text)


def load(path):
    """(tasks in file order, pass-0 rows by task, pass-1 rows by (task, index)) of the complete
    tasks, and the count of tasks left out."""
    tasks, rows, noise_tasks = [], [], 0
    with open(path) as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                r = json.loads(line)
            except json.JSONDecodeError:
                if n > 1:
                    break  # the last line of a killed run; `forks --report` leaves it out too
                raise
            if r.get("format") == "keytok-forks":
                noise_tasks = r.get("settings", {}).get("noise_tasks", 0)
            elif r.get("kind") == "task":
                tasks.append(r)
            elif r.get("kind") == "position":
                rows.append(r)
    if not tasks:
        raise ValueError(f"{path} holds no task rows of keytok forks")
    seen = {}
    for r in rows:
        seen[r["task"]] = seen.get(r["task"], 0) + 1
    whole, left_out = [], 0
    for order, t in enumerate(tasks):
        want = len(t["tokens"])
        if order < noise_tasks:
            want += sum(1 for c, w in zip(t["contested"], t["weights"]) if c and w > 0)
        if seen.get(t["task"], 0) == want:
            whole.append(t)
        else:
            left_out += 1
    by_task = {t["task"]: [] for t in whole}
    second = {}
    for r in rows:
        if r["task"] not in by_task:
            continue
        if r["pass"] == 0:
            by_task[r["task"]].append(r)
        else:
            second[(r["task"], r["index"])] = r
    return whole, by_task, second, left_out


def share(c, pred):
    n = sum(c["outcomes"].values())
    return sum(k for a, k in c["outcomes"].items() if pred(a)) / n if n else 0.0


def right_share(c, task):
    """The share of candidate c's completions that reach the task's expected answer."""
    return share(c, lambda a: same(a, task["expected"]))


def report(path, right_gain):
    tasks, by_task, second, left_out = load(path)
    out = [f"## {path}: {len(tasks)} complete tasks" + (f" ({left_out} cut short, left out)" if left_out else ""), ""]
    out += ["| task | expected | base answer | base right | answer tokens | contested | flagged | "
            "studied (flagged + sampled) | forks (at flagged) |", "|---|---|---|---|---|---|---|---|---|"]
    total = {"right": 0, "tokens": 0, "contested": 0, "flagged": 0, "sf": 0, "su": 0, "forks": 0, "fk": 0}
    for t in tasks:
        studied = [r for r in by_task[t["task"]] if r["studied"]]
        forks = [r for r in studied if r["forks"]]
        cut = " (cut)" if t.get("stop_reason") == "length" else ""
        sf = sum(1 for r in studied if r["key"])
        row = {"right": int(t["correct"]), "tokens": len(t["tokens"]), "contested": sum(t["contested"]),
               "flagged": sum(t["key"]), "sf": sf, "su": len(studied) - sf, "forks": len(forks),
               "fk": sum(1 for r in forks if r["key"])}
        for k, v in row.items():
            total[k] += v
        out.append(f"| {t['task']} | {t['expected']} | {t['base_answer']} | {'yes' if t['correct'] else 'no'} | "
                   f"{row['tokens']}{cut} | {row['contested']} | {row['flagged']} | {len(studied)} | "
                   f"{row['forks']} ({row['fk']}) |")
    out.append(f"| all | | | {total['right']} of {len(tasks)} | {total['tokens']:,} | {total['contested']} | "
               f"{total['flagged']} | {total['sf'] + total['su']} ({total['sf']} + {total['su']}) | "
               f"{total['forks']} ({total['fk']}) |")
    out += ["", "Studied positions that fork, unweighted: flagged "
            f"{total['fk']} of {total['sf']}, sampled unflagged {total['forks'] - total['fk']} of {total['su']}."]
    # The noise pass asks which forks repeat: a verdict share that agrees can hide forks that move.
    pairs = [(r, second[(t["task"], r["index"])]) for t in tasks for r in by_task[t["task"]]
             if (t["task"], r["index"]) in second]
    if pairs:
        f0, f1 = sum(a["forks"] for a, _ in pairs), sum(b["forks"] for _, b in pairs)
        both = sum(a["forks"] and b["forks"] for a, b in pairs)
        w0, w1 = sum(a["forks"] * a["weight"] for a, _ in pairs), sum(b["forks"] * b["weight"] for _, b in pairs)
        n = sum(len(t["tokens"]) for t in tasks if any((t["task"], r["index"]) in second for r in by_task[t["task"]]))
        out.append(f"Noise pass, {len(pairs)} positions studied twice: forks in pass 0 {f0}, in pass 1 {f1}, in both "
                   f"{both}; weighted fork share of those tasks' {n} positions {w0 / n:.3f} and {w1 / n:.3f}.")
    out.append("")

    out.append("Forks (pass 0): task, token index (share of the answer), base token, then each alternative "
               "with its probability; q = P(answer differs from the base answer), right = P(expected answer).")
    for t in tasks:
        n = len(t["tokens"])
        for r in by_task[t["task"]]:
            if not (r["studied"] and r["forks"]):
                continue

            def fig(c):
                q = share(c, lambda a: not same(a, t["base_answer"]))
                return f"q {q:.2f}, right {right_share(c, t):.2f}"

            base, alts = r["candidates"][0], r["candidates"][1:]
            flag = ", flagged" if r["key"] else ""
            alt_text = "; ".join(f"{json.dumps(c['piece'])} p {c['prob']:.2f} ({fig(c)})" for c in alts)
            out.append(f"- {t['task']} @{r['index']} ({r['index'] / n:.2f}{flag}): {json.dumps(base['piece'])} "
                       f"({fig(base)}) against {alt_text}")
    out.append("")

    out.append("Completions that reach the expected answer (pass 0, studied positions), on tasks whose base "
               "answer is wrong: with the base token, with an alternative.")
    wrong = [t for t in tasks if not t["correct"]]
    sums = [0, 0, 0, 0]
    for t in wrong:
        c = [0, 0, 0, 0]
        for r in by_task[t["task"]]:
            if not r["studied"]:
                continue
            for i, cand in enumerate(r["candidates"]):
                k = sum(v for a, v in cand["outcomes"].items() if same(a, t["expected"]))
                j = 0 if i == 0 else 2
                c[j] += k
                c[j + 1] += sum(cand["outcomes"].values())
        sums = [a + b for a, b in zip(sums, c)]
        out.append(f"- {t['task']}: {c[0]} of {c[1]}, {c[2]} of {c[3]}")
    out.append(f"- all {len(wrong)}: {sums[0] + sums[2]} of {sums[1] + sums[3]} "
               f"({sums[0]} of {sums[1]} with the base token, {sums[2]} of {sums[3]} with an alternative)")
    out.append("")

    out.append(f"Studied positions where an alternative is right at least {right_gain:.2f} more often than "
               "the base token:")
    found = 0
    for t in tasks:
        for r in by_task[t["task"]]:
            if not r["studied"]:
                continue
            base = right_share(r["candidates"][0], t)
            better = [(c["piece"], right_share(c, t)) for c in r["candidates"][1:]]
            better = [(piece, right) for piece, right in better if right - base >= right_gain - 1e-9]
            if better:
                found += 1
                alts = ", ".join(f"{json.dumps(piece)} right {right:.2f}" for piece, right in better)
                out.append(f"- {t['task']} @{r['index']}: {json.dumps(r['candidates'][0]['piece'])} right "
                           f"{base:.2f}, {alts}; {'a fork' if r['forks'] else 'not a fork'} "
                           f"(max shift {r['max_shift']:.2f})")
    if not found:
        out.append("- none")
    out.append("")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("files", nargs="+", help="keytok forks results (JSON lines)")
    ap.add_argument("--right-gain", type=float, default=0.5,
                    help="list positions where an alternative is right this much more often (default 0.5)")
    a = ap.parse_args()
    for path in a.files:
        try:
            print(report(path, a.right_gain))
        except (OSError, ValueError, KeyError) as e:
            print(f"forks_report: {path}: {e}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
