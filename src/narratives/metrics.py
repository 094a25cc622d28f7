"""Agreement and accuracy measures shared by `evaluate` (model vs gold) and `agreement`
(coder vs coder): per-code precision, recall, F1 and Cohen's kappa; Krippendorff's alpha."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np


def cohen_kappa(a: np.ndarray, b: np.ndarray) -> float:
    """Cohen's kappa of two binary (or categorical) label vectors; 1.0 when both are constant
    and equal, 0.0 when chance agreement is total but they differ."""
    a, b = np.asarray(a), np.asarray(b)
    if len(a) == 0:
        return float("nan")
    labels = np.union1d(a, b)
    observed = float(np.mean(a == b))
    expected = sum(float(np.mean(a == k)) * float(np.mean(b == k)) for k in labels)
    if expected >= 1.0:
        return 1.0 if observed == 1.0 else 0.0
    return (observed - expected) / (1.0 - expected)


def krippendorff_alpha_nominal(units: Sequence[Sequence[object]]) -> float:
    """Krippendorff's alpha for nominal data. `units` holds, per unit, the values the coders
    gave (missing values left out); units with fewer than two values are ignored."""
    pairable = [list(u) for u in units if len(u) >= 2]
    if not pairable:
        return float("nan")
    values = sorted({v for u in pairable for v in u}, key=str)
    index = {v: i for i, v in enumerate(values)}
    coincidence = np.zeros((len(values), len(values)))
    for unit in pairable:
        m = len(unit)
        for i, x in enumerate(unit):
            for j, y in enumerate(unit):
                if i != j:
                    coincidence[index[x], index[y]] += 1.0 / (m - 1)
    n_c = coincidence.sum(axis=1)
    n = n_c.sum()
    observed_disagreement = coincidence.sum() - np.trace(coincidence)
    expected_disagreement = (n * n - (n_c**2).sum()) / (n - 1)
    if expected_disagreement == 0:
        return 1.0
    return 1.0 - observed_disagreement / expected_disagreement


def per_code_scores(gold: np.ndarray, pred: np.ndarray, codes: Sequence[str]) -> dict:
    """Per code: precision, recall, f1, kappa, support (gold positives). A code that neither
    the gold codes nor the predictions hold has no precision, recall, F1 or kappa to speak
    of (0/0): they are None (JSON null), its support 0."""
    out = {}
    for j, code in enumerate(codes):
        g, p = gold[:, j].astype(bool), pred[:, j].astype(bool)
        if not (g.any() or p.any()):
            out[code] = dict.fromkeys(("precision", "recall", "f1", "kappa")) | {"support": 0}
            continue
        tp = int(np.sum(g & p))
        precision = tp / max(1, int(p.sum()))
        recall = tp / max(1, int(g.sum()))
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        out[code] = {
            "precision": round(precision, 4),
            "recall": round(recall, 4),
            "f1": round(f1, 4),
            "kappa": round(cohen_kappa(g, p), 4),
            "support": int(g.sum()),
        }
    return out


def multilabel_report(gold: np.ndarray, pred: np.ndarray, codes: Sequence[str]) -> dict:
    """Per-code scores plus macro/micro F1, mean kappa and Krippendorff's alpha (each
    passage x code decision a unit with two coders)."""
    per_code = per_code_scores(gold, pred, codes)
    g, p = gold.astype(bool), pred.astype(bool)
    tp, fp, fn = int(np.sum(g & p)), int(np.sum(~g & p)), int(np.sum(g & ~p))
    micro = 2 * tp / max(1, 2 * tp + fp + fn)
    units = [[bool(x), bool(y)] for x, y in zip(g.ravel(), p.ravel(), strict=False)]
    present = _present(g, p)
    # An absent code's None counts only where every code is absent (`_macro`): then as F1 0
    # and kappa 1, what `resampled_scores` gives it, so the bootstrap agrees.
    scores = np.array(
        [[_or(s["f1"], 0.0), _or(s["kappa"], 1.0)] for s in per_code.values()]
    ).reshape(-1, 2)
    return {
        "n": int(gold.shape[0]),
        "macro_f1": round(float(_macro(scores[:, 0], present)), 4),
        "micro_f1": round(micro, 4),
        "mean_kappa": round(float(_macro(scores[:, 1], present)), 4),
        "krippendorff_alpha": round(krippendorff_alpha_nominal(units), 4),
        "per_code": per_code,
        "absent_codes": [code for code, here in zip(codes, present, strict=True) if not here],
    }


def _or(value: float | None, undefined: float) -> float:
    return undefined if value is None else value


def _present(gold: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Per code (last axis), whether the gold codes or the predictions hold it at all: a code
    that neither holds has no F1 or kappa to speak of (0/0; `per_code_scores` writes None),
    so it is left out of macro-F1 and mean kappa, as `agreement` leaves out codes that
    neither coder used and scikit-learn leaves out labels absent from both."""
    return gold.any(-2) | pred.any(-2)


def _macro(values: np.ndarray, present: np.ndarray) -> np.ndarray:
    """The mean over the codes (last axis) that are present; over all codes where none is
    (every passage coded with nothing, and nothing predicted)."""
    values, present = np.asarray(values, dtype=np.float64), np.asarray(present, dtype=bool)
    present = np.where(present.any(-1, keepdims=True), present, True)
    return (values * present).sum(-1) / present.sum(-1)


def exclusive_report(gold: Sequence[str], pred: Sequence[str], codes: Sequence[str]) -> dict:
    """For exclusive codebooks: the multi-label view of one-hot labels, plus accuracy, the
    confusion matrix (rows gold, columns predicted) and alpha over the categories."""
    index = {c: i for i, c in enumerate(codes)}
    g = np.zeros((len(gold), len(codes)), dtype=bool)
    p = np.zeros_like(g)
    for i, (x, y) in enumerate(zip(gold, pred, strict=False)):
        if x in index:
            g[i, index[x]] = True
        if y in index:
            p[i, index[y]] = True
    report = multilabel_report(g, p, codes)
    confusion = [
        [sum(1 for x, y in zip(gold, pred, strict=False) if x == a and y == b) for b in codes]
        for a in codes
    ]
    report["accuracy"] = round(
        float(np.mean([x == y for x, y in zip(gold, pred, strict=False)])), 4
    )
    report["confusion"] = {
        "labels": list(codes),
        "matrix": confusion,
        "matrix_rows": "gold",  # matrix[i][j]: passages coded labels[i], predicted labels[j]
        "matrix_columns": "predicted",
    }
    report["krippendorff_alpha"] = round(
        krippendorff_alpha_nominal([[x, y] for x, y in zip(gold, pred, strict=False)]), 4
    )
    return report


def bootstrap_intervals(
    gold: np.ndarray,
    pred: np.ndarray,
    codes: Sequence[str],
    resamples: int = 1000,
    level: float = 0.95,
    seed: int = 0,
    accuracy: bool = False,
) -> dict:
    """Percentile bootstrap intervals, over passages, for macro/micro F1, mean kappa, each
    code's F1 and kappa, and (`accuracy`, for exclusive codebooks) accuracy: how far the figures
    could move on another sample of passages of the same kind. Passages are drawn with
    replacement `resamples` times (a fixed seed, so a rerun prints the same)."""
    g, p = gold.astype(bool), pred.astype(bool)
    n = len(g)
    f1, kappa, micro, present, right = [], [], [], [], []
    for counts in _draws(n, resamples, seed):
        drawn = resampled_scores(g, p, counts)
        for kept, value in zip((f1, kappa, micro, present), drawn, strict=True):
            kept.append(value)
        right.append(counts @ (g == p).all(1) / n)
    f1, kappa, micro, present = (np.concatenate(x) for x in (f1, kappa, micro, present))

    def span(values: np.ndarray) -> list[float]:
        return _span(values, level)

    def code_span(values: np.ndarray, j: int) -> list[float] | None:
        # A code's F1 and kappa over the resamples that hold it; None if none does (absent
        # from the passages and never predicted: no figure, so no interval either).
        return span(values[present[:, j], j]) if present[:, j].any() else None

    out = {
        "level": level,
        "resamples": resamples,
        "seed": seed,
        "macro_f1": span(_macro(f1, present)),
        "micro_f1": span(micro),
        "mean_kappa": span(_macro(kappa, present)),
        "per_code": {
            code: {"f1": code_span(f1, j), "kappa": code_span(kappa, j)}
            for j, code in enumerate(codes)
        },
    }
    if accuracy:
        out["accuracy"] = span(np.concatenate(right))
    return out


def resampled_scores(
    gold: np.ndarray, pred: np.ndarray, counts: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per resample (a row of `counts`: how many times each passage is drawn), each code's
    F1 and Cohen's kappa, micro F1, and whether each code is present (`_present`), as
    `multilabel_report` scores the drawn passages."""
    g, p = gold.astype(bool), pred.astype(bool)
    counts = np.asarray(counts, dtype=np.float64)
    n = counts.sum(1, keepdims=True)
    tp, g_n, p_n = counts @ (g & p), counts @ g, counts @ p  # (resamples, codes)
    f1 = np.where(g_n + p_n > 0, 2 * tp / np.maximum(g_n + p_n, 1), 0.0)
    observed = (n - g_n - p_n + 2 * tp) / n
    expected = (g_n * p_n + (n - g_n) * (n - p_n)) / n**2
    kappa = np.where(
        expected < 1.0 - 1e-12,
        (observed - expected) / np.maximum(1.0 - expected, 1e-12),
        (observed >= 1.0 - 1e-12).astype(float),
    )
    micro = 2 * tp.sum(1) / np.maximum(g_n.sum(1) + p_n.sum(1), 1)
    return f1, kappa, micro, g_n + p_n > 0


def abstain_report(
    gold: np.ndarray, pred: np.ndarray, uncertain: np.ndarray, codes: Sequence[str]
) -> dict:
    """What the abstain band buys: the share of decisions (passage x code) and of passages
    it sends to a human, macro-F1 over the decisions it keeps (each code over the passages
    whose decision on it is outside the band), and macro-F1 and mean kappa once the
    uncertain decisions are settled as the gold coders settled them (an upper bound: a
    reviewer who agrees with them)."""
    g, p, u = gold.astype(bool), pred.astype(bool), uncertain.astype(bool)
    # A code whose kept decisions hold it neither in gold nor predicted (every decision in
    # the band, or none positive) has no F1 there: left out, as in `multilabel_report`
    # (None if every code is).
    kept = [
        per_code_scores(g[~u[:, j]][:, [j]], p[~u[:, j]][:, [j]], [code])[code]["f1"]
        for j, code in enumerate(codes)
        if (g[~u[:, j], j] | p[~u[:, j], j]).any()
    ]
    settled = multilabel_report(g, np.where(u, g, p), codes)
    return {
        "uncertain_decisions": round(float(u.mean()), 4),
        "passages_with_uncertain": round(float(u.any(1).mean()), 4),
        "confident_macro_f1": round(float(np.mean(kept)), 4) if kept else None,
        "reviewed_macro_f1": settled["macro_f1"],
        "reviewed_mean_kappa": settled["mean_kappa"],
    }


def calibration_report(
    gold: np.ndarray, scores: np.ndarray, exclusive: bool, bins: int = 10
) -> dict:
    """How far a model's probabilities can be taken at their word, against the codes `gold`
    ((n, k) booleans): the Brier score (mean squared distance of each probability from what
    happened; lower is better) and the expected calibration error (the probabilities cut into
    `bins` equal bands from 0 to 1; the gap between a band's mean probability and how often
    it was right, weighted by its share of probabilities). Multi-label: every passage x code
    probability, each against whether the passage has the code. Exclusive: each passage's
    highest probability against whether that code was right, the Brier score summed over the
    codes."""
    g = np.asarray(gold, dtype=bool)
    p = np.asarray(scores, dtype=np.float64)
    if not p.size:
        return {"brier": float("nan"), "ece": float("nan"), "bins": bins}
    if exclusive:
        brier = float(((p - g) ** 2).sum(1).mean())
        confidence = p.max(1)
        right = g[np.arange(len(p)), p.argmax(1)]
    else:
        brier = float(((p - g) ** 2).mean())
        confidence, right = p.ravel(), g.ravel()
    band = np.minimum((confidence * bins).astype(int), bins - 1)
    error = sum(
        abs(confidence[band == b].mean() - right[band == b].mean()) * np.mean(band == b)
        for b in range(bins)
        if (band == b).any()
    )
    return {"brier": round(brier, 4), "ece": round(float(error), 4), "bins": bins}


def paired_difference(
    gold: np.ndarray,
    pred_a: np.ndarray,
    pred_b: np.ndarray,
    resamples: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> dict:
    """Classifier A minus classifier B on the same passages: for macro-F1, micro-F1 and mean
    kappa, the difference, its percentile bootstrap interval (both scored on the same
    resamples, so what the passages share cancels out: far narrower than two separate
    intervals) and the share of resamples in which A scored higher."""
    gold, pred_a, pred_b = (np.asarray(x, dtype=bool) for x in (gold, pred_a, pred_b))

    def scored(pred: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, ...]:
        """Macro-F1, micro-F1 and mean kappa of each resample."""
        f1, kappa, micro, present = resampled_scores(gold, pred, counts)
        return _macro(f1, present), micro, _macro(kappa, present)

    drawn_a, drawn_b = [], []
    for counts in _draws(len(gold), resamples, seed):
        drawn_a.append(scored(pred_a, counts))
        drawn_b.append(scored(pred_b, counts))
    drawn_a = [np.concatenate(part) for part in zip(*drawn_a, strict=True)]
    drawn_b = [np.concatenate(part) for part in zip(*drawn_b, strict=True)]
    whole = np.ones((1, len(gold)))
    whole_a, whole_b = scored(pred_a, whole), scored(pred_b, whole)
    differences = {
        key: (whole_a[i][0] - whole_b[i][0], drawn_a[i] - drawn_b[i])
        for i, key in enumerate(("macro_f1", "micro_f1", "mean_kappa"))
    }
    out: dict = {"level": level, "resamples": resamples, "seed": seed}
    for key, (point, drawn) in differences.items():
        out[key] = {
            "difference": round(float(point), 4),
            "interval": _span(drawn, level),
            "share_better": round(float(np.mean(drawn > 0)), 4),
        }
    return out


def _draws(n: int, resamples: int, seed: int, cells: int = 4_000_000) -> Iterator[np.ndarray]:
    """How many times each of n passages is drawn, with replacement, in each of `resamples`
    resamples: (resamples, n) counts, in chunks of at most `cells` entries, so a file of
    100,000 passages needs 32 MB at a time rather than 800 (the same draws either way)."""
    rng = np.random.default_rng(seed)
    per_chunk = max(1, cells // max(n, 1))
    for start in range(0, resamples, per_chunk):
        yield rng.multinomial(n, np.full(n, 1.0 / n), size=min(per_chunk, resamples - start))


def _span(values: np.ndarray, level: float) -> list[float]:
    tail = (1.0 - level) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return [round(float(low), 4), round(float(high), 4)]
