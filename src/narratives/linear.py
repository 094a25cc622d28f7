"""Linear heads: logistic regression on a passage's embedding, or on its words.

`train --method linear` fits one per code (one over the codes for an exclusive codebook) on
frozen sentence embeddings, optionally reading each code's embedded description too; any
method may add a head on word features (`lexical.py`) whose logits are added to the
embedding head's. Out-of-fold logits let every example calibrate a head it did not train.
"""

from __future__ import annotations

import numpy as np

from narratives.examples import stratified_folds
from narratives.lexical import Vocabulary


def fit_linear(
    x: np.ndarray, y: np.ndarray, exclusive: bool, seed: int, anchors: np.ndarray | None = None
):
    """Logistic regression: one per code, or one over the codes if exclusive. `anchors`
    (n codes, features), each code's description times `definitions_weight`, adds each
    passage's similarity to them as features: their coefficients are penalised like any
    other, so a large weight makes leaning on the description cheap. The result is folded
    back into one weight matrix, so a model stores and scores as any linear head. `x` may be
    sparse (word features) when there are no anchors."""
    from sklearn.linear_model import LogisticRegression

    def fit(features: np.ndarray, target: np.ndarray):
        model = LogisticRegression(C=1.0, max_iter=3000, class_weight="balanced", random_state=seed)
        return model.fit(features, target)

    d = x.shape[1]
    a = anchors if anchors is not None else np.zeros((0, d), np.float32)  # no columns added

    def with_anchors(own: np.ndarray):
        return x if anchors is None else np.hstack([x, x @ own.T])

    if exclusive:
        model = fit(with_anchors(a), y.argmax(axis=1))
        coef = model.coef_[:, :d] + model.coef_[:, d:] @ a
        weight = np.zeros((y.shape[1], d), np.float32)
        bias = np.full(y.shape[1], -30.0, np.float32)  # codes never seen in training
        seen = model.classes_
        if len(seen) == 2:  # a binary model scores the second class against the first (logit 0)
            weight[seen[0]], bias[seen[0]] = 0.0, 0.0
            weight[seen[1]], bias[seen[1]] = coef[0], model.intercept_[0]
        else:
            weight[seen], bias[seen] = coef, model.intercept_
        return weight, bias
    weight = np.zeros((y.shape[1], d), np.float32)
    bias = np.zeros(y.shape[1], np.float32)
    for j in range(y.shape[1]):
        if y[:, j].all() or not y[:, j].any():
            bias[j] = 30.0 if y[:, j].all() else -30.0
            continue
        own = a[j : j + 1]  # this code's anchor, or none
        m = fit(with_anchors(own), y[:, j])
        weight[j] = m.coef_[0, :d] + m.coef_[0, d:] @ own
        bias[j] = m.intercept_[0]
    return weight, bias


def out_of_fold_logits(
    x: np.ndarray,
    y: np.ndarray,
    extra_x: np.ndarray,
    extra_y: np.ndarray,
    exclusive: bool,
    k: int,
    seed: int,
    anchors: np.ndarray | None = None,
    fold: np.ndarray | None = None,
) -> np.ndarray:
    """Each example's logits from a linear head trained without its fold (`fold`: a fold
    number per row, when rows are windows of examples; else `k` folds stratified here)."""
    if fold is None:
        fold = stratified_folds(y, k, seed)
    z = np.zeros(y.shape, np.float32)
    for f in range(k):
        test = fold == f
        if not test.any():
            continue
        weight, bias = fit_linear(
            stacked_rows(x[~test], extra_x),
            np.vstack([y[~test], extra_y]),
            exclusive,
            seed,
            anchors,
        )
        z[test] = x[test] @ weight.T + bias
    return z


def stacked_rows(*blocks):
    """Blocks of rows stacked: dense arrays, or sparse ones (word features)."""
    from scipy import sparse

    if any(sparse.issparse(b) for b in blocks):
        return sparse.vstack(blocks, format="csr")
    return np.vstack(blocks)


def word_head(
    units: list[str],
    seed_texts: list[str],
    y_units: np.ndarray,
    seed_y: np.ndarray,
    train_rows: np.ndarray,
    cal_rows: np.ndarray,
    fold: np.ndarray | None,
    exclusive: bool,
    seed: int,
    folds: int,
):
    """A linear head on word features (`lexical.py`), trained as the embedding head is: on
    the training rows and the codebook's examples. Returns the vocabulary, the head's weight
    and bias, and the calibration rows' logits: out of fold (`fold`, a fold per row) or, with
    a held-out split, from the head."""
    words = Vocabulary.fit([units[r] for r in train_rows] + seed_texts)
    x, x_seed = words.features(units), words.features(seed_texts)
    weight, bias = fit_linear(
        stacked_rows(x[train_rows], x_seed),
        np.vstack([y_units[train_rows], seed_y]),
        exclusive,
        seed,
    )
    if fold is not None:
        z = out_of_fold_logits(x, y_units, x_seed, seed_y, exclusive, folds, seed, fold=fold)
    else:
        z = x[cal_rows] @ weight.T + bias
    z = np.asarray(z, np.float32)
    # A code no coded example has was learnt from the codebook's own few texts alone: its
    # words say nothing of passages (measured: with `being` left out of the coded examples,
    # the words cut its recall from 0.38 to 0.05), so the word head leaves it as it finds it:
    # no logits (multi-label), or the other codes' mean, which a softmax does not see.
    unknown = ~y_units[train_rows].any(axis=0)
    if unknown.any():
        known = ~unknown
        neutral = exclusive and known.any()
        weight[unknown] = weight[known].mean(axis=0) if neutral else 0.0
        bias[unknown] = bias[known].mean() if neutral else 0.0
        z[:, unknown] = z[:, known].mean(axis=1, keepdims=True) if neutral else 0.0
    return words, weight, bias, z
