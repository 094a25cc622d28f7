"""Long passages in an exclusive codebook: scored whole (cut short) or by averaged windows?

    python benchmarks/long_exclusive.py [--train 400] [--methods fine-tune linear]

all-MiniLM-L6-v2 reads 256 word pieces (about 190 words) of a passage and drops the rest, so
an exclusive model scores a longer passage by windows of whole sentences of at most its
`window_words` (153) and averages their probabilities (`classify.pool_scores`). This trains
exclusive models as benchmarks/learning_curve.py --exclusive does (the six dimensions and
`none`; the third round of written passages with at most one code, a fixed shuffle with seed
0, the first 500 kept for testing, the next N trained on), then joins the 500's passages of
the same code k at a time (k = 4, 6, 8: about 150, 220 and 300 words; k = 1, each alone) and
prints the accuracy of each model on them, scored whole and by windows.

    python benchmarks/long_exclusive.py --long-training 6 --train 600 [--seed 0]

Long *training* examples: the N training passages are themselves joined k at a time by code
(about 220 words for 6), and each method is trained twice, on the long examples whole (cut
short where the encoder stops reading, `TrainOptions(train_windows=False)`) and as their
windows, calibrated on by averaged windows (the default); both are tested as above.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def joined_same_code(examples, codes: list[str], k: int, seed: int):
    """Passages of k examples with the same one code, and that code's index."""
    rng = np.random.RandomState(seed)
    texts, labels = [], []
    for j, code in enumerate(codes):
        members = [e.text for e in examples if list(e.codes) == [code]]
        rng.shuffle(members)
        for i in range(0, len(members) - k + 1, k):
            texts.append(" ".join(members[i : i + k]))
            labels.append(j)
    return texts, np.array(labels)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=400, help="passages to train on")
    parser.add_argument("--methods", nargs="+", default=["fine-tune", "linear"])
    parser.add_argument(
        "--long-training",
        type=int,
        default=0,
        metavar="K",
        help="join the training passages K at a time by code; train on them whole and by windows",
    )
    parser.add_argument("--seed", type=int, default=0, help="training seed (TrainOptions.seed)")
    args = parser.parse_args()

    from method_cv import made_exclusive

    from narratives.codebook import load_codebook
    from narratives.examples import Example, load_examples
    from narratives.model import TrainedClassifier
    from narratives.train import TrainOptions, train

    work = Path(tempfile.mkdtemp(prefix="narratives-long-exclusive-"))
    codebook_path, examples_path = made_exclusive(
        ROOT / "data/codebooks/systems-leadership.yaml",
        ROOT / "data/training/third-round.jsonl",
        work,
    )
    codebook = load_codebook(codebook_path)
    examples, _ = load_examples(examples_path, codebook)
    order = np.random.RandomState(0).permutation(len(examples))
    test = [examples[i] for i in order[:500]]
    trained_on = [examples[i] for i in order[500 : 500 + args.train]]
    variants = [("", True)]
    if args.long_training:
        texts, labels = joined_same_code(trained_on, codebook.ids, args.long_training, seed=2)
        trained_on = [
            Example(text=t, codes=(codebook.ids[j],)) for t, j in zip(texts, labels, strict=True)
        ]
        words = np.median([len(t.split()) for t in texts])
        print(f"training on {len(trained_on)} passages of ~{words:.0f} words")
        variants = [("trained whole", False), ("trained by windows", True)]
    for method in args.methods:
        for name, by_windows in variants:
            opts = TrainOptions(method=method, train_windows=by_windows, seed=args.seed)
            folder = work / f"{method}-{by_windows}"
            train(codebook, trained_on, "0" * 64, folder, opts, log=print)
            report(TrainedClassifier.load(folder), f"{method} {name}".strip(), test, codebook)


def report(model, name: str, test, codebook) -> None:
    from narratives.evaluate import _scores

    window = model.window_words
    for k in (1, 4, 6, 8):
        texts, labels = joined_same_code(test, codebook.ids, k, seed=1)
        words = np.median([len(t.split()) for t in texts])
        cells = []
        for how, size in (("whole", None), ("windows", window)):
            model.window_words = size
            right = _scores(model, texts).argmax(axis=1) == labels
            cells.append(f"{how} {right.mean():.3f}")
        model.window_words = window
        print(f"{name} k={k} n={len(texts):<3} ~{words:.0f} words  " + "  ".join(cells))


if __name__ == "__main__":
    main()
