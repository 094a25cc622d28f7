"""Does the preceding turn help? Repeated k-fold on coded examples that carry a `context`.

    python benchmarks/context.py [--examples data/training/systems-leadership.jsonl]

The development passages in ../shared/data carry no preceding turn, so this can only be
measured on coded examples that do: the examples in the file with a `context` (300 of the
shipped training file, interview answers written with the question before them). With the
`linear` recipe of `narratives train` (logistic regression per code, Platt calibration and F1
thresholds on out-of-fold scores of the training passages, as in lexical.py), k-fold over those examples,
features:
- `text`: the passage's embedding alone (what `--method linear` does);
- `text + context`: the passage's and the preceding turn's embeddings side by side
  (`train --method linear --context`);
- `joined`: one embedding of "question + answer" as a single text;
- `context only`: the preceding turn's embedding alone (how much the question gives away).
With `--with-rest`, the file's examples without a context join every training fold (their
context features are zeros), as they would in a real training file.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", default=str(ROOT / "data/training/systems-leadership.jsonl"))
    parser.add_argument("--codebook", default=str(ROOT / "data/codebooks/systems-leadership.yaml"))
    parser.add_argument("--embedding-model", default="all-MiniLM-L6-v2")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--with-rest", action="store_true")
    args = parser.parse_args()

    from lexical import _calibrated, _decide  # benchmarks/ is on the path when run as a script

    from narratives.codebook import load_codebook
    from narratives.embed import embed_texts
    from narratives.examples import label_matrix, load_examples, stratified_folds
    from narratives.metrics import multilabel_report

    codebook = load_codebook(Path(args.codebook))
    examples, _ = load_examples(Path(args.examples), codebook)
    with_context = [e for e in examples if e.context]
    rest = [e for e in examples if not e.context] if args.with_rest else []
    y = label_matrix(with_context, codebook.ids)
    y_rest = label_matrix(rest, codebook.ids) if rest else np.zeros((0, y.shape[1]), bool)
    print(
        f"{len(with_context)} examples with a context"
        + (f", {len(rest)} without in every training fold" if rest else "")
    )

    def embed(texts: list[str]) -> np.ndarray:
        return embed_texts(texts, args.embedding_model)

    text = embed([e.text for e in with_context])
    context = embed([e.context for e in with_context])
    joined = embed([f"{e.context}\n{e.text}" for e in with_context])
    text_rest = embed([e.text for e in rest]) if rest else np.zeros((0, text.shape[1]), np.float32)
    zeros_rest = np.zeros_like(text_rest)
    kinds = {
        "text": (text, text_rest),
        "text + context": (np.hstack([text, context]), np.hstack([text_rest, zeros_rest])),
        "joined": (joined, text_rest),
        "context only": (context, zeros_rest),
    }
    for name, (x, x_rest) in kinds.items():
        f1s, kappas = [], []
        for repeat in range(args.repeats):
            fold = stratified_folds(y, args.folds, seed=repeat)
            pred = np.zeros(y.shape, bool)
            for f in range(args.folds):
                test = fold == f
                p_oof, p_test = _calibrated(x[~test], y[~test], x_rest, y_rest, x[test], 5, repeat)
                pred[test] = _decide(p_oof, y[~test], p_test)
            report = multilabel_report(y, pred, codebook.ids)
            f1s.append(report["macro_f1"])
            kappas.append(report["mean_kappa"])
        print(
            f"{name:<15} macro-F1 {np.mean(f1s):.3f} ({min(f1s):.3f}-{max(f1s):.3f})  "
            f"mean kappa {np.mean(kappas):.3f}",
            flush=True,
        )
    print(json.dumps({"folds": args.folds, "repeats": args.repeats}))


if __name__ == "__main__":
    main()
