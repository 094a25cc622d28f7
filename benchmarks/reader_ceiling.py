"""How well does a careful reader of the annotation guide code the 120 development passages?

    python benchmarks/reader_ceiling.py

`benchmarks/data/dev-blind-codings.jsonl` holds three blind codings of the 120 expert-coded
development passages (`../shared/data/dev_passages.jsonl`; `{"line", "coder", "codes"}`, lines
counted from 1). Each coder was a separate session of the AI assistant that wrote and coded the
project's training passages, given the development data's annotation guide and the passages'
text alone, in its own shuffled order, never their codes. Prints each coder's and their
majority's (codes at least two of three gave) macro-F1 / mean kappa against the development
codes, on the selection half (even lines), the report half (odd lines) and all 120, with the
metrics `narratives evaluate` uses, and the coders' pairwise kappa.

It says how closely the reading that coded the written training passages matches the development
coders' reading (docs/coding-quality.md, "How far a reader gets").
"""

from __future__ import annotations

import itertools
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from narratives.codebook import load_codebook
from narratives.evaluate import coding_report
from narratives.examples import load_examples
from narratives.metrics import cohen_kappa

ROOT = Path(__file__).resolve().parents[1]
DEV = ROOT.parent / "shared" / "data" / "dev_passages.jsonl"
CODINGS = ROOT / "benchmarks/data/dev-blind-codings.jsonl"
CODEBOOK = ROOT / "data/codebooks/systems-leadership.yaml"


def main() -> None:
    codebook = load_codebook(CODEBOOK)
    examples, _ = load_examples(DEV, codebook)
    ids = codebook.ids
    codings: dict[str, np.ndarray] = defaultdict(lambda: np.zeros((len(examples), len(ids)), bool))
    for row in map(json.loads, CODINGS.open()):
        codings[row["coder"]][row["line"] - 1] = [c in row["codes"] for c in ids]
    coders = sorted(codings)
    decisions = dict(codings)
    decisions["majority"] = sum(codings[c].astype(int) for c in coders) >= 2

    print(f"{len(examples)} development passages, {len(coders)} blind codings each")
    for name, decided in decisions.items():
        cells = []
        for part, rows in (("selection", slice(0, None, 2)), ("report", slice(1, None, 2))):
            r = coding_report(codebook, examples[rows], decided[rows], 0)
            cells.append(f"{part} {r['macro_f1']:.3f} / {r['mean_kappa']:.3f}")
        r = coding_report(codebook, examples, decided, 0)
        per_code = "  ".join(f"{c} {s['f1']:.2f}" for c, s in r["per_code"].items())
        print(
            f"{name:<9} {'   '.join(cells)}   all {r['macro_f1']:.3f} / {r['mean_kappa']:.3f}"
            f"   F1: {per_code}   codes a passage {decided.sum(1).mean():.2f}"
        )
    gold = sum(len(e.codes) for e in examples) / len(examples)
    print(f"development codes a passage {gold:.2f}")
    for a, b in itertools.combinations(coders, 2):
        kappa = np.mean([cohen_kappa(codings[a][:, j], codings[b][:, j]) for j in range(len(ids))])
        print(f"coders {a} and {b}: mean pairwise kappa {kappa:.3f}")


if __name__ == "__main__":
    main()
