#!/usr/bin/env python3
"""Where a branch run's tokens go, from the search trees its bench rows keep (issue 13: "if branch
misses, find out why from the search trees before changing it").

For each results file: how many paths and forks a problem gets; where forks fall (the share of
the greedy path's length before them, and what the alternative's text is: a line break or
space, punctuation or markup, a digit, or a word); how many tokens the children spend against
the greedy path; how children end; how often a child's answer repeats its parent's; and what the
vote did against the greedy path's own answer (right to wrong and wrong to right).

    python3 bench/tree_report.py dev_branch.jsonl [more.jsonl ...]
"""
import json
import statistics
import sys


def same(a, b):
    if a is None or b is None:
        return False
    try:
        return abs(float(a) - float(b)) < 1e-9
    except ValueError:
        return a.strip() == b.strip()


def kind_of(piece):
    if piece is None:
        return "unknown (a tree from before pieces were kept)"
    s = piece.strip()
    if s == "":
        return "line break or space"
    if any(c.isdigit() for c in s):
        return "digit"
    if all(not c.isalnum() for c in s):
        return "punctuation or markup"
    return "word"


def quartiles(xs):
    if not xs:
        return "-"
    if len(xs) < 4:
        return ", ".join(f"{x:.2f}" for x in sorted(xs))
    q = statistics.quantiles(xs, n=4)
    return f"{q[0]:.2f} / {q[1]:.2f} / {q[2]:.2f}"


def report(path):
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                j = json.loads(line)
            except json.JSONDecodeError:
                continue
            if "task" in j and j.get("tree"):
                rows.append(j)
    print(f"## {path}: {len(rows)} rows with a tree\n")
    if not rows:
        return
    n_paths, n_forks, root_tokens, child_tokens = [], [], 0, 0
    fork_at, kinds, ends = [], {}, {}
    repeats = differs = child_right_parent_wrong = child_wrong_parent_right = 0
    gained = lost = 0
    for row in rows:
        tree = json.loads(row["tree"]) if isinstance(row["tree"], str) else row["tree"]
        paths = tree["paths"]
        n_paths.append(len(paths))
        root = paths[0]
        root_len = max(1, root["n_tokens"])
        taken = 0
        for fk in tree.get("forks", []):
            for alt in fk["alternatives"]:
                if alt["path"] < 0 or alt["path"] == fk["path"]:
                    continue
                taken += 1
                fork_at.append(fk["index"] / root_len)
                k = kind_of(alt.get("piece"))
                kinds[k] = kinds.get(k, 0) + 1
        n_forks.append(taken)
        for p in paths:
            if p["parent"] < 0:
                root_tokens += p["n_own_tokens"]
                continue
            child_tokens += p["n_own_tokens"]
            ends[p["stop_reason"]] = ends.get(p["stop_reason"], 0) + 1
            parent = paths[p["parent"]]
            if p["votes"] and p["answer"] is not None:
                if same(p["answer"], parent["answer"]):
                    repeats += 1
                else:
                    differs += 1
                    right, parent_right = same(p["answer"], row["expected"]), same(parent["answer"], row["expected"])
                    child_right_parent_wrong += right and not parent_right
                    child_wrong_parent_right += parent_right and not right
        root_right = same(root["answer"], row["expected"])
        gained += bool(row["correct"]) and not root_right
        lost += root_right and not bool(row["correct"])
    total = root_tokens + child_tokens
    children = sum(ends.values())
    print(f"- paths per problem: mean {statistics.mean(n_paths):.2f}; forks taken per problem: mean "
          f"{statistics.mean(n_forks):.2f}")
    print(f"- tokens: {total / len(rows):.0f} per problem, of which the greedy path {root_tokens / len(rows):.0f} and "
          f"the children {child_tokens / len(rows):.0f} ({100 * child_tokens / max(1, total):.0f}%)")
    print(f"- where forks fall, as a share of the greedy path's length (quartiles): {quartiles(fork_at)}; "
          f"in its first 10%: {sum(x < 0.1 for x in fork_at)} of {len(fork_at)}")
    print("- the alternative taken at a fork: " +
          ", ".join(f"{k} {v} ({100 * v / max(1, len(fork_at)):.0f}%)" for k, v in sorted(kinds.items(), key=lambda kv: -kv[1])))
    print("- how children end: " + ", ".join(f"{k} {v}" for k, v in sorted(ends.items(), key=lambda kv: -kv[1])) +
          f" (of {children})")
    print(f"- voting children with an answer: {repeats} repeat their parent's answer, {differs} differ "
          f"(right where the parent was wrong: {child_right_parent_wrong}; wrong where it was right: "
          f"{child_wrong_parent_right})")
    print(f"- the vote against the greedy path's answer: {gained} wrong to right, {lost} right to wrong\n")


def main():
    if len(sys.argv) < 2 or sys.argv[1] in ("-h", "--help"):
        print(__doc__)
        return 0 if len(sys.argv) >= 2 else 2
    for path in sys.argv[1:]:
        report(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
