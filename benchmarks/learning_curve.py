"""Learning curve of both training methods on the project's written examples.

    python benchmarks/learning_curve.py [--sizes 90 300 1100] [--examples FILE]
        [--methods linear fine-tune] [--own-calibration N] [--also ../shared/data/dev_passages.jsonl]
        [--head free] [--held-out N] [--shuffle-seed S] [--exclusive]

Holds out 339 of the examples (default data/training/systems-leadership.jsonl; a fixed
shuffle), trains `linear` and `fine-tune` (default options) on the first N of the rest, and
codes the held-out ones. These
passages are all written for the project, so this is the in-domain case; real passages are
harder (see benchmarks/method_cv.py and coding_quality.py).

Where `--method auto` draws its line (docs/coding-quality.md, "Training on your own coders'
passages"), with the third round of written passages, which are as hard as real ones:

    python benchmarks/learning_curve.py --examples data/training/third-round.jsonl \
        --held-out 500 --shuffle-seed 0 --sizes 100 200 400 800 \
        --also ../shared/data/dev_passages.jsonl [--exclusive]

`--exclusive` makes the codebook exclusive (its codes and `none`) and keeps the passages
with at most one code, in the examples and in `--also`, as benchmarks/method_cv.py does.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[90, 300, 1100])
    parser.add_argument("--held-out", type=int, default=339)
    parser.add_argument("--shuffle-seed", type=int, default=7, help="the fixed shuffle's seed")
    parser.add_argument("--exclusive", action="store_true", help="one code per passage")
    parser.add_argument(
        "--examples",
        default=str(ROOT / "data/training/systems-leadership.jsonl"),
        help="coded examples (docs/coding-quality.md's table used its first 1,439 lines: `head -1439`)",
    )
    parser.add_argument("--methods", nargs="+", default=["linear", "fine-tune"])
    parser.add_argument(
        "--own-calibration", type=int, default=50, help="0: every code calibrated alone (before)"
    )
    parser.add_argument("--also", help="more coded passages to code with each model")
    parser.add_argument("--head", default="definitions", choices=["definitions", "free"])
    args = parser.parse_args()

    from narratives.codebook import load_codebook
    from narratives.evaluate import _scores
    from narratives.examples import label_matrix, load_examples
    from narratives.metrics import multilabel_report
    from narratives.model import TrainedClassifier
    from narratives.train import TrainOptions, train

    codebook_path = base_codebook = ROOT / "data/codebooks/systems-leadership.yaml"
    examples_path, also_path = Path(args.examples), Path(args.also) if args.also else None
    work = Path(tempfile.mkdtemp(prefix="narratives-curve-"))
    if args.exclusive:
        from method_cv import made_exclusive

        (work / "examples").mkdir()
        codebook_path, examples_path = made_exclusive(
            codebook_path, examples_path, work / "examples"
        )
        if also_path:
            (work / "also").mkdir()
            _, also_path = made_exclusive(base_codebook, also_path, work / "also")
    codebook = load_codebook(codebook_path)
    examples, _ = load_examples(examples_path, codebook)
    order = np.random.RandomState(args.shuffle_seed).permutation(len(examples))
    held = [examples[i] for i in order[: args.held_out]]
    pool = [examples[i] for i in order[args.held_out :]]
    tests = {"held-out": (held, label_matrix(held, codebook.ids))}
    if also_path:
        also, _ = load_examples(also_path, codebook)
        tests[Path(args.also).stem] = (also, label_matrix(also, codebook.ids))
    for n in args.sizes:
        for method in args.methods:
            started = time.perf_counter()
            folder = work / f"{method}-{n}"
            train(
                codebook,
                pool[:n],
                "0" * 64,
                folder,
                TrainOptions(method=method, own_calibration=args.own_calibration, head=args.head),
                log=lambda _: None,
            )
            model = TrainedClassifier.load(folder)
            for name, (passages, gold) in tests.items():
                pred = model.decide(_scores(model, [e.text for e in passages]))
                r = multilabel_report(gold, pred, codebook.ids)
                print(
                    f"{n:>5} examples  {method:<9}  {name}: macro-F1 {r['macro_f1']:.3f}  "
                    f"kappa {r['mean_kappa']:.3f}  [{time.perf_counter() - started:.0f} s]",
                    flush=True,
                )


if __name__ == "__main__":
    main()
