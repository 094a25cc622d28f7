"""Train: coded examples -> a classifier folder under models/.

Two methods, measured against each other (docs/coding-quality.md;
benchmarks/coding_quality.py and benchmarks/method_cv.py):
- `linear`: logistic-regression heads on frozen sentence embeddings (seconds);
- `fine-tune`: the encoder itself is fine-tuned with a classification head on the examples
  (`finetune.py`), since the frozen encoder captures a passage's topic more than the behaviour
  it shows (minutes on 2 CPU cores);
- `auto` (default): `linear` under 200 examples, `fine-tune` from there (`chosen_method`).
Both also learn from the codebook's definitions and exemplars; `linear` also weighs a head on
the passages' words (`lexical.py`) beside the embedding's. Probabilities are calibrated
and each code's threshold chosen (`calibrate.py`) on scores of examples the head did not
train on: out-of-fold scores of every example for `linear`, a held-out 20% for `fine-tune`
(one fine-tuning, not k); never on the examples being reported on. An exclusive codebook's
examples longer than the encoder reads are trained on as their windows and calibrated on as
they will be scored, by their windows' averaged probabilities (`classify.split_long`).

A model folder (`model.py` loads it) holds `config.json`, `head.safetensors` (and `encoder/`
when it has its own, `lexical.json` when it reads words), `examples.safetensors` +
`examples.json` (for `explain`), `metrics.json` and `MODEL_CARD.md`. Nothing in it executes
code when loaded.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from narratives.calibrate import calibrate, fit_temperature, sigmoid, softmax
from narratives.classify import pool_scores, split_long
from narratives.codebook import Codebook
from narratives.embed import PACKAGED_ALIASES, embed_texts, load_encoder, resolve_model
from narratives.examples import (
    FEW_EXAMPLES,
    Example,
    label_matrix,
    target_matrix,
    thin_codes,
)
from narratives.finetune import fine_tune, torch_device
from narratives.lexical import WEIGHTS, Vocabulary
from narratives.metrics import exclusive_report, multilabel_report
from narratives.model import ABSTAIN_BAND, FORMAT, ModelError, TrainedClassifier

# Windows shorter than this carry too little to code (a sentence or two).
MIN_WINDOW_WORDS = 25

__all__ = ["ModelError", "TrainOptions", "TrainedClassifier", "stratified_folds", "train"]


METHODS = ("auto", "fine-tune", "linear")
# The methods whose models weigh word features beside the embedding unless told a weight
# (`TrainOptions.lexical_weight`); others read words only when given a weight above 0.
WORDS_CHOSEN = ("linear",)


def chosen_method(method: str, n_examples: int) -> str:
    """The method `auto` stands for with this many coded examples: linear heads under
    `FEW_EXAMPLES`, fine-tuning from there. Any other method is itself.

    Under a few hundred, fine-tuning was no better and took minutes, not seconds: on 90 real
    coded passages (4-fold, five fold assignments) both 0.516 macro-F1; on 57 real passages of
    an exclusive codebook linear 0.442, fine-tuned 0.416; trained on 150 written passages of
    a ten-code codebook in another domain and tested on 50, linear 0.704 in 8 s, fine-tuned
    0.470 in 7 min (its 30 calibration examples could not set ten codes' thresholds). On
    more, fine-tuning learnt more from the project's written examples (docs/coding-quality.md,
    "Training on your own coders' passages")."""
    if method != "auto":
        return method
    return "linear" if n_examples < FEW_EXAMPLES else "fine-tune"


@dataclass(frozen=True)
class TrainOptions:
    # fine-tune | linear | auto: linear heads under FEW_EXAMPLES coded examples, fine-tuning
    # from there (`chosen_method`).
    method: str = "auto"
    epochs: int = 4
    batch_size: int = 32
    # At least this many optimiser steps, however few the examples: 4 epochs of 90 examples
    # are 12 steps, too few to move the encoder (measured with benchmarks/method_cv.py, see
    # docs/coding-quality.md).
    min_steps: int = 150
    # Weight of a supervised contrastive loss beside the classification loss: passages that
    # share a code are pulled together in the encoder's space (measured: +0.08 macro-F1 on the
    # selection half of the development passages; 0 turns it off).
    contrastive: float = 0.5
    temperature: float = 0.1
    learning_rate: float = 4e-5
    # How fine-tuning scores a passage per code. "definitions": by its cosine similarity to
    # the code's description (label, definition, what counts) embedded by the same encoder as
    # it trains, times a learnt scale, plus a learnt offset, so the encoder learns to place
    # passages near what their codes mean (measured on the unseen development passages, three
    # seeds: mean AUC 0.839-0.855 against 0.808-0.824 for six seeds of the free head; macro-F1
    # about level, as thresholds set on written examples limit it; docs/coding-quality.md,
    # "The codes' definitions as the head").
    # "free": a linear layer learnt from scratch (models before it).
    # For `--method linear`, "definitions" gives each code's logistic regression its
    # description's direction as one more, cheaply penalised feature: the cosine similarity
    # to the description, times `definitions_weight` (a larger weight lets the head lean on
    # the description more; the head is still one linear layer). Measured
    # (docs/coding-quality.md, "The codes' definitions in linear heads"): on 90 real passages (benchmarks/method_cv.py, 5 fold
    # assignments) macro-F1 0.492 -> 0.516; trained on 90-1,200 written passages, the
    # development passages coded +0.01 to +0.09 better and held-out written ones about level;
    # exclusive: 76 real passages 0.417 -> 0.442. 10 was too much (exclusive, written: -0.09).
    head: str = "definitions"
    definitions_weight: float = 3.0
    # Batches of passages of similar length (`batches`): 1.75x faster on the shipped
    # examples, but 0.02-0.05 lower macro-F1 on the selection half of the development passages
    # (two seeds), so off unless time matters more.
    group_by_length: bool = False
    # Fine-tuning can encode each batch in pieces of this many passages of similar length,
    # put back in order for the losses (0: each batch whole, padded to its longest; None:
    # pieces of `finetune.AUTO_PIECES` on a CPU where whole batches would be over half
    # padding, else whole). benchmarks/micro_batch.py, 21 steps in bfloat16: where a tenth of
    # the passages are ~150-340 words among short ones, 125 s whole and 50 s in pieces of 8;
    # on the shipped examples (44-47% padding, so whole by default) 40 s and 32-37 s. The
    # arithmetic is the same, but dropout draws its masks piece by piece, so a seed trains
    # another model: two models of the shipped recipe in pieces scored 0.03-0.04 lower on the
    # development passages than their seeds whole, and on mostly-padded batches two seeds in
    # pieces were level with whole ones at half the time (seed noise is as large either way;
    # docs/coding-quality.md, "Training time").
    micro_batch: int | None = None
    # Fine-tuning stops once the encoder has read this many tokens (padding included): fewer
    # epochs, so long or many passages take minutes instead of half an hour, at a cost
    # (benchmarks/token_budget.py: 3,000 passages of ~150 words, 4 epochs in 25 min; a budget of
    # 1,000,000 read 1.6 epochs in 10.5 min, held-out kappa 0.66 -> 0.49). 0: no bound. The
    # shipped examples' 4 epochs read 0.92 million tokens.
    token_budget: int = 0
    # Fine-tuning's matrix products in bfloat16 (autocast; weights and losses stay float32):
    # "auto" where the CPU multiplies bfloat16 natively (AMX), "fp32" never, "bf16" always.
    # Measured on the shipped examples: `train` 261 s instead of 364 s; seeds 0 and 1 ranked
    # the development passages as well (mean AUC 0.817 / 0.820 against 0.817 / 0.821) and
    # scored 0.553 / 0.595 macro-F1 on their selection half against 0.554 / 0.591.
    precision: str = "auto"
    # Where fine-tuning runs and examples are embedded, as torch names it ("cpu", "cuda",
    # "cuda:1"). None: a CUDA GPU where torch sees one, else the CPU.
    device: str | None = None
    holdout: float = 0.2
    # Multi-label: passages longer than this many words are scored by windows of whole
    # sentences of at most this length, each code taking its highest window (`classify`).
    # None: the 95th percentile of the examples' lengths, at most what the encoder reads;
    # 0: every passage scored whole. More windows give a code more chances to pass its
    # threshold, so set it to the length of the passages you will code where your examples
    # are much shorter than those. Exclusive: a passage longer than what the encoder reads
    # (None) or than this is scored by windows whose probabilities are averaged, instead of
    # being cut short by the encoder; 0: whole, cut short.
    window_words: int | None = None
    # Exclusive: an example longer than `window_words` is trained on as its windows, each
    # carrying the example's code, and calibrated on as it will be scored (its windows'
    # averaged probabilities), instead of being cut short where the encoder stops reading
    # (measured in benchmarks/long_exclusive.py --long-training; docs/coding-quality.md).
    # False: trained on whole, as before.
    train_windows: bool = True
    # The linear method calibrates on out-of-fold scores of all examples instead of a held-out
    # split (cheap for a linear head; every example both trains and calibrates).
    folds: int = 5
    # Train on the codebook's definitions and exemplars too (never calibrated on).
    codebook_examples: bool = True
    # Thresholds maximise F-beta on the calibration examples. beta 1 when the passages to code
    # are like the coded examples (measured: best on real coded passages, see
    # benchmarks/method_cv.py); the shipped model uses 2, favouring recall, because its written
    # examples are plainer than real passages, which score lower.
    threshold_beta: float = 1.0
    # A code gets a calibration (Platt slope and offset) and a threshold of its own when at
    # least this many calibration examples have it and as many do not; codes with fewer share
    # one, fitted on all codes' calibration scores together (`calibrate`). Fitted alone on a
    # few, they swung wildly (a 20% hold-out of 90 passages has 1-8 of a code: slopes 0.02 to
    # 5.6, once below 0). Measured with F1 thresholds, fine-tuning gained on every set: 90
    # real passages (benchmarks/method_cv.py, macro-F1 0.473 -> 0.516) and 200-800 written
    # ones, scored on held-out written and on the development passages (+0.01 to +0.05);
    # linear heads about level. The shipped model, whose codes have 85-192 calibration
    # examples each, keeps its own (docs/coding-quality.md, "Calibration with few
    # examples"). 0: every code alone, as before.
    own_calibration: int = 50
    seed: int = 0
    embedding_model: str = "all-MiniLM-L6-v2"
    # linear: the preceding turn's embedding beside the passage's (measured on written
    # interview answers, benchmarks/context.py: +0.03 to +0.07 macro-F1 on the base encoder,
    # about none on a fine-tuned one); off by default: the real coded passages carry none.
    context: bool = False
    # A head on word features (TF-IDF of words and word pairs, `lexical.py`) whose logits are
    # added to the embedding head's times this weight. None: for `WORDS_CHOSEN` methods
    # (linear), the one of `lexical.WEIGHTS` (0 to 2) with the best calibration macro-F1, so
    # codes the words do not mark keep 0; other methods none. Measured through
    # benchmarks/method_cv.py (4 folds x 5; docs/coding-quality.md, "Lexical features"):
    # interview talk or report prose on the 120 development passages 0.779 -> 0.851, the six
    # dimensions 0.516 -> 0.545, two other codebooks +0.01, the six made exclusive 0.442 ->
    # 0.434. Fine-tuned models gained nothing from words on three sets, so they weigh none.
    lexical_weight: float | None = None


def _stratum(labels: np.ndarray) -> np.ndarray:
    """Each example's first code (-1 for none): what splits and folds are stratified on."""
    return np.where(labels.any(axis=1), labels.argmax(axis=1), -1)


def _split(n: int, labels: np.ndarray, holdout: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Train / calibration indices, stratified on `_stratum`."""
    rng = np.random.RandomState(seed)
    key = _stratum(labels)
    cal = []
    for k in np.unique(key):
        members = np.flatnonzero(key == k)
        rng.shuffle(members)
        cal.extend(
            members[: max(1, int(round(holdout * len(members))))] if len(members) > 1 else []
        )
    cal_idx = np.array(sorted(cal), dtype=int)
    train_idx = np.setdiff1d(np.arange(n), cal_idx)
    return train_idx, cal_idx


def stratified_folds(labels: np.ndarray, k: int, seed: int) -> np.ndarray:
    """A fold number per example, stratified on `_stratum`."""
    rng = np.random.RandomState(seed)
    key = _stratum(labels)
    fold = np.zeros(len(labels), dtype=int)
    start = 0
    for k_ in np.unique(key):
        members = np.flatnonzero(key == k_)
        rng.shuffle(members)
        fold[members] = (start + np.arange(len(members))) % k
        start += len(members)  # rare codes do not all land in fold 0
    return fold


def _out_of_fold_logits(
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
        weight, bias = _fit_linear(
            _rows(x[~test], extra_x),
            np.vstack([y[~test], extra_y]),
            exclusive,
            seed,
            anchors,
        )
        z[test] = x[test] @ weight.T + bias
    return z


def _rows(*blocks):
    """Blocks of rows stacked: dense arrays, or sparse ones (word features)."""
    from scipy import sparse

    if any(sparse.issparse(b) for b in blocks):
        return sparse.vstack(blocks, format="csr")
    return np.vstack(blocks)


def _fit_linear(
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


def train(
    codebook: Codebook,
    examples: list[Example],
    examples_sha256: str,
    out: Path,
    opts: TrainOptions = TrainOptions(),
    log=print,
) -> dict:
    """Train and save a model folder; return its metrics on the examples it calibrated on."""
    from safetensors.numpy import save_file

    if opts.method not in METHODS:
        raise ModelError(f"unknown method '{opts.method}': use auto, fine-tune or linear")
    if opts.window_words and opts.window_words < MIN_WINDOW_WORDS:
        raise ModelError(
            f"--window-words {opts.window_words}: use 0 (every passage whole) or at least "
            f"{MIN_WINDOW_WORDS}; a window of fewer words carries too little to code"
        )
    if opts.method == "auto":
        opts = replace(opts, method=chosen_method(opts.method, len(examples)))
        log(
            f"--method auto: {opts.method} for {len(examples)} examples (linear heads under "
            f"{FEW_EXAMPLES}, fine-tuning from there; name --method to choose)"
        )
    if opts.head not in ("definitions", "free"):
        raise ModelError(f"unknown head '{opts.head}': use definitions or free")
    if opts.device is not None:
        torch_device(opts.device)  # a wrong name is refused before any work
    if opts.context and opts.method != "linear":
        raise ModelError("--context is built for --method linear only (add --method linear)")
    if opts.context and not any(e.context for e in examples):
        raise ModelError(
            '--context: no example has a "context" (the preceding turn); add them or leave '
            "--context out"
        )
    codes = codebook.ids
    y = label_matrix(examples, codes)
    texts = [e.text for e in examples]
    window = _window_words(texts, codebook.exclusive, opts.embedding_model, opts.window_words)
    # Exclusive: a long example is trained on as its windows (`units`, each with the
    # example's code; `owner`: the example each came from), and calibrated on as it will be
    # scored. Multi-label codes may show in one window only, so their examples stay whole.
    by_windows = codebook.exclusive and opts.train_windows
    units, owner = split_long(texts, window if by_windows else None)
    windowed = np.flatnonzero(np.bincount(owner, minlength=len(texts)) > 1)
    # The codebook's definitions and exemplars are trained on, never calibrated on: they are
    # unlike the passages to be coded, so no guide to thresholds.
    seeds = codebook.seed_examples() if opts.codebook_examples else []
    seed_texts = [text for text, _ in seeds]
    seed_y = np.array([[c == code for c in codes] for _, code in seeds], dtype=bool).reshape(
        len(seeds), len(codes)
    )
    cross_validate = opts.method == "linear" and opts.folds > 1 and len(examples) >= opts.folds
    if cross_validate:
        train_idx, cal_idx = np.arange(len(examples)), np.arange(len(examples))
        how = f"all {len(examples)} calibrate out of fold ({opts.folds} folds)"
    else:
        train_idx, cal_idx = _split(len(examples), y, opts.holdout, opts.seed)
        how = f"{len(train_idx)} to train, {len(cal_idx)} held out to calibrate"
    out = Path(out)
    staging = out.with_name(out.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    log(f"{len(examples)} examples (+{len(seeds)} from the codebook): {how}")
    if len(windowed):
        log(
            f"{len(windowed)} examples are longer than {window} words "
            f"({'--window-words' if opts.window_words else 'what the encoder reads'}): "
            f"trained on as their {int(np.isin(owner, windowed).sum())} windows of whole "
            "sentences, each with the example's code, and calibrated on by their windows' "
            "averaged probabilities, as they will be scored"
        )
    for note in thin_codes(codebook, y.sum(0), opts.codebook_examples):
        log(f"note: {note}")

    train_rows = np.flatnonzero(np.isin(owner, train_idx))
    cal_rows = np.flatnonzero(np.isin(owner, cal_idx))
    position = np.full(len(texts), -1)
    position[cal_idx] = np.arange(len(cal_idx))
    cal_owner = position[owner[cal_rows]]  # each calibration row's example, among cal_idx
    cal_units = [units[r] for r in cal_rows]
    # An exclusive model scores a long passage by its windows' averaged probabilities.
    pool = (
        (lambda p: pool_scores(p, cal_owner, len(cal_idx), "mean", cal_units))
        if len(windowed)
        else None
    )
    train_texts = [units[r] for r in train_rows] + seed_texts
    train_y = np.vstack([y[owner[train_rows]], seed_y])
    voted = sum(bool(examples[i].votes) for i in train_idx)
    soft = None
    if voted and opts.method == "fine-tune" and not codebook.exclusive:
        # Coders' votes soften the classification targets (measured on the shipped examples,
        # seeds 0 and 1: selection half macro-F1 0.554 / 0.618 against 0.554 / 0.591, mean
        # AUC 0.839 / 0.855 against 0.830 / 0.847; docs/coding-quality.md, "Coders' votes").
        soft = np.vstack([target_matrix(examples, codes)[owner[train_rows]], seed_y])
        log(f"{voted} examples carry coders' votes: they soften the classification targets")
    elif voted:
        log(f'{voted} examples carry "votes": used by fine-tuning multi-label codebooks only')
    tuned = None
    lexical = None
    unit_fold = None  # linear, calibrated out of fold: each row's fold
    # Both methods can score by the codes' descriptions (`--head definitions`).
    descriptions = [code.description() for code in codebook.codes]
    if opts.method == "fine-tune":
        if len(examples) < FEW_EXAMPLES:
            log(
                f"only {len(examples)} examples: compare --method linear, which takes seconds; on "
                "57-90 real coded passages it coded as well as fine-tuning or better "
                "(docs/coding-quality.md); "
                "`narratives cross-validate` measures either on your own examples"
            )
        log(f"fine-tuning {opts.embedding_model} ...")
        weight, bias, tuned = fine_tune(
            train_texts,
            train_y,
            codebook.exclusive,
            opts,
            staging / "encoder",
            log,
            soft,
            descriptions,
        )
        encoder_name = str(staging / "encoder")
        unit_vectors = embed_texts(units, encoder_name, device=opts.device, log=log)
        z_cal = unit_vectors[cal_rows] @ weight.T + bias
    else:
        log(f"embedding with {opts.embedding_model} ...")
        encoder_name = opts.embedding_model
        base = Path(resolve_model(encoder_name))
        if base.is_dir() and encoder_name.lower() not in PACKAGED_ALIASES:
            # A local encoder (another model's fine-tuned one, say) is copied in: the model
            # folder stays self-contained, and its cached vectors are keyed by this model.
            shutil.copytree(base, staging / "encoder")
        unit_vectors = embed_texts(units, encoder_name, device=opts.device, log=log)
        seed_vectors = (
            embed_texts(seed_texts, encoder_name, device=opts.device)
            if seed_texts
            else unit_vectors[:0]
        )
        features = unit_vectors
        if opts.context:
            from narratives.classify import context_vectors

            around = context_vectors(
                [e.context for e in examples],
                lambda t: embed_texts(t, encoder_name, device=opts.device),
                unit_vectors.shape[1],
            )
            features = np.hstack([unit_vectors, around[owner]])
            seed_vectors = np.hstack([seed_vectors, np.zeros_like(seed_vectors)])
        anchors = None
        if opts.head == "definitions" and opts.definitions_weight > 0:
            described = embed_texts(descriptions, encoder_name, device=opts.device)
            anchors = np.zeros((len(codes), features.shape[1]), np.float32)
            anchors[:, : described.shape[1]] = opts.definitions_weight * described
            log(
                "each code's head also reads the passage's similarity to the code's description "
                f"(weight {opts.definitions_weight:g}; --head free: not)"
            )
        if cross_validate:  # rows are examples, or windows of long exclusive ones
            unit_fold = stratified_folds(y, opts.folds, opts.seed)[owner]
        weight, bias = _fit_linear(
            np.vstack([features[train_rows], seed_vectors]),
            train_y,
            codebook.exclusive,
            opts.seed,
            anchors,
        )
        if cross_validate:
            z_cal = _out_of_fold_logits(
                features,
                y[owner],
                seed_vectors,
                seed_y,
                codebook.exclusive,
                opts.folds,
                opts.seed,
                anchors,
                fold=unit_fold,
            )
        else:
            z_cal = features[cal_rows] @ weight.T + bias
    words = None
    if (opts.method in WORDS_CHOSEN and opts.lexical_weight is None) or opts.lexical_weight:
        words, word_weight, word_bias, z_words = _word_head(
            units,
            seed_texts,
            y[owner],
            seed_y,
            train_rows,
            cal_rows,
            unit_fold,
            codebook.exclusive,
            opts,
        )
        candidates = WEIGHTS if opts.lexical_weight is None else (0.0, opts.lexical_weight)
        tried = {
            w: _calibration_f1(z_cal + w * z_words, y[cal_idx], codebook.exclusive, opts, pool)
            for w in candidates
        }
        chosen = (
            max(tried, key=lambda w: (round(tried[w], 6), -w))  # the smaller on ties
            if opts.lexical_weight is None
            else opts.lexical_weight
        )
        log(
            f"word features ({len(words.terms):,} words and word pairs, TF-IDF): calibration "
            "macro-F1 by the weight of their head beside the embedding's: "
            + ", ".join(f"{w:g}: {f:.3f}" for w, f in tried.items())
            + f"; {'chosen' if opts.lexical_weight is None else 'given'} {chosen:g}"
        )
        lexical = {
            "weight": chosen,
            "terms": len(words.terms) if chosen else 0,
            "calibration_macro_f1": {f"{w:g}": round(f, 4) for w, f in tried.items()},
        }
        if chosen:  # the word head is stored already times its weight
            word_weight = chosen * word_weight
            bias = bias + chosen * word_bias
            z_cal = z_cal + chosen * z_words
        else:
            words = None
    vectors = _example_vectors(unit_vectors, owner, len(texts))
    slope = np.ones(len(codes), np.float32)
    offset = np.zeros(len(codes), np.float32)
    thresholds = np.full(len(codes), 0.5, np.float32)
    pooled = np.zeros(len(codes), bool)
    temperature = None
    if codebook.exclusive:
        # One softmax over the codes: the probabilities are calibrated by one temperature,
        # fitted on the same calibration examples as a multi-label model's Platt scaling.
        temperature = fit_temperature(z_cal, y[cal_idx], pool)
        slope[:] = 1.0 / temperature
        log(
            f"probabilities calibrated by a temperature of {temperature:g} "
            f"(fitted on {len(cal_idx)} calibration examples)"
        )
    else:
        slope, offset, thresholds, pooled = calibrate(
            z_cal, y[cal_idx], opts.threshold_beta, opts.own_calibration
        )
        if pooled.any():
            log(
                f"{pooled.sum()} of {len(codes)} codes have fewer than {opts.own_calibration} "
                "calibration examples with or without them: they share one calibration and "
                "threshold (--own-calibration)"
            )
    head = {
        "weight": weight,
        "bias": bias,
        "slope": slope,
        "offset": offset,
        "thresholds": thresholds,
    }
    if words is not None:
        head["lexical_weight"] = word_weight.astype(np.float32)
        head["lexical_idf"] = words.idf
        words.save(staging)
    save_file(head, staging / "head.safetensors")
    save_file({"vectors": vectors.astype(np.float32)}, staging / "examples.safetensors")
    (staging / "examples.json").write_text(
        json.dumps([{"text": e.text, "codes": list(e.codes)} for e in examples], ensure_ascii=False)
    )
    model_id = f"{out.name}@{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}-{examples_sha256[:8]}"
    config = {
        "format": FORMAT,
        "format_version": 1,
        "model_id": model_id,
        "method": opts.method,
        "codes": codes,
        "exclusive": codebook.exclusive,
        "codebook": {
            "name": codebook.name,
            "version": codebook.version,
            "sha256": codebook.sha256,
            "content": codebook.content(),
        },
        "embedding_model": opts.embedding_model,
        "encoder": "encoder" if (staging / "encoder").is_dir() else None,
        "training_data_sha256": examples_sha256,
        "n_examples": len(examples),
        "n_train": int(len(train_idx)),
        "n_voted": int(voted) if soft is not None else 0,  # trained on coders' votes
        "n_calibration": int(len(cal_idx)),
        "n_codebook_examples": len(seeds),
        "calibration": "out-of-fold" if cross_validate else "held-out",
        "options": opts.__dict__,
        "fine_tuning": tuned,  # what it did: optimiser steps, epochs, tokens read
        "abstain_band": ABSTAIN_BAND,
        "window_words": window,
        # How a long passage's windows make its scores (`classify.pool_scores`).
        "window_pooling": "mean" if codebook.exclusive else "max",
        # Examples longer than that, trained and calibrated on as their windows (exclusive).
        "windowed_examples": int(len(windowed)),
        "context": opts.context,
        # linear: the word head's weight beside the embedding head's (0: none), with the
        # calibration macro-F1 of each weight tried (`lexical.py`); None: not tried.
        "lexical": lexical,
        "thresholds": dict(zip(codes, [float(t) for t in thresholds], strict=False)),
        # Exclusive codebooks: probabilities are softmax(logits / temperature).
        "temperature": temperature,
        # Codes calibrated together (`calibrate`): too few calibration examples on their own.
        "pooled_calibration": [c for c, p in zip(codes, pooled, strict=True) if p],
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    if config["window_words"]:
        pooled_how = (
            "their probabilities averaged" if codebook.exclusive else "each code by its highest"
        )
        log(
            f"passages longer than {config['window_words']} words will be scored by windows of "
            f"whole sentences of at most that length, {pooled_how} (--window-words N to "
            "change, 0 for whole)"
        )
    (staging / "config.json").write_text(json.dumps(config, indent=2))
    model = TrainedClassifier.load(staging)
    metrics = {
        "calibration": config["calibration"],
        "calibration_split": evaluate_logits(
            model, z_cal, y[cal_idx], cal_owner if len(windowed) else None, cal_units
        ),
    }
    (staging / "metrics.json").write_text(json.dumps(metrics, indent=2))
    for note in _never_coded(metrics["calibration_split"], config["method"]):
        log(f"note: {note}")
    if out.exists():
        log(f"replacing the model that was in {out}")
        shutil.rmtree(out)
    staging.rename(out)
    (out / "MODEL_CARD.md").write_text(model_card(config, metrics))
    return metrics


def _word_head(
    units: list[str],
    seed_texts: list[str],
    y_units: np.ndarray,
    seed_y: np.ndarray,
    train_rows: np.ndarray,
    cal_rows: np.ndarray,
    fold: np.ndarray | None,
    exclusive: bool,
    opts: TrainOptions,
):
    """A linear head on word features (`lexical.py`), trained as the embedding head is: on
    the training rows and the codebook's examples. Returns the vocabulary, the head's weight
    and bias, and the calibration rows' logits: out of fold (`fold`, a fold per row) or, with
    a held-out split, from the head."""
    words = Vocabulary.fit([units[r] for r in train_rows] + seed_texts)
    x, x_seed = words.features(units), words.features(seed_texts)
    weight, bias = _fit_linear(
        _rows(x[train_rows], x_seed), np.vstack([y_units[train_rows], seed_y]), exclusive, opts.seed
    )
    if fold is not None:
        z = _out_of_fold_logits(
            x, y_units, x_seed, seed_y, exclusive, opts.folds, opts.seed, fold=fold
        )
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


def _calibration_f1(z: np.ndarray, gold: np.ndarray, exclusive: bool, opts, pool) -> float:
    """Macro-F1 of the calibration examples decided from logits `z` as a model decides them,
    calibrated on the same examples: to compare heads on equal terms, never to report."""
    if exclusive:
        p = softmax(z / fit_temperature(z, gold, pool))
        p = pool(p) if pool else p
        pred = p == p.max(axis=1, keepdims=True)
    else:
        slope, offset, thresholds, _ = calibrate(z, gold, opts.threshold_beta, opts.own_calibration)
        pred = sigmoid(slope * z + offset) >= thresholds
    return multilabel_report(gold, pred, [str(j) for j in range(gold.shape[1])])["macro_f1"]


def _example_vectors(unit_vectors: np.ndarray, owner: np.ndarray, n: int) -> np.ndarray:
    """Each example's vector, for `explain`'s nearest examples: its own, or, for an example
    trained on as its windows, their mean, made unit length again."""
    if len(owner) == n:
        return unit_vectors
    total = np.zeros((n, unit_vectors.shape[1]), np.float64)
    np.add.at(total, owner, unit_vectors)
    return (total / np.linalg.norm(total, axis=1, keepdims=True)).astype(np.float32)


def _window_words(
    texts: list[str], exclusive: bool, encoder: str, chosen: int | None = None
) -> int | None:
    """How long a passage this model scores whole: `chosen` (`--window-words`; 0: always
    whole), else, multi-label, the 95th percentile of its examples' lengths in words, at most
    what the encoder reads (about 0.6 words per token, to be safe). Longer passages are scored
    by windows of that size (`classify.score_texts`). Exclusive: what the encoder reads, since
    one code per passage is not the highest code of any window; windows (their probabilities
    averaged) only keep a long passage's end from being cut off."""
    if not texts or chosen == 0:
        return None
    if chosen is not None:
        return chosen
    readable = int(0.6 * (load_encoder(encoder).max_seq_length or 256))
    if exclusive:
        return readable
    typical = int(np.ceil(np.percentile([len(t.split()) for t in texts], 95)))
    return max(MIN_WINDOW_WORDS, min(typical, readable))


def _never_coded(report: dict, method: str) -> list[str]:
    """A note for each code that some calibration examples have but the model coded on none
    of them: its threshold sits above every score it gives (a code with few examples; on
    150 examples of ten codes, fine-tuning never coded one with 15)."""
    notes = []
    for code, s in report["per_code"].items():
        if s["support"] and s["recall"] == 0:
            notes.append(
                f"'{code}' was coded on none of the {s['support']} calibration examples that have "
                "it: code more examples of it"
                + (", or compare --method linear" if method == "fine-tune" else "")
            )
    return notes


def evaluate_logits(
    model: TrainedClassifier,
    logits: np.ndarray,
    gold: np.ndarray,
    owner: np.ndarray | None = None,
    units: list[str] | None = None,
) -> dict:
    """Metrics of the model's decisions, from its head's logits, against gold labels. With
    `owner`, the logits are of windows (`units`) of the examples, pooled as the model pools
    a long passage's windows."""
    scores = model.scores_from_logits(logits)
    if owner is not None:
        scores = pool_scores(scores, owner, len(gold), model.window_pooling, units or [])
    pred = model.decide(scores)
    codes = model.codebook.ids
    if model.codebook.exclusive:
        return exclusive_report(
            [codes[i] for i in gold.argmax(1)], [codes[i] for i in pred.argmax(1)], codes
        )
    report = multilabel_report(gold, pred, codes)
    report["abstained"] = round(float(model.uncertain(scores).mean()), 4)
    return report


def _calibration_words(config: dict) -> str:
    if config.get("calibration") == "out-of-fold":
        return (
            f"all {config['n_calibration']} examples trained on; probabilities calibrated and "
            f"thresholds chosen on out-of-fold scores ({config['options']['folds']} folds)"
        )
    return (
        f"{config['n_train']} trained on, {config['n_calibration']} held out to calibrate "
        "probabilities and choose thresholds"
    )


def _decision_words(config: dict) -> str:
    """How the model decides: thresholds (multi-label) or the highest code (exclusive)."""
    if config["exclusive"]:
        temperature = config.get("temperature")
        how = (
            f"softmax of the logits divided by a temperature of {temperature:g}, fitted on the "
            "calibration examples"
            if temperature
            else "softmax of the logits, not calibrated"
        )
        return (
            f"Decisions: the code with the highest probability ({how}); abstain: a passage "
            "whose highest probability is below 0.5"
        )
    thresholds = ", ".join(f"{k} {v:.2f}" for k, v in config["thresholds"].items())
    return (
        f"Thresholds (best F{config['options']['threshold_beta']:g} on the calibration "
        f"examples): {thresholds}{_pooled_words(config)}; abstain band: log-odds within "
        f"{config['abstain_band']} of the threshold"
    )


def _pooled_words(config: dict) -> str:
    pooled = config.get("pooled_calibration")
    if not pooled:
        return ""
    return (
        f" ({', '.join(pooled)}: fewer than {config['options']['own_calibration']} calibration "
        "examples with or without the code, so calibrated together, on all codes' scores, "
        "with one threshold)"
    )


def _votes_words(config: dict) -> str:
    if not config.get("n_voted"):
        return ""
    return (
        f"; for {config['n_voted']} of those trained on, the share of coders who gave each code "
        "was the classification target (thresholds are chosen on the codes)"
    )


def _windowed_words(config: dict) -> str:
    n = config.get("windowed_examples")
    if not n:
        return ""
    return (
        f"; the {n} examples longer than that were trained on as their windows, each with "
        "the example's code, and calibrated on as they are scored"
    )


def _window_words_text(config: dict) -> str:
    if not config.get("window_words"):
        return "scored whole"
    chosen = config.get("options", {}).get("window_words")
    if config.get("window_pooling") == "mean":
        why = "set with --window-words" if chosen else "what the encoder reads"
        return (
            f"a passage of more than {config['window_words']} words ({why}) is scored by its "
            "windows of whole sentences of at most that length, their probabilities averaged "
            "(weighted by words), instead of being cut short" + _windowed_words(config)
        )
    why = (
        "set with --window-words"
        if chosen
        else "the 95th percentile of the examples' lengths, at most what the encoder reads"
    )
    return (
        f"a passage of more than {config['window_words']} words ({why}) is scored by its "
        "windows of whole "
        "sentences of at most that length, each code taking its highest window score; "
        "thresholds were chosen on whole examples"
    )


def _lexical_words(config: dict) -> str:
    lexical = config.get("lexical")
    if not lexical:
        return "not read beside the embedding"
    tried = ", ".join(f"{w}: {f:.3f}" for w, f in lexical["calibration_macro_f1"].items())
    if not lexical["weight"]:
        return f"not read (calibration macro-F1 by the weight of a word head: {tried})"
    return (
        f"reads the words of passages too: a head on TF-IDF of {lexical['terms']:,} words and "
        f"word pairs adds its logits times {lexical['weight']:g} (calibration macro-F1 by that "
        f"weight: {tried})"
    )


def model_card(config: dict, metrics: dict) -> str:
    cal = metrics["calibration_split"]

    def cell(value: float | None) -> str:  # None: a code neither coded nor predicted (0/0)
        return "n/a" if value is None else f"{value:.2f}"

    rows = "\n".join(
        f"| {c} | {cell(s['precision'])} | {cell(s['recall'])} | {cell(s['f1'])} | {cell(s['kappa'])} | {s['support']} |"
        for c, s in cal["per_code"].items()
    )
    extra = metrics.get("extra", "")
    options = config["options"]
    if config["method"] == "fine-tune":
        method = "encoder fine-tuned with a classification head"
        if options.get("head", "free") == "definitions":
            method += " (each code scored by a passage's similarity to its embedded description)"
        if options.get("contrastive"):
            method += f" and a supervised contrastive loss (weight {options['contrastive']:g})"
        if tuned := config.get("fine_tuning"):
            how = ", matrix products in bfloat16" if tuned.get("precision") == "bf16" else ""
            if tuned.get("micro_batch"):
                how += f", batches encoded in pieces of {tuned['micro_batch']}"
            how += f", on {tuned['device']}" if tuned.get("device") else ""
            method += (
                f"; {tuned['steps']} steps of {options['batch_size']} ({tuned['epochs']:g} "
                f"epochs, {tuned['tokens']:,} tokens read{how})"
            )
    else:
        method = "logistic regression on frozen embeddings"
        if options.get("head") == "definitions" and options.get("definitions_weight"):
            method += (
                " and on each passage's similarity to the code's embedded description (weight "
                f"{options['definitions_weight']:g})"
            )
    return f"""# Model card: {config["model_id"]}

- Codebook: {config["codebook"]["name"]} version {config["codebook"]["version"]} (sha256 {config["codebook"]["sha256"][:12]}...), {"exclusive" if config["exclusive"] else "multi-label"}, codes: {", ".join(config["codes"])}
- Method: {config["method"]} ({method}), base encoder {config["embedding_model"]}
- Training data: {config["n_examples"]} examples (sha256 {config["training_data_sha256"][:12]}...) and {config.get("n_codebook_examples", 0)} definitions and exemplars from the codebook; {_calibration_words(config)}{_votes_words(config)}
- {_decision_words(config)}
- Long passages: {_window_words_text(config)}
- Preceding turn: {"its embedding is read beside the passage's" if config.get("context") else "not used"}
- Words: {_lexical_words(config)}
- Created: {config["created_at"]}

## Calibration examples (n={cal["n"]})

Macro-F1 {cal["macro_f1"]:.3f}, micro-F1 {cal["micro_f1"]:.3f}, mean kappa {cal["mean_kappa"]:.3f}, Krippendorff's alpha {cal["krippendorff_alpha"]:.3f}.
These examples also chose the thresholds, so the figures are optimistic; see `narratives evaluate` on unseen passages.

| code | precision | recall | F1 | kappa | support |
|---|---|---|---|---|---|
{rows}
{extra}
## Intended use and limits

Suggests codes for passages of interviews and reports like those it was trained on. It is a
first coder, not the last: review uncertain suggestions (`narratives review`) and measure it
against your own coders (`narratives evaluate`, `narratives agreement`) before relying on it.
"""
