"""Training's defaults on two codebooks from another domain (benchmarks/data/other-codebooks).

    python benchmarks/other_codebooks.py [--methods auto,linear,fine-tune] [--micro-batch N] [--seed S]
    python benchmarks/other_codebooks.py --methods linear [--lexical-weight 0]

For each codebook (an exclusive one of five codes, a multi-label one of ten), trains on its
train file with each method (as `narratives train` would, otherwise its defaults) and scores
its test file as `narratives evaluate` does. Prints one JSON line a run: the method `auto`
chose, macro-F1 and mean kappa (accuracy for the exclusive one), and the training seconds.

Measured 2026-11-27 on 2 cores (test macro-F1, training time): patient-feedback
(exclusive, 120 / 40), linear 0.780 in 8 s, fine-tuning 0.789 in 9 min 8 s (0.766 in 3 min
18 s with --micro-batch 8); food-poverty (multi-label, 150 / 50), linear 0.704 in 8 s,
fine-tuning 0.470 in 7 min 20 s (0.462 in 2 min 38 s with --micro-batch 8: the method, not
the padding). Hence `--method auto` picks linear heads under 200 examples.

Since exclusive models train on long examples' windows (five of patient-feedback's 120 run
past 153 words): fine-tuning 0.814 (accuracy 0.825) in 5 min 44 s, against 0.789 (0.800) in
9 min 5 s with `--whole-examples` (measured 2026-11-27; one passage of 40 apart); linear 0.780
either way.

Linear heads weigh the passages' words beside the embedding by default since 2026-11-27
(docs/coding-quality.md, "Lexical features"): patient-feedback 0.780 -> 0.782 (weight 2),
food-poverty 0.704 -> 0.739 (weight 0.5); `--lexical-weight 0` gives the figures above.

Those fine-tunings ran with whole batches. Since then a CPU encodes mostly-padded batches in
pieces of 8 by default (docs/coding-quality.md, "Training time"); `--micro-batch 0` reruns
them whole. Patient-feedback fine-tuned so: 0.766 (accuracy 0.775) in 168 s, with `--seed 1`
0.790 (0.800) in 175 s, against 0.814 (0.825) in 382 s whole with seed 1.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
DATA = ROOT / "benchmarks/data/other-codebooks"

from narratives.codebook import load_codebook  # noqa: E402
from narratives.evaluate import evaluate_coded  # noqa: E402
from narratives.examples import load_examples  # noqa: E402
from narratives.model import TrainedClassifier  # noqa: E402
from narratives.train import TrainOptions, train  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", default="auto,linear,fine-tune")
    parser.add_argument("--micro-batch", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--codebooks", default="patient-feedback,food-poverty")
    parser.add_argument(
        "--whole-examples",
        action="store_true",
        help="exclusive: train on long examples whole, cut short (TrainOptions.train_windows)",
    )
    parser.add_argument(
        "--lexical-weight",
        type=float,
        default=None,
        help="linear: the word head's weight (default: chosen out of fold; 0: embeddings alone)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="narratives-other-") as work:
        for name in args.codebooks.split(","):
            codebook = load_codebook(DATA / f"{name}.yaml")
            examples, sha = load_examples(DATA / f"{name}-train.jsonl", codebook)
            for method in args.methods.split(","):
                out = Path(work) / f"{name}-{method}"
                opts = TrainOptions(
                    method=method,
                    micro_batch=args.micro_batch,
                    seed=args.seed,
                    train_windows=not args.whole_examples,
                    lexical_weight=args.lexical_weight,
                )
                started = time.monotonic()
                train(codebook, examples, sha, out, opts, log=lambda _: None)
                seconds = round(time.monotonic() - started, 1)
                model = TrainedClassifier.load(out)
                report, _, _ = evaluate_coded(model, DATA / f"{name}-test.jsonl", resamples=0)
                row = {
                    "codebook": name,
                    "method": method,
                    "trained": model.config["method"],
                    "lexical_weight": (model.config.get("lexical") or {}).get("weight"),
                    "macro_f1": report["macro_f1"],
                    "mean_kappa": report["mean_kappa"],
                    "train_s": seconds,
                }
                if "accuracy" in report:
                    row["accuracy"] = report["accuracy"]
                print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
