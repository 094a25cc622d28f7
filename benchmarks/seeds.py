"""How much the training seed moves the shipped recipe, and whether a setting beats it.

    python benchmarks/seeds.py [--seeds 0,2,3] [--epochs 4,8] [--precision bf16] [--device cuda]

Trains `make train`'s recipe (fine-tuning, definitions head, F2 thresholds) on the written
examples once per seed and epoch count, and scores each model on the 120 development
passages (../shared/data/dev_passages.jsonl, never trained on): macro-F1 / mean kappa on the
selection half (even lines), the report half (odd lines) and all 120, and mean AUC over the
codes. One JSON line per model, then the mean of each epoch count. On 2 CPU cores a model
takes 4-8 minutes; on one H100 20-45 s (docs/coding-quality.md, "Training time").
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEV = ROOT.parent / "shared" / "data" / "dev_passages.jsonl"
CODEBOOK = ROOT / "data/codebooks/systems-leadership.yaml"
EXAMPLES = ROOT / "data/training/systems-leadership.jsonl"


def score(model: Path) -> dict:
    """The model's figures on the 120 and on each half."""
    from sklearn.metrics import roc_auc_score

    from narratives.evaluate import coding_report, evaluate_coded, open_classifier
    from narratives.examples import label_matrix

    classifier = open_classifier(model, CODEBOOK)
    _, examples, predictions = evaluate_coded(classifier, DEV, resamples=0)
    ids = classifier.codebook.ids
    decided = np.array([[c in p.codes for c in ids] for p in predictions])
    scores = np.array([[p.scores[c] for c in ids] for p in predictions])
    gold = label_matrix(examples, ids)
    row = {}
    for name, part in (("selection", slice(0, None, 2)), ("report", slice(1, None, 2))):
        r = coding_report(classifier.codebook, examples[part], decided[part], 0)
        row[name] = [round(r["macro_f1"], 3), round(r["mean_kappa"], 3)]
    r = coding_report(classifier.codebook, examples, decided, 0)
    row["all"] = [round(r["macro_f1"], 3), round(r["mean_kappa"], 3)]
    row["f1"] = {c: round(s["f1"], 2) for c, s in r["per_code"].items()}
    row["mean_auc"] = round(
        float(np.mean([roc_auc_score(gold[:, j], scores[:, j]) for j in range(len(ids))])), 3
    )
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,2,3", help="comma-separated training seeds")
    parser.add_argument("--epochs", default="4", help="comma-separated epoch counts")
    parser.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"])
    parser.add_argument("--device", help="torch device (default: a CUDA GPU if any, else CPU)")
    parser.add_argument("--embedding-model", default="all-MiniLM-L6-v2")
    args = parser.parse_args()

    from narratives.codebook import load_codebook
    from narratives.examples import load_examples
    from narratives.train import TrainOptions, train

    codebook = load_codebook(CODEBOOK)
    examples, sha = load_examples(EXAMPLES, codebook)
    folder = Path(tempfile.mkdtemp(prefix="narratives-seeds-"))
    rows: dict[int, list[dict]] = {}
    for seed in [int(s) for s in args.seeds.split(",")]:
        for epochs in [int(e) for e in args.epochs.split(",")]:
            opts = TrainOptions(
                seed=seed, epochs=epochs, threshold_beta=2.0, precision=args.precision,
                device=args.device, embedding_model=args.embedding_model,
            )  # fmt: skip
            out = folder / f"seed{seed}-epochs{epochs}"
            started = time.monotonic()
            train(codebook, examples, sha, out, opts, log=lambda _: None)
            row = {"seed": seed, "epochs": epochs, "train_s": round(time.monotonic() - started)}
            row.update(score(out))
            print(json.dumps(row), flush=True)
            rows.setdefault(epochs, []).append(row)
    for epochs, group in rows.items():
        mean = {
            key: round(statistics.mean(r[key][0] for r in group), 3)
            for key in ("selection", "report", "all")
        }
        auc = round(statistics.mean(r["mean_auc"] for r in group), 3)
        print(f"{epochs} epochs, {len(group)} seeds: macro-F1 {mean}, mean AUC {auc}")


if __name__ == "__main__":
    main()
