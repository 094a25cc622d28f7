"""How well `narratives train` learns from a team's own coded passages: repeated k-fold.

    python benchmarks/method_cv.py --method linear --repeats 5 [--head free]
    python benchmarks/method_cv.py --method fine-tune --repeats 1 [--head free]
    python benchmarks/method_cv.py --method linear --embedding-model models/systems-leadership/encoder
    python benchmarks/method_cv.py --exclusive --method linear   # one code per passage
    python benchmarks/method_cv.py --lexical-weight 0            # embeddings alone, no words
    python benchmarks/method_cv.py --codebook benchmarks/data/other-codebooks/genre.yaml \
        --codes-from kind                                        # interview talk or report?

The shipped model is trained on passages written for this project; a team will instead train
on its own coders' passages. This measures that case on the 120 coded passages of
../shared/data/dev_passages.jsonl: split them into k folds, train on k-1 (with the options
given), code the held-out fold, and pool the out-of-fold decisions over all 120. Repeats use
other fold assignments and report the mean. Every training here sees k-1 folds only: nothing
is reported on passages it trained or calibrated on. (For a team's own examples,
`narratives cross-validate` does one fold assignment, stratified, with intervals; this
benchmark keeps its own fold assignments so docs/coding-quality.md's figures reproduce.)
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEV = ROOT.parent / "shared" / "data" / "dev_passages.jsonl"


def fold_assignment(n: int, k: int, repeat: int) -> np.ndarray:
    """A fold number per passage for one repeat (benchmarks/lexical.py uses the same folds)."""
    order = np.random.RandomState(repeat).permutation(n)
    fold = np.empty(n, dtype=int)
    fold[order] = np.arange(n) % k
    return fold


def _code_f1(reports: list[dict], code: str) -> list[float]:
    return [r["per_code"][code]["f1"] for r in reports if r["per_code"][code]["f1"] is not None]


def made_exclusive(codebook: Path, examples: Path, folder: Path) -> tuple[Path, Path]:
    """An exclusive version of the codebook (its codes and `none`) and of the coded
    passages (those with at most one code; no code becomes `none`), written into `folder`."""
    import yaml

    book = yaml.safe_load(codebook.read_text())
    book.update(name=f"{book['name']}-exclusive", exclusive=True)
    if "none" not in {c["id"] for c in book["codes"]}:
        book["codes"].append(
            {
                "id": "none",
                "label": "No behaviour",
                "definition": "Background, logistics, numbers, structures or outcomes with no "
                "behaviour of a person or group shown.",
            }
        )
    rows = [json.loads(line) for line in examples.read_text().splitlines() if line.strip()]
    kept = [{**r, "codes": r["codes"] or ["none"]} for r in rows if len(r["codes"]) <= 1]
    (folder / "codebook.yaml").write_text(yaml.safe_dump(book, sort_keys=False))
    (folder / "examples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in kept))
    return folder / "codebook.yaml", folder / "examples.jsonl"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--codebook", default=str(ROOT / "data/codebooks/systems-leadership.yaml"))
    parser.add_argument("--examples", default=str(DEV), help="coded passages to cross-validate")
    parser.add_argument("--method", default="linear", choices=["linear", "fine-tune"])
    parser.add_argument("--k", type=int, default=4, help="folds of the benchmark")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--first-repeat", type=int, default=0, help="fold assignment to start at")
    parser.add_argument("--threshold-beta", type=float, default=1.0)
    parser.add_argument(
        "--own-calibration", type=int, default=50, help="0: every code calibrated alone (before)"
    )
    parser.add_argument("--folds", type=int, default=5, help="linear: calibration folds")
    parser.add_argument("--min-steps", type=int, default=150)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--head", default="definitions", choices=["definitions", "free"])
    parser.add_argument(
        "--definitions-weight", type=float, default=3.0, help="linear, --head definitions"
    )
    parser.add_argument("--no-codebook-examples", action="store_true")
    parser.add_argument(
        "--codes-from",
        metavar="FIELD",
        help="code each passage by this field of its line instead of its codes (e.g. kind, "
        "with benchmarks/data/other-codebooks/genre.yaml)",
    )
    parser.add_argument(
        "--lexical-weight",
        type=float,
        default=None,
        help="linear: the word head's weight (default: chosen out of fold; 0: embeddings alone)",
    )
    parser.add_argument(
        "--embedding-model",
        default="all-MiniLM-L6-v2",
        help="base encoder, e.g. models/systems-leadership/encoder (the shipped fine-tuned one)",
    )
    parser.add_argument(
        "--exclusive",
        action="store_true",
        help="the codebook made exclusive (one code per passage, `none` added) and only the "
        "passages with at most one code ([] becomes none): 76 of the 120",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    from narratives.codebook import load_codebook
    from narratives.evaluate import _scores
    from narratives.examples import label_matrix, load_examples
    from narratives.metrics import multilabel_report
    from narratives.model import TrainedClassifier
    from narratives.train import TrainOptions, train

    work = Path(tempfile.mkdtemp(prefix="narratives-cv-"))
    codebook_path, examples_path = Path(args.codebook), Path(args.examples)
    if args.codes_from:
        rows = [json.loads(line) for line in examples_path.read_text().splitlines() if line]
        examples_path = work / "recoded.jsonl"
        examples_path.write_text(
            "".join(json.dumps({**r, "codes": [r[args.codes_from]]}) + "\n" for r in rows)
        )
    if args.exclusive:
        codebook_path, examples_path = made_exclusive(codebook_path, examples_path, work)
    codebook = load_codebook(codebook_path)
    examples, _ = load_examples(examples_path, codebook)
    opts = TrainOptions(
        method=args.method,
        threshold_beta=args.threshold_beta,
        own_calibration=args.own_calibration,
        folds=args.folds,
        min_steps=args.min_steps,
        epochs=args.epochs,
        head=args.head,
        definitions_weight=args.definitions_weight,
        codebook_examples=not args.no_codebook_examples,
        lexical_weight=args.lexical_weight,
        embedding_model=args.embedding_model,
    )
    codes = codebook.ids
    gold = label_matrix(examples, codes)
    reports, started = [], time.perf_counter()
    for repeat in range(args.first_repeat, args.first_repeat + args.repeats):
        fold = fold_assignment(len(examples), args.k, repeat)
        pred = np.zeros_like(gold)
        for f in range(args.k):
            held = np.flatnonzero(fold == f)
            trained_on = [examples[i] for i in np.flatnonzero(fold != f)]
            folder = work / f"r{repeat}-f{f}"
            train(codebook, trained_on, "0" * 64, folder, opts, log=lambda _: None)
            model = TrainedClassifier.load(folder)
            pred[held] = model.decide(_scores(model, [examples[i].text for i in held]))
        reports.append(multilabel_report(gold, pred, codes))
    result = {
        "options": opts.__dict__,
        "k": args.k,
        "repeats": args.repeats,
        "n": len(examples),
        "seconds": round(time.perf_counter() - started, 1),
        "macro_f1": round(float(np.mean([r["macro_f1"] for r in reports])), 3),
        "micro_f1": round(float(np.mean([r["micro_f1"] for r in reports])), 3),
        "mean_kappa": round(float(np.mean([r["mean_kappa"] for r in reports])), 3),
        "macro_f1_range": [
            round(min(r["macro_f1"] for r in reports), 3),
            round(max(r["macro_f1"] for r in reports), 3),
        ],
        "f1": {  # a code with no example and never predicted has none (0/0)
            c: round(float(np.mean(f1)), 3) if (f1 := _code_f1(reports, c)) else None for c in codes
        },
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    per_code = "  ".join(f"{c} {v:.2f}" for c, v in result["f1"].items() if v is not None)
    print(
        f"{args.method} k={args.k} x{args.repeats}: macro-F1 {result['macro_f1']:.3f} "
        f"(range {result['macro_f1_range'][0]:.3f}-{result['macro_f1_range'][1]:.3f}), "
        f"micro-F1 {result['micro_f1']:.3f}, kappa {result['mean_kappa']:.3f}  {per_code}  "
        f"[{result['seconds']:.0f} s]"
    )


if __name__ == "__main__":
    main()
