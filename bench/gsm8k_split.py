#!/usr/bin/env python3
"""Fixed dev/test splits of GSM8K's training file as keytok task files.

Issues 10 and 13 tune on dev and report test once. The last 24 problems (lines 7450-7473) are
the calibration set of docs/results/calibration.md, so they are never drawn here. Lines are
shuffled with a fixed seed; dev takes the first --dev, test the next --test. Each task keeps
its source line in its id (gsm8k-L<line>), so a split can be traced back and checked for overlap.

    python3 bench/gsm8k_split.py ../shared/data/gsm8k/train.jsonl --out docs/results/data/gsm8k
"""
import argparse
import json
import pathlib
import random
import re

CALIBRATION_FIRST_LINE = 7450  # 1-based; lines from here on are calibration prompts


def answer_of(solution: str) -> str:
    m = re.search(r"####\s*(.+)\s*$", solution)
    if not m:
        raise SystemExit(f"a GSM8K answer without '#### N': {solution[-60:]!r}")
    return m.group(1).replace(",", "").strip()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("train", help="GSM8K train.jsonl")
    ap.add_argument("--out", required=True, help="folder for gsm8k_dev.jsonl and gsm8k_test.jsonl")
    ap.add_argument("--seed", type=int, default=20261201)
    ap.add_argument("--dev", type=int, default=40)
    ap.add_argument("--test", type=int, default=120)
    args = ap.parse_args()

    lines = pathlib.Path(args.train).read_text(encoding="utf-8").splitlines()
    candidates = [i + 1 for i, line in enumerate(lines) if line.strip() and i + 1 < CALIBRATION_FIRST_LINE]
    random.Random(args.seed).shuffle(candidates)
    if args.dev + args.test > len(candidates):
        raise SystemExit(f"asked for {args.dev + args.test} problems; only {len(candidates)} are available")
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    splits = {"dev": candidates[: args.dev], "test": candidates[args.dev : args.dev + args.test]}
    for name, picked in splits.items():
        rows = [json.dumps({"format": "keytok-tasks", "version": 1, "count": len(picked)})]
        for n in picked:
            item = json.loads(lines[n - 1])
            rows.append(json.dumps({"id": f"gsm8k-L{n}", "prompt": item["question"], "answer": answer_of(item["answer"]),
                                    "match": "number", "family": "gsm8k"}, ensure_ascii=False))
        (out / f"gsm8k_{name}.jsonl").write_text("\n".join(rows) + "\n", encoding="utf-8")
        print(f"{name}: {len(picked)} problems -> {out / f'gsm8k_{name}.jsonl'}")


if __name__ == "__main__":
    main()
