#!/usr/bin/env python3
"""The offline analysis tools of issue 13 on hand-made results files whose every figure is worked
out below: `revote` (re-votes, first-N subsets, early-stop replays, --rows), bench/budget_report.py,
bench/tree_report.py and bench/forks_report.py. REVOTE names the revote binary."""
import json
import os
import subprocess
import sys
import tempfile
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
REVOTE = os.environ.get("REVOTE", os.path.join(ROOT, "build", "bin", "revote"))


def path(pid, answer, n_tokens, parent=-1, fork_index=0, reason="eog", votes=True):
    return {"id": pid, "parent": parent, "fork_index": fork_index, "n_tokens": n_tokens,
            "n_own_tokens": n_tokens - fork_index, "mean_logprob": -0.1, "confidence": 0.9, "answer": answer,
            "stop_reason": reason, "votes": votes}


def row(task, strategy, correct, answer, expected, tokens, tree=None, wall_ms=1000.0):
    r = {"task": task, "strategy": strategy, "correct": correct, "answer": answer, "expected": expected,
         "generated_tokens": tokens, "prompt_tokens": 5, "decode_calls": 10, "peak_live": 1, "forks": 0,
         "paths": len(tree["paths"]) if tree else 1, "wall_ms": wall_ms}
    if tree:
        r["tree"] = tree
    return r


# sc:4 on three tasks (answers 1, 2, 3). Each path ends with "eog", so it finished at the step
# equal to its length.
#  t1: answers 1 2 1 1, lengths 10 5 20 30: majority 1 (right). Two agree at step 20 (paths 0, 2):
#      path 3 is cut to 21 tokens: 10 + 5 + 20 + 21 = 56. First two: 1 and 2, a tie to the first (1).
#  t2: answers 3 2 2 3, lengths 8 9 12 40: 3 and 2 tie, 3 was first (wrong). Two agree on 2 at
#      step 12, path 3 cut to 13: 8 + 9 + 12 + 13 = 42, vote 2 (right). First two: 3 (wrong).
#  t3: answers 3 3 - 4, lengths 6 7 8 9: majority 3 (right). Two agree at step 7: paths 2 and 3
#      cut to 8: 6 + 7 + 8 + 8 = 29. First two: 3 (right), 13 tokens.
SC = [("t1", ["1", "2", "1", "1"], [10, 5, 20, 30], True, "1"),
      ("t2", ["3", "2", "2", "3"], [8, 9, 12, 40], False, "3"),
      ("t3", ["3", "3", None, "4"], [6, 7, 8, 9], True, "3")]
EXPECTED = {"t1": "1", "t2": "2", "t3": "3"}


class Reports(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        d = self.dir.name
        self.tasks = os.path.join(d, "tasks.jsonl")
        with open(self.tasks, "w") as f:
            f.write(json.dumps({"format": "keytok-tasks", "version": 1, "count": 3}) + "\n")
            for t, a in EXPECTED.items():
                f.write(json.dumps({"id": t, "prompt": f"say {a}", "answer": a, "match": "exact"}) + "\n")
        header = json.dumps({"format": "keytok-bench", "version": 1, "model": "M"}) + "\n"
        self.sc = os.path.join(d, "sc.jsonl")
        with open(self.sc, "w") as f:
            f.write(header)
            for t, answers, lengths, correct, voted in SC:
                tree = {"paths": [path(i, a, n) for i, (a, n) in enumerate(zip(answers, lengths))], "forks": []}
                f.write(json.dumps(row(t, "sc:4", correct, voted, EXPECTED[t], sum(lengths), tree, 4000.0)) + "\n")
        self.greedy = os.path.join(d, "greedy.jsonl")
        with open(self.greedy, "w") as f:
            f.write(header)
            for t, right in (("t1", True), ("t2", False), ("t3", False)):
                f.write(json.dumps(row(t, "greedy", right, EXPECTED[t] if right else "9", EXPECTED[t], 10)) + "\n")

    def tearDown(self):
        self.dir.cleanup()

    def run_tool(self, args):
        r = subprocess.run(args, capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout

    def test_revote_replays_subsets_and_early_stops(self):
        rows = os.path.join(self.dir.name, "rows.jsonl")
        out = self.run_tool([REVOTE, self.tasks, self.sc, "--rules", "majority", "--first", "2",
                             "--stop-agree", "2", "--grow", "2", "--rows", rows])
        lines = out.splitlines()
        self.assertEqual(lines[0].split(), ["strategy", "rule", "first", "paths", "stop", "grow", "rows", "correct",
                                            "accuracy", "95%", "Wilson", "tokens/row", "gained", "lost", "inexact"])
        # (first, stop, grow): correct, tokens per row, gained, lost. 2/3 and 3/3 with their Wilson
        # intervals. Growing from 2: t1 (1, 2) and t2 (3, 2) disagree and decode all four (65 and
        # 69 tokens, votes 1 and 3), t3 (3, 3) stops at 13 tokens: (65 + 69 + 13) / 3 = 49.0.
        # Growing is not tried with a stop or from the first 2 of 2.
        self.assertEqual([line.split() for line in lines[1:]], [
            ["sc:4", "majority", "all", "all", "-", "-", "3", "2", "66.7%", "20.8-93.9%", "54.7", "0", "0", "0"],
            ["sc:4", "majority", "all", "all", "-", "2", "3", "2", "66.7%", "20.8-93.9%", "49.0", "0", "0", "0"],
            ["sc:4", "majority", "all", "all", "2", "-", "3", "3", "100.0%", "43.9-100.0%", "42.3", "1", "0", "0"],
            ["sc:4", "majority", "2", "all", "-", "-", "3", "2", "66.7%", "20.8-93.9%", "15.0", "0", "0", "0"],
            ["sc:4", "majority", "2", "all", "2", "-", "3", "2", "66.7%", "20.8-93.9%", "15.0", "0", "0", "0"]])
        with open(rows) as f:
            got = [json.loads(line) for line in f]
        stopped = {r["task"]: (r["answer"], r["correct"], r["generated_tokens"], r["exact"])
                   for r in got if r["first"] == 0 and r["stop_agree"] == 2}
        self.assertEqual(stopped, {"t1": ("1", True, 56, True), "t2": ("2", True, 42, True),
                                   "t3": ("3", True, 29, True)})
        grown = {r["task"]: (r["answer"], r["generated_tokens"], r["grew"]) for r in got if r["grow_from"] == 2}
        self.assertEqual(grown, {"t1": ("1", 65, True), "t2": ("3", 69, True), "t3": ("3", 13, False)})
        self.assertEqual(len(got), 15)

    def test_budget_report_pairs_runs_and_replays(self):
        rows = os.path.join(self.dir.name, "rows.jsonl")
        self.run_tool([REVOTE, self.tasks, self.sc, "--rules", "majority", "--first", "2", "--grow", "2",
                       "--rows", rows])
        svg = os.path.join(self.dir.name, "plot.svg")
        out = self.run_tool([sys.executable, os.path.join(ROOT, "bench", "budget_report.py"),
                             f"greedy={self.greedy}", f"sc:4={self.sc}", f"sc:2={rows}#strategy=sc:4,first=2",
                             f"grown={rows}#grow_from=2", "--ref", "greedy", "--tokens-of", "sc:4", "--svg", svg])
        self.assertEqual(out.splitlines(), [
            "3 problems in every run", "",
            "| run | n | correct | accuracy [95% Wilson] | tokens/problem | tokens vs sc:4 | s/problem |"
            " vs greedy (+gain/-loss, McNemar p) |",
            "|---|---|---|---|---|---|---|---|",
            "| greedy | 3 | 1 | 33.3% [6.1, 79.2] | 10 | 0.18 | 1.0 | - |",
            "| sc:4 | 3 | 2 | 66.7% [20.8, 93.9] | 55 | 1.00 | 4.0 | +1/-0, p=1.000 |",
            "| sc:2 | 3 | 2 | 66.7% [20.8, 93.9] | 15 | 0.27 | - | +1/-0, p=1.000 |",
            "| grown | 3 | 2 | 66.7% [20.8, 93.9] | 49 | 0.90 | - | +1/-0, p=1.000 |"])
        with open(svg) as f:
            plot = f.read()
        self.assertTrue(plot.startswith("<svg"))
        self.assertEqual(plot.count("<circle"), 4)

    def test_budget_report_refuses_a_selection_that_matches_nothing(self):
        r = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "budget_report.py"),
                            f"x={self.sc}#strategy=sc:9"], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stderr, f"budget_report: no rows in {self.sc} match {{'strategy': 'sc:9'}}\n")

    def test_budget_report_names_a_missing_file(self):
        r = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "budget_report.py"),
                            f"T = 0.3={self.sc}"], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stderr, f"budget_report: no results file ' 0.3={self.sc}' (for 'T '; a label may not hold '=')\n")

    def test_tree_report_says_where_the_tokens_go(self):
        # Root (20 tokens, answer 1, right) forks at 2 ("\n", child 1: 18 own tokens, answer 2) and
        # at 10 (" 7", child 2: merged after 5 own tokens, no vote). The vote kept 1.
        tree = {"paths": [path(0, "1", 20), path(1, "2", 20, parent=0, fork_index=2),
                          path(2, None, 15, parent=0, fork_index=10, reason="merged", votes=False)],
                "forks": [{"path": 0, "index": 2, "entropy": 1.0, "margin": 0.1,
                           "alternatives": [{"token": 5, "prob": 0.6, "path": 0, "piece": "The"},
                                            {"token": 6, "prob": 0.3, "path": 1, "piece": "\n"}]},
                          {"path": 0, "index": 10, "entropy": 1.0, "margin": 0.1,
                           "alternatives": [{"token": 7, "prob": 0.6, "path": 0, "piece": " 8"},
                                            {"token": 8, "prob": 0.3, "path": 2, "piece": " 7"}]}]}
        branch = os.path.join(self.dir.name, "branch.jsonl")
        with open(branch, "w") as f:
            f.write(json.dumps({"format": "keytok-bench", "version": 1, "model": "M"}) + "\n")
            f.write(json.dumps(row("t1", "branch", True, "1", "1", 43, tree)) + "\n")
        out = self.run_tool([sys.executable, os.path.join(ROOT, "bench", "tree_report.py"), branch])
        self.assertEqual(out.splitlines(), [
            f"## {branch}: 1 rows with a tree", "",
            "- paths per problem: mean 3.00; forks taken per problem: mean 2.00",
            "- tokens: 43 per problem, of which the greedy path 20 and the children 23 (53%)",
            "- where forks fall, as a share of the greedy path's length (quartiles): 0.10, 0.50; in its first 10%: "
            "0 of 2",
            "- the alternative taken at a fork: line break or space 1 (50%), digit 1 (50%)",
            "- how children end: eog 1, merged 1 (of 2)",
            "- voting children with an answer: 0 repeat their parent's answer, 1 differ (right where the parent "
            "was wrong: 0; wrong where it was right: 1)",
            "- the vote against the greedy path's answer: 0 wrong to right, 0 right to wrong", ""])

    def test_forks_report_reads_forks_for_correctness(self):
        # Task a (expected 3, greedy said 2, cut at the cap): position 0 is flagged and forks, its
        # alternative "y" always answers 3; position 1 is a sampled unflagged position (weight 2)
        # that does not fork; position 2 is uncontested. The noise pass (first task) studies 0 and 1
        # again: 0 no longer forks, 1 does. Fork shares of a's 3 positions: 1/3, then 2/3. Task b
        # has one of its two position rows: cut short.
        def cand(piece, prob, outcomes):
            return {"token": 1, "piece": piece, "prob": prob, "outcomes": outcomes}

        def pos(task, i, studied, key, forks, shift, cands, weight=1.0, pass_=0):
            return {"kind": "position", "task": task, "pass": pass_, "index": i, "studied": studied, "key": key,
                    "forks": forks, "max_shift": shift, "candidates": cands, "weight": weight}

        rows = [{"format": "keytok-forks", "version": 1, "model": "M", "settings": {"noise_tasks": 1}},
                {"kind": "task", "task": "a", "expected": "3", "base_answer": "2", "correct": False,
                 "stop_reason": "length", "tokens": [1, 2, 3], "contested": [True, True, False],
                 "key": [True, False, False], "weights": [1.0, 2.0, 1.0]},
                pos("a", 0, True, True, True, 0.75, [cand("x", 0.6, {"2": 3, "1": 1}), cand("y", 0.4, {"3.0": 4})]),
                pos("a", 1, True, False, False, 0.0, [cand("z", 0.8, {"2": 4}), cand("w", 0.2, {"2": 4})], 2.0),
                pos("a", 2, False, False, False, 0.0, []),
                pos("a", 0, True, True, False, 0.25, [cand("x", 0.6, {"2": 4}), cand("y", 0.4, {"2": 3, "3": 1})],
                    pass_=1),
                pos("a", 1, True, False, True, 0.5, [cand("z", 0.8, {"2": 4}), cand("w", 0.2, {"2": 2, "9": 2})],
                    2.0, pass_=1),
                {"kind": "task", "task": "b", "expected": "5", "base_answer": "5", "correct": True,
                 "stop_reason": "eog", "tokens": [1, 2], "contested": [False, False], "key": [False, False],
                 "weights": [1.0, 1.0]},
                pos("b", 0, False, False, False, 0.0, [])]
        forks = os.path.join(self.dir.name, "forks.jsonl")
        with open(forks, "w") as f:
            f.writelines(json.dumps(r) + "\n" for r in rows)
        out = self.run_tool([sys.executable, os.path.join(ROOT, "bench", "forks_report.py"), forks])
        self.assertEqual(out.splitlines(), [
            f"## {forks}: 1 complete tasks (1 cut short, left out)", "",
            "| task | expected | base answer | base right | answer tokens | contested | flagged | "
            "studied (flagged + sampled) | forks (at flagged) |", "|---|---|---|---|---|---|---|---|---|",
            "| a | 3 | 2 | no | 3 (cut) | 2 | 1 | 2 | 1 (1) |",
            "| all | | | 0 of 1 | 3 | 2 | 1 | 2 (1 + 1) | 1 (1) |", "",
            "Studied positions that fork, unweighted: flagged 1 of 1, sampled unflagged 0 of 1.",
            "Noise pass, 2 positions studied twice: forks in pass 0 1, in pass 1 1, in both 0; weighted fork share "
            "of those tasks' 3 positions 0.333 and 0.667.", "",
            "Forks (pass 0): task, token index (share of the answer), base token, then each alternative with its "
            "probability; q = P(answer differs from the base answer), right = P(expected answer).",
            '- a @0 (0.00, flagged): "x" (q 0.25, right 0.00) against "y" p 0.40 (q 1.00, right 1.00)', "",
            "Completions that reach the expected answer (pass 0, studied positions), on tasks whose base answer is "
            "wrong: with the base token, with an alternative.",
            "- a: 0 of 8, 4 of 8",
            "- all 1: 4 of 16 (0 of 8 with the base token, 4 of 8 with an alternative)", "",
            "Studied positions where an alternative is right at least 0.50 more often than the base token:",
            '- a @0: "x" right 0.00, "y" right 1.00; a fork (max shift 0.75)', ""])


if __name__ == "__main__":
    unittest.main()
