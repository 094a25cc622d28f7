"""Long passages: scored whole, or by windows the length of the model's training passages?

    python benchmarks/long_passages.py [--model models/systems-leadership]

The pipeline's passages run to 120 words (a long answer, a report paragraph), while coded
examples are often much shorter (the shipped model's: 36 words median). The coded passages in
../shared/data/dev_passages.jsonl (38 words median) are joined k at a time (k = 1, 2, 3; four
shuffles each for k > 1, within each half of the file) into longer passages whose codes are
the union of theirs: what a coder marks in a long passage that shows several behaviours. Each
is then scored
- `whole`: embedded at once (the only way before windows);
- `windows`: by windows of whole sentences of at most the model's `window_words` (the 95th
  percentile of its examples' lengths), each code taking its highest window score; this is
  what `narratives run`, `evaluate`, `predict` and `explain` do;
- `windows/N`: the same with windows of N words, to see how the size matters.
Prints macro-F1 / mean kappa per half (selection: even lines, report: odd lines) and k.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEV = ROOT.parent / "shared" / "data" / "dev_passages.jsonl"


def joined(examples, gold: np.ndarray, rows: np.ndarray, k: int, shuffles: int, seed: int):
    """Passages of k consecutive examples of shuffled `rows`, with the union of their codes."""
    rng = np.random.RandomState(seed)
    texts, labels = [], []
    for _ in range(shuffles):
        order = rng.permutation(rows)
        for i in range(0, len(order) - k + 1, k):
            part = order[i : i + k]
            texts.append(" ".join(examples[j].text for j in part))
            labels.append(gold[part].max(axis=0))
    return texts, np.array(labels)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(ROOT / "models/systems-leadership"))
    parser.add_argument("--sizes", default="45,90", help="other window sizes to compare")
    args = parser.parse_args()

    from narratives.embed import embed_texts
    from narratives.evaluate import open_classifier
    from narratives.examples import label_matrix, load_examples
    from narratives.metrics import multilabel_report
    from narratives.segment import _words

    model = open_classifier(args.model)
    codes = model.codebook.ids
    examples, _ = load_examples(DEV, model.codebook)
    gold = label_matrix(examples, codes)
    lengths = [_words(e.text) for e in examples]
    print(f"model {model.model_id}: window_words {model.window_words}")
    print(f"dev passages: median {np.median(lengths):.0f} words, max {max(lengths)}")

    def scores(texts: list[str], window: int | None) -> np.ndarray:
        from narratives.classify import score_texts

        saved = model.window_words
        model.window_words = window
        try:
            return score_texts(model, texts, lambda units: embed_texts(units, model.encoder))
        finally:
            model.window_words = saved

    variants = [("whole", None), ("windows", model.window_words)]
    variants += [(f"windows/{n}", int(n)) for n in args.sizes.split(",") if n]
    for k in (1, 2, 3):
        for half, rows in (("selection", np.arange(0, 120, 2)), ("report", np.arange(1, 120, 2))):
            texts, labels = joined(examples, gold, rows, k, 1 if k == 1 else 4, seed=k)
            words = np.median([_words(t) for t in texts])
            cells = []
            for name, window in variants:
                report = multilabel_report(labels, model.decide(scores(texts, window)), codes)
                cells.append(f"{name} {report['macro_f1']:.3f}/{report['mean_kappa']:.3f}")
            print(f"k={k} {half:<9} n={len(texts):<3} ~{words:.0f} words  " + "  ".join(cells))


if __name__ == "__main__":
    main()
