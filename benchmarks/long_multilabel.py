"""Long multi-label training examples: ways to learn from their windows, linear heads.

    python benchmarks/long_multilabel.py [--joined 4,6,8] [--seeds 2,3,4]

A long coded example of a multi-label codebook is trained on whole, so the encoder cuts it
short (all-MiniLM-L6-v2 reads about 153 words), and a code shown only past that point is
learnt from text that does not show it. Its windows cannot simply carry its codes either: a
code may show in one window only. This measures what each way of learning from the windows
gives. The third-round passages (data/training/third-round.jsonl) after a fixed shuffle: 500
are kept to test, single and joined 4 and 8 at a time (codes: the union of theirs); the rest
are joined k at a time (--joined) to make the long training examples, in an order drawn by
each seed. Per code a balanced logistic regression on the embeddings (the same for every
way), scored as `narratives` scores a multi-label passage: each code by its highest window
of at most 153 words. Printed: mean AUC over the codes, and the difference from training
on whole examples, averaged over the seeds. The ways:

- whole: each example embedded whole, cut short where the encoder stops (as `train` does);
- bag mean: the normalised mean of its windows' embeddings, one row an example;
- windows: every window a row carrying all the example's codes (1/n: each weighted by one
  over its example's windows);
- witness: multiple-instance training. For each code, a positive example keeps only its
  window that the windows model scores highest for the code; every window of a negative
  example stays negative; refitted once and twice.

Measured 2026-11-27 (seeds 2, 3, 4; docs/coding-quality.md, "Long passages"): no way is
ahead beyond the draws' spread; bag mean +0.007 mean AUC on average over the nine cells.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from long_passages import joined  # noqa: E402

from narratives.classify import pool_scores, split_long  # noqa: E402
from narratives.codebook import load_codebook  # noqa: E402
from narratives.embed import embed_texts  # noqa: E402
from narratives.examples import label_matrix, load_examples  # noqa: E402
from narratives.train import _example_vectors  # noqa: E402

WINDOW = 153  # what all-MiniLM-L6-v2 reads, in words (train._window_words)
WAYS = ("whole", "bag mean", "windows", "windows 1/n", "witness 1", "witness 2")


class Embeddings:
    """Each distinct text embedded once."""

    def __init__(self) -> None:
        self.cache: dict[str, np.ndarray] = {}

    def __call__(self, texts: list[str]) -> np.ndarray:
        need = [t for t in dict.fromkeys(texts) if t not in self.cache]
        if need:
            self.cache.update(zip(need, embed_texts(need), strict=True))
        return np.stack([self.cache[t] for t in texts])


def fit(x: np.ndarray, y: np.ndarray, weight: np.ndarray | None = None) -> list:
    from sklearn.linear_model import LogisticRegression

    def one(j: int):
        head = LogisticRegression(C=1.0, class_weight="balanced", max_iter=3000)
        return head.fit(x, y[:, j], sample_weight=weight)

    return [one(j) for j in range(y.shape[1])]


def witness(heads: list, x: np.ndarray, y: np.ndarray, owner: np.ndarray) -> list:
    """Refit each code on the windows of the examples without it and, of each example with
    it, the one window `heads` scores highest for it."""
    from sklearn.linear_model import LogisticRegression

    refitted = []
    for j, head in enumerate(heads):
        score = head.decision_function(x)
        keep = np.ones(len(x), bool)
        for example in np.unique(owner[y[:, j] > 0]):
            rows = np.flatnonzero(owner == example)
            keep[rows] = False
            keep[rows[np.argmax(score[rows])]] = True
        model = LogisticRegression(C=1.0, class_weight="balanced", max_iter=3000)
        refitted.append(model.fit(x[keep], y[keep, j]))
    return refitted


def mean_auc(heads: list, texts: list[str], labels: np.ndarray, embed: Embeddings) -> float:
    from sklearn.metrics import roc_auc_score

    units, owner = split_long(texts, WINDOW)
    unit_scores = np.stack([h.decision_function(embed(units)) for h in heads], 1)
    scores = pool_scores(unit_scores, owner, len(texts), "max")
    return float(np.mean([roc_auc_score(labels[:, j], scores[:, j]) for j in range(len(heads))]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--joined", default="4,6,8", help="training examples joined k at a time")
    parser.add_argument(
        "--seeds", default="2,3,4", help="orders the training passages are joined in"
    )
    args = parser.parse_args()
    codebook = load_codebook(ROOT / "data/codebooks/systems-leadership.yaml")
    examples, _ = load_examples(ROOT / "data/training/third-round.jsonl", codebook)
    gold = label_matrix(examples, codebook.ids)
    order = np.random.RandomState(0).permutation(len(examples))
    test_rows, pool = order[:500], order[500:]
    tests = {k: joined(examples, gold, test_rows, k, 1, seed=1) for k in (1, 4, 8)}
    embed = Embeddings()
    for k in [int(k) for k in args.joined.split(",")]:
        auc = {way: [] for way in WAYS}
        for seed in [int(s) for s in args.seeds.split(",")]:
            texts, labels = joined(examples, gold, pool, k, 1, seed=seed)
            units, owner = split_long(texts, WINDOW)
            whole, windows = embed(texts), embed(units)
            bag = _example_vectors(windows, owner, len(texts))
            per_window = labels[owner]
            plain = fit(windows, per_window)
            once = witness(plain, windows, per_window, owner)
            heads = {
                "whole": fit(whole, labels),
                "bag mean": fit(bag, labels),
                "windows": plain,
                "windows 1/n": fit(windows, per_window, 1.0 / np.bincount(owner)[owner]),
                "witness 1": once,
                "witness 2": witness(once, windows, per_window, owner),
            }
            for way, h in heads.items():
                auc[way].append([mean_auc(h, t, y, embed) for t, y in tests.values()])
            words = np.median([len(t.split()) for t in texts])
            print(f"joined {k}, seed {seed}: {len(texts)} examples, median {words:.0f} words, "
                  f"{len(units)} windows", flush=True)  # fmt: skip
        print(f"joined {k}: mean AUC on the test passages single / joined 4 / joined 8")
        base = np.mean(auc["whole"], axis=0)
        for way in WAYS:
            mean = np.mean(auc[way], axis=0)
            cells = " / ".join(f"{m:.3f} ({m - b:+.3f})" for m, b in zip(mean, base, strict=True))
            print(f"  {way:12s} {cells}", flush=True)


if __name__ == "__main__":
    main()
