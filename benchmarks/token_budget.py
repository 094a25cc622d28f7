"""Fine-tuning on long passages: what the token budget saves, and what it costs in quality.

    python benchmarks/token_budget.py [--out DIR] [--budgets 0,1000000]

Real coded passages can be paragraphs: a team's transcripts cut at 150-200 words. The
project's coded examples (data/training/, 36 words median) are joined four at a time into
3,000 passages (codes = the union of theirs, ~150 words, ~185 tokens), and the default
fine-tuning recipe is trained on them once per `--budgets` value (`--token-budget`; 0 = no
bound, all 4 epochs). Each model is timed (the whole `train` command) and scored on the 120
development passages of ../shared/data/dev_passages.jsonl joined k at a time (k = 1, 3, 4;
four shuffles for k > 1, within each half), as `narratives evaluate` scores them. Prints
macro-F1 / mean kappa per half (selection: even lines, report: odd lines).
Models already in DIR are reused (delete them to retrain).
"""

from __future__ import annotations

import argparse
import functools
import json
import random
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from long_passages import DEV, joined  # noqa: E402


def long_examples(path: Path, n: int = 3000, k: int = 4, seed: int = 0) -> None:
    rows = [json.loads(line) for line in (ROOT / "data/training/systems-leadership.jsonl").open()]
    pick = random.Random(seed)
    with path.open("w") as f:
        for _ in range(n):
            part = pick.sample(rows, k)
            codes = sorted({c for r in part for c in r["codes"]})
            f.write(json.dumps({"text": " ".join(r["text"] for r in part), "codes": codes}) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("/tmp/narratives-token-budget"))
    parser.add_argument("--budgets", default="0,1000000")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    examples_path = args.out / "long.jsonl"
    if not examples_path.exists():
        long_examples(examples_path)

    from narratives.classify import score_texts
    from narratives.embed import embed_texts
    from narratives.evaluate import open_classifier
    from narratives.examples import label_matrix, load_examples
    from narratives.metrics import multilabel_report

    for budget in args.budgets.split(","):
        folder = args.out / f"budget-{budget}"
        if not (folder / "config.json").exists():
            started = time.monotonic()
            subprocess.run(
                [str(Path(sys.executable).parent / "narratives"), "train", "--examples", str(examples_path),
                 "--out", str(folder), "--token-budget", budget],
                check=True,
            )  # fmt: skip
            print(f"budget {budget}: train took {time.monotonic() - started:.0f} s")
        model = open_classifier(folder)
        tuned = model.config.get("fine_tuning")  # None: trained before the budget existed
        done = "all epochs"
        if tuned:
            done = f"{tuned['steps']} steps, {tuned['epochs']} epochs, {tuned['tokens']:,} tokens"
        print(f"budget {budget}: {done}; window {model.window_words}")
        embed = functools.partial(embed_texts, model=model.encoder)
        dev, _ = load_examples(DEV, model.codebook)
        gold = label_matrix(dev, model.codebook.ids)
        for k in (1, 3, 4):
            cells = []
            for half, rows in (
                ("selection", np.arange(0, 120, 2)),
                ("report", np.arange(1, 120, 2)),
            ):
                texts, labels = joined(dev, gold, rows, k, 1 if k == 1 else 4, seed=k)
                scores = score_texts(model, texts, embed)
                report = multilabel_report(labels, model.decide(scores), model.codebook.ids)
                cells.append(f"{half} {report['macro_f1']:.3f}/{report['mean_kappa']:.3f}")
            print(f"  k={k}  " + "  ".join(cells))


if __name__ == "__main__":
    main()
