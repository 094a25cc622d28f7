"""Calibrate: a head's logits -> probabilities, and where to cut them.

Multi-label codebooks: Platt scaling (a slope and offset per code, or one shared by the codes
with few calibration examples) and a threshold per code at the best F-beta. Exclusive
codebooks: one temperature for the softmax over the codes. Always fitted on scores of
examples the head did not train on (`train` decides which).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np


def platt(logits: np.ndarray, gold: np.ndarray) -> tuple[float, float]:
    """Slope and offset mapping a code's logits to calibrated probabilities."""
    from sklearn.linear_model import LogisticRegression

    if gold.all() or not gold.any():
        return 1.0, 0.0
    m = LogisticRegression(C=100.0, max_iter=1000).fit(logits.reshape(-1, 1), gold)
    return float(m.coef_[0, 0]), float(m.intercept_[0])


def fit_temperature(
    z: np.ndarray,
    gold: np.ndarray,
    pool: Callable[[np.ndarray], np.ndarray] | None = None,
) -> float:
    """For an exclusive codebook: the temperature T that makes softmax(z / T) best predict the
    calibration examples' codes (`gold`, one per row), by log-likelihood. One number for all
    codes, so the highest code, and with it every decision, stays the same; only how sure the
    probabilities say the model is changes. A weak prior (log T normal around 0, standard
    deviation 1) keeps a handful of examples, all coded right, from driving T towards 0 and
    the probabilities to certainty. 1.0 (none) with fewer than two calibration examples.

    With `pool`, the rows of `z` are windows of the examples, and `pool` makes each example's
    probabilities (a row of `gold`) from its windows', as a long passage is scored
    (`classify.pool_scores`); the temperature can then also change which code a long
    example's average favours."""
    from scipy.optimize import minimize_scalar

    n = len(gold)
    if n < 2:
        return 1.0
    z = np.asarray(z, np.float64)
    target = np.asarray(gold).argmax(1)

    def loss(log_t: float) -> float:
        scaled = z / math.exp(log_t)
        scaled = scaled - scaled.max(1, keepdims=True)
        log_prob = scaled - np.log(np.exp(scaled).sum(1, keepdims=True))
        if pool is not None:
            log_prob = np.log(np.maximum(pool(np.exp(log_prob)), 1e-300))
        return -float(log_prob[np.arange(n), target].sum()) + log_t**2 / 2

    # Temperatures from 1/20 to 20: beyond either, the fit is chasing a handful of examples.
    best = minimize_scalar(loss, bounds=(-3.0, 3.0), method="bounded")
    return round(float(math.exp(best.x)), 4)


def calibrate(
    z: np.ndarray, gold: np.ndarray, beta: float, own: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per code: Platt slope and offset, and the threshold with the best F-beta, from the
    calibration examples' logits `z` and codes `gold` (n, k). A code with fewer than `own`
    calibration examples with it, or without it, is not fitted alone: those codes share one
    slope, offset and threshold, fitted on every code's calibration logits pooled. Returns
    slopes, offsets, thresholds and which codes were pooled."""
    gold = gold.astype(bool)
    k = z.shape[1]
    slope, offset = np.ones(k, np.float32), np.zeros(k, np.float32)
    thresholds = np.full(k, 0.5, np.float32)
    pooled = np.minimum(gold.sum(0), (~gold).sum(0)) < own
    if pooled.any():
        a, b = platt(z.ravel(), gold.ravel())
        prob = sigmoid(a * z + b)
        slope[pooled], offset[pooled] = a, b
        thresholds[pooled] = best_threshold(prob.ravel(), gold.ravel(), beta)
    for j in np.flatnonzero(~pooled):
        slope[j], offset[j] = platt(z[:, j], gold[:, j])
        prob = sigmoid(slope[j] * z[:, j] + offset[j])
        thresholds[j] = best_threshold(prob, gold[:, j], beta)
    return slope, offset, thresholds, pooled


def best_threshold(prob: np.ndarray, gold: np.ndarray, beta: float = 1.0) -> float:
    """The threshold with the best F-beta on held-out examples (0.5 when there are none)."""
    if not gold.any():
        return 0.5
    best, best_score = 0.5, -1.0
    b2 = beta * beta
    for t in np.arange(0.05, 0.81, 0.025):
        pred = prob >= t
        tp = np.sum(pred & gold)
        score = (
            (1 + b2) * tp / max(1, (1 + b2) * tp + b2 * np.sum(gold & ~pred) + np.sum(pred & ~gold))
        )
        if score > best_score + 1e-9:
            best, best_score = float(t), score
    return round(best, 3)


def sigmoid(x) -> np.ndarray:
    """Without overflow warnings for very negative logits (a code never seen scores -30,
    which a steep calibration makes far more negative)."""
    x = np.asarray(x)
    return np.exp(-np.logaddexp(0.0, -x.astype(np.float64))).astype(x.dtype)


def logit(p) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)
