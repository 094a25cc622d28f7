"""Do independent coders reproduce the training examples' codes? And does training on theirs help?

    python benchmarks/independent_coding.py [--write DIR]

`data/training/independent-codings.jsonl` holds three independent codings of every line of
`data/training/systems-leadership.jsonl`: each third of the file was coded blind (the text
alone, in a shuffled order, following the development data's annotation guide) by three coders,
named A, B and C plus the third (A0, B0, C0 coded one third; A1, B1, C1 the next). Prints the
coders' pairwise Cohen's kappa per code and that of their majority (codes at least two of three
gave, as for the development passages) against the writers' codes.

With --write DIR it also writes two training files to measure with `narratives train` and
`benchmarks/coding_quality.py`: `majority.jsonl` (the majority's codes instead of the
writers') and `votes.jsonl` (each line's share of the four votes, writer and three coders, per
code, under "votes": soft targets for an experiment, not a format `train` reads).
"""

from __future__ import annotations

import argparse
import itertools
import json
from collections import defaultdict
from pathlib import Path

import numpy as np
from sklearn.metrics import cohen_kappa_score

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "data/training/systems-leadership.jsonl"
CODINGS = ROOT / "data/training/independent-codings.jsonl"
CODES = ["feeling", "perceiving", "thinking", "relating", "being", "doing"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", type=Path, help="folder for majority.jsonl and votes.jsonl")
    args = parser.parse_args()

    examples = [json.loads(line) for line in EXAMPLES.open()]
    by_third: dict[str, dict[str, dict[int, set[str]]]] = defaultdict(dict)
    for row in map(json.loads, CODINGS.open()):
        coder, third = row["coder"][0], row["coder"][1:]
        by_third[third].setdefault(coder, {})[row["line"] - 1] = set(row["codes"])

    pairwise, versus = defaultdict(list), defaultdict(list)
    majority: dict[int, list[str]] = {}
    votes: dict[int, list[float]] = {}
    for coders in by_third.values():
        lines = sorted(coders["A"])
        for a, b in itertools.combinations(coders.values(), 2):
            for code in CODES:
                pairwise[code].append(
                    cohen_kappa_score([code in a[i] for i in lines], [code in b[i] for i in lines])
                )
        for i in lines:
            count = {c: sum(c in coding[i] for coding in coders.values()) for c in CODES}
            majority[i] = [c for c in CODES if count[c] >= 2]
            votes[i] = [(count[c] + (c in examples[i]["codes"])) / 4 for c in CODES]
        for code in CODES:
            versus[code].append(
                cohen_kappa_score(
                    [code in majority[i] for i in lines],
                    [code in examples[i]["codes"] for i in lines],
                )
            )
    assert len(majority) == len(examples), "every line needs three codings"

    def show(name: str, kappas: dict[str, list[float]]) -> None:
        means = {c: float(np.mean(kappas[c])) for c in CODES}
        cells = "  ".join(f"{c} {k:.2f}" for c, k in means.items())
        print(f"{name:<28} mean {np.mean(list(means.values())):.3f}  {cells}")

    print(f"{len(examples)} examples, three independent codings each")
    show("coders, pairwise kappa", pairwise)
    show("majority vs writers, kappa", versus)
    changed = sum(set(majority[i]) != set(e["codes"]) for i, e in enumerate(examples))
    added = sum(len(set(majority[i]) - set(e["codes"])) for i, e in enumerate(examples))
    dropped = sum(len(set(e["codes"]) - set(majority[i])) for i, e in enumerate(examples))
    print(
        f"majority differs from the writers on {changed} examples ({changed / len(examples):.1%}):"
        f" {added} codes added, {dropped} dropped"
    )

    if args.write:
        args.write.mkdir(parents=True, exist_ok=True)
        with (
            (args.write / "majority.jsonl").open("w") as m,
            (args.write / "votes.jsonl").open("w") as v,
        ):
            for i, e in enumerate(examples):
                m.write(json.dumps({**e, "codes": majority[i]}, ensure_ascii=False) + "\n")
                v.write(json.dumps({**e, "votes": votes[i]}, ensure_ascii=False) + "\n")
        print(f"wrote {args.write / 'majority.jsonl'} and {args.write / 'votes.jsonl'}")


if __name__ == "__main__":
    main()
