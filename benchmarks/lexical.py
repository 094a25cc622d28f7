"""Do lexical features help a linear head on sentence embeddings? Repeated k-fold on coded passages.

    python benchmarks/lexical.py                      # 4-fold x5 on the 120 dev passages
    python benchmarks/lexical.py --train data/training/systems-leadership.jsonl

Compares, with the `linear` recipe of `narratives train` (logistic regression per code, the
codebook's exemplars as training-only examples, Platt calibration and F1 thresholds on
out-of-fold scores of the training passages):
- `embedding`: the sentence embedding alone (what `--method linear` does);
- `tfidf`: word 1-2-gram TF-IDF alone;
- `concat`: both feature sets side by side in one head;
- `average`: the two heads' calibrated probabilities averaged.
Without `--train`, passages are scored out of fold (train on k-1 folds, code the held-out one,
pool all 120). With `--train FILE`, heads train on FILE and code all 120 dev passages.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEV = ROOT.parent / "shared" / "data" / "dev_passages.jsonl"
KINDS = ("embedding", "tfidf", "concat", "average")


def _calibrated(x, y, extra_x, extra_y, x_test, folds, seed):
    """Calibrated probabilities for x_test, and out-of-fold ones for x (thresholds)."""
    from narratives.calibrate import platt
    from narratives.linear import fit_linear, out_of_fold_logits

    z_oof = out_of_fold_logits(x, y, extra_x, extra_y, False, folds, seed)
    weight, bias = fit_linear(np.vstack([x, extra_x]), np.vstack([y, extra_y]), False, seed)
    z_test = x_test @ weight.T + bias
    p_oof, p_test = np.zeros(z_oof.shape), np.zeros(z_test.shape)
    for j in range(y.shape[1]):
        a, b = platt(z_oof[:, j], y[:, j])
        p_oof[:, j] = 1 / (1 + np.exp(-(a * z_oof[:, j] + b)))
        p_test[:, j] = 1 / (1 + np.exp(-(a * z_test[:, j] + b)))
    return p_oof, p_test


def _decide(p_oof, y, p_test):
    from narratives.calibrate import best_threshold

    th = np.array([best_threshold(p_oof[:, j], y[:, j], 1.0) for j in range(y.shape[1])])
    return p_test >= th


def run(kind, vec_tr, txt_tr, y, vec_seed, txt_seed, y_seed, vec_te, txt_te, folds, seed):
    from sklearn.feature_extraction.text import TfidfVectorizer

    emb = (vec_tr, vec_seed, vec_te)
    if kind == "embedding":
        p_oof, p_te = _calibrated(emb[0], y, emb[1], y_seed, emb[2], folds, seed)
        return _decide(p_oof, y, p_te)
    tfidf = TfidfVectorizer(ngram_range=(1, 2), min_df=1, sublinear_tf=True, max_features=20000)
    tfidf.fit(list(txt_tr) + list(txt_seed))
    lex = tuple(
        tfidf.transform(list(t)).toarray().astype(np.float32) for t in (txt_tr, txt_seed, txt_te)
    )
    if kind == "average":
        a_oof, a_te = _calibrated(emb[0], y, emb[1], y_seed, emb[2], folds, seed)
        b_oof, b_te = _calibrated(lex[0], y, lex[1], y_seed, lex[2], folds, seed)
        return _decide((a_oof + b_oof) / 2, y, (a_te + b_te) / 2)
    x = lex if kind == "tfidf" else tuple(np.hstack(pair) for pair in zip(emb, lex, strict=True))
    p_oof, p_te = _calibrated(x[0], y, x[1], y_seed, x[2], folds, seed)
    return _decide(p_oof, y, p_te)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--codebook", default=str(ROOT / "data/codebooks/systems-leadership.yaml"))
    parser.add_argument("--train", help="train on this file and code all dev passages")
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--embedding-model", default="all-MiniLM-L6-v2")
    args = parser.parse_args()

    from method_cv import fold_assignment  # benchmarks/ is on the path when run as a script

    from narratives.codebook import load_codebook
    from narratives.embed import embed_texts
    from narratives.examples import label_matrix, load_examples
    from narratives.metrics import multilabel_report

    codebook = load_codebook(Path(args.codebook))
    codes = codebook.ids
    dev, _ = load_examples(DEV, codebook)
    seeds = codebook.seed_examples()
    txt_seed = [t for t, _ in seeds]
    y_seed = np.array([[c == code for c in codes] for _, code in seeds], dtype=bool)
    vec_seed = embed_texts(txt_seed, args.embedding_model)
    txt_dev = [e.text for e in dev]
    y_dev = label_matrix(dev, codes)
    vec_dev = embed_texts(txt_dev, args.embedding_model)
    results = {}
    if args.train:
        train, _ = load_examples(Path(args.train), codebook)
        txt_tr = [e.text for e in train]
        y_tr = label_matrix(train, codes)
        vec_tr = embed_texts(txt_tr, args.embedding_model)
        for kind in KINDS:
            pred = run(
                kind, vec_tr, txt_tr, y_tr, vec_seed, txt_seed, y_seed, vec_dev, txt_dev, 5, 0
            )
            results[kind] = [multilabel_report(y_dev, pred, codes)]
    else:
        for kind in KINDS:
            results[kind] = []
            for repeat in range(args.repeats):
                fold = fold_assignment(len(dev), args.k, repeat)
                pred = np.zeros_like(y_dev)
                for f in range(args.k):
                    tr, te = np.flatnonzero(fold != f), np.flatnonzero(fold == f)
                    pred[te] = run(
                        kind,
                        vec_dev[tr],
                        [txt_dev[i] for i in tr],
                        y_dev[tr],
                        vec_seed,
                        txt_seed,
                        y_seed,
                        vec_dev[te],
                        [txt_dev[i] for i in te],
                        5,
                        repeat,
                    )
                results[kind].append(multilabel_report(y_dev, pred, codes))
    summary = {
        kind: {
            "macro_f1": round(float(np.mean([r["macro_f1"] for r in reports])), 3),
            "mean_kappa": round(float(np.mean([r["mean_kappa"] for r in reports])), 3),
            "f1": {
                c: round(float(np.mean([r["per_code"][c]["f1"] for r in reports])), 2)
                for c in codes
            },
        }
        for kind, reports in results.items()
    }
    print(json.dumps(summary))
    for kind, s in summary.items():
        per_code = "  ".join(f"{c} {v:.2f}" for c, v in s["f1"].items())
        print(f"{kind:10s} macro-F1 {s['macro_f1']:.3f}  kappa {s['mean_kappa']:.3f}  {per_code}")


if __name__ == "__main__":
    main()
