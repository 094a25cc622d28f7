"""Train: coded examples -> a classifier folder under models/.

Two methods, measured against each other (docs/coding-quality.md;
benchmarks/coding_quality.py and benchmarks/method_cv.py):
- `linear`: logistic-regression heads on frozen sentence embeddings (`linear.py`; seconds);
- `fine-tune`: the encoder itself is fine-tuned with a classification head on the examples
  (`finetune.py`), since the frozen encoder captures a passage's topic more than the behaviour
  it shows (minutes on 2 CPU cores);
- `auto` (default): `linear` under 200 examples, `fine-tune` from there (`chosen_method`).
Both also learn from the codebook's definitions and exemplars; `linear` also weighs a head on
the passages' words (`lexical.py`, `linear.word_head`) beside the embedding's. Probabilities
are calibrated and each code's threshold chosen (`calibrate.py`) on scores of examples the
head did not train on: out-of-fold scores of every example for `linear`, a held-out 20% for
`fine-tune` (one fine-tuning, not k); never on the examples being reported on. An exclusive
codebook's examples longer than the encoder reads are trained on as their windows and
calibrated on as they will be scored, by their windows' averaged probabilities
(`classify.split_long`).

A model folder (`model.py` loads it) holds `config.json`, `head.safetensors` (and `encoder/`
when it has its own, `lexical.json` when it reads words), `examples.safetensors` +
`examples.json` (for `explain`), `metrics.json` and `MODEL_CARD.md` (`model_card.py`).
Nothing in it executes code when loaded.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file

from narratives.calibrate import calibrate, fit_temperature, sigmoid, softmax
from narratives.classify import pool_scores, split_long
from narratives.codebook import Codebook
from narratives.embed import PACKAGED_ALIASES, embed_texts, load_encoder, resolve_model
from narratives.examples import (
    FEW_EXAMPLES,
    Example,
    held_out_split,
    label_matrix,
    stratified_folds,
    target_matrix,
    thin_codes,
)
from narratives.finetune import fine_tune, torch_device
from narratives.lexical import WEIGHTS, Vocabulary
from narratives.linear import fit_linear, out_of_fold_logits, word_head
from narratives.metrics import exclusive_report, multilabel_report
from narratives.model import ABSTAIN_BAND, FORMAT, ModelError, TrainedClassifier
from narratives.model_card import model_card

# Windows shorter than this carry too little to code (a sentence or two).
MIN_WINDOW_WORDS = 25

__all__ = ["ModelError", "TrainOptions", "TrainedClassifier", "train"]


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
    # (docs/coding-quality.md, "The codes' definitions in linear heads"): on 90 real passages
    # (benchmarks/method_cv.py, 5 fold assignments) macro-F1 0.492 -> 0.516; trained on
    # 90-1,200 written passages, the development passages coded +0.01 to +0.09 better and
    # held-out written ones about level; exclusive: 76 real passages 0.417 -> 0.442. 10 was
    # too much (exclusive, written: -0.09).
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


def train(
    codebook: Codebook,
    examples: list[Example],
    examples_sha256: str,
    out: Path,
    opts: TrainOptions = TrainOptions(),
    log=print,
) -> dict:
    """Train and save a model folder; return its metrics on the examples it calibrated on.

    The steps: check the options, divide the examples into rows to train and to calibrate
    on, fit a head (fine-tuned encoder or linear heads on frozen embeddings), weigh a head
    on the passages' words beside it, calibrate, and save the folder (written aside and
    moved into place at the end, so a failed training leaves `out` as it was)."""
    opts = _checked(opts, examples, log)
    rows = _training_rows(codebook, examples, opts, log)
    out = Path(out)
    staging = out.with_name(out.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    soft, n_voted = _vote_targets(examples, rows, codebook.exclusive, opts.method, log)
    if opts.method == "fine-tune":
        head = _fine_tuned_head(codebook, rows, soft, opts, staging, log)
    else:
        head = _linear_head(codebook, examples, rows, opts, staging, log)
    head, lexical = _with_words(head, rows, codebook.exclusive, opts, log)
    calibration = _calibrated(head.z_cal, rows, codebook.exclusive, opts, log)
    config = _config(
        codebook,
        examples,
        examples_sha256,
        out,
        staging,
        opts,
        rows,
        head,
        lexical,
        calibration,
        n_voted,
    )
    if config["window_words"]:
        pooled_how = (
            "their probabilities averaged" if codebook.exclusive else "each code by its highest"
        )
        log(
            f"passages longer than {config['window_words']} words will be scored by windows of "
            f"whole sentences of at most that length, {pooled_how} (--window-words N to "
            "change, 0 for whole)"
        )
    _save(staging, head, calibration, examples, rows, config)
    model = TrainedClassifier.load(staging)
    metrics = {
        "calibration": config["calibration"],
        "calibration_split": evaluate_logits(
            model,
            head.z_cal,
            rows.y[rows.cal_idx],
            rows.cal_owner if len(rows.windowed) else None,
            rows.cal_units,
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


def _checked(opts: TrainOptions, examples: list[Example], log) -> TrainOptions:
    """The options, refused before any work where they cannot train, with `auto` resolved."""
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
    return opts


@dataclass(frozen=True)
class _Rows:
    """What a head trains and calibrates on. A row is an example, or, for an exclusive
    codebook, one window of an example longer than the encoder reads: such an example is
    trained on as its windows, each with the example's code, and calibrated on as it will be
    scored (multi-label codes may show in one window only, so those examples stay whole)."""

    codes: list[str]
    y: np.ndarray  # examples x codes
    units: list[str]  # each row's text
    owner: np.ndarray  # each row's example
    window: int | None  # words: longer passages are scored by windows
    windowed: np.ndarray  # the examples trained on as their windows
    # The codebook's definitions and exemplars: trained on, never calibrated on, since they
    # are unlike the passages to be coded, so no guide to thresholds.
    seed_texts: list[str]
    seed_y: np.ndarray
    train_idx: np.ndarray  # the examples trained on
    cal_idx: np.ndarray  # the examples calibrated on: all of them when `out_of_fold`
    out_of_fold: bool

    @cached_property
    def train_rows(self) -> np.ndarray:
        return np.flatnonzero(np.isin(self.owner, self.train_idx))

    @cached_property
    def cal_rows(self) -> np.ndarray:
        return np.flatnonzero(np.isin(self.owner, self.cal_idx))

    @cached_property
    def cal_owner(self) -> np.ndarray:
        """Each calibration row's example, as a position in `cal_idx`."""
        position = np.full(len(self.y), -1)
        position[self.cal_idx] = np.arange(len(self.cal_idx))
        return position[self.owner[self.cal_rows]]

    @cached_property
    def cal_units(self) -> list[str]:
        return [self.units[r] for r in self.cal_rows]

    @property
    def train_texts(self) -> list[str]:
        return [self.units[r] for r in self.train_rows] + self.seed_texts

    @property
    def train_y(self) -> np.ndarray:
        return np.vstack([self.y[self.owner[self.train_rows]], self.seed_y])

    def pool(self):
        """How calibration rows' probabilities become their examples' (an exclusive model
        averages a long passage's windows), or None where each row is an example."""
        if not len(self.windowed):
            return None
        owner, n, units = self.cal_owner, len(self.cal_idx), self.cal_units
        return lambda p: pool_scores(p, owner, n, "mean", units)


def _training_rows(codebook: Codebook, examples: list[Example], opts: TrainOptions, log) -> _Rows:
    """The examples as rows to train and calibrate on; says how they divide."""
    codes = codebook.ids
    y = label_matrix(examples, codes)
    texts = [e.text for e in examples]
    window = _window_words(texts, codebook.exclusive, opts.embedding_model, opts.window_words)
    by_windows = codebook.exclusive and opts.train_windows
    units, owner = split_long(texts, window if by_windows else None)
    windowed = np.flatnonzero(np.bincount(owner, minlength=len(texts)) > 1)
    seeds = codebook.seed_examples() if opts.codebook_examples else []
    seed_y = np.array([[c == code for c in codes] for _, code in seeds], dtype=bool).reshape(
        len(seeds), len(codes)
    )
    out_of_fold = opts.method == "linear" and opts.folds > 1 and len(examples) >= opts.folds
    if out_of_fold:
        train_idx, cal_idx = np.arange(len(examples)), np.arange(len(examples))
        how = f"all {len(examples)} calibrate out of fold ({opts.folds} folds)"
    else:
        train_idx, cal_idx = held_out_split(len(examples), y, opts.holdout, opts.seed)
        how = f"{len(train_idx)} to train, {len(cal_idx)} held out to calibrate"
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
    return _Rows(
        codes=codes,
        y=y,
        units=units,
        owner=owner,
        window=window,
        windowed=windowed,
        seed_texts=[text for text, _ in seeds],
        seed_y=seed_y,
        train_idx=train_idx,
        cal_idx=cal_idx,
        out_of_fold=out_of_fold,
    )


def _vote_targets(
    examples: list[Example], rows: _Rows, exclusive: bool, method: str, log
) -> tuple[np.ndarray | None, int]:
    """The training rows' targets softened by the coders' votes, and how many examples gave
    votes, where fine-tuning a multi-label codebook on examples that carry them; else None
    and 0 (the codes themselves are the targets). Measured on the shipped examples, seeds 0
    and 1: selection half macro-F1 0.554 / 0.618 against 0.554 / 0.591, mean AUC 0.839 /
    0.855 against 0.830 / 0.847 (docs/coding-quality.md, "Coders' votes")."""
    voted = sum(bool(examples[i].votes) for i in rows.train_idx)
    if voted and method == "fine-tune" and not exclusive:
        log(f"{voted} examples carry coders' votes: they soften the classification targets")
        targets = target_matrix(examples, rows.codes)[rows.owner[rows.train_rows]]
        return np.vstack([targets, rows.seed_y]), voted
    if voted:
        log(f'{voted} examples carry "votes": used by fine-tuning multi-label codebooks only')
    return None, 0


@dataclass(frozen=True)
class _Head:
    """A trained head: logits = vectors @ weight.T + bias (+ the word head's, where it reads
    words), with the calibration rows' logits from examples it did not train on."""

    weight: np.ndarray
    bias: np.ndarray
    z_cal: np.ndarray  # the calibration rows' logits
    vectors: np.ndarray  # every row's embedding
    fold: np.ndarray | None = None  # linear, calibrated out of fold: each row's fold
    tuned: dict | None = None  # fine-tuning: what it did (steps, epochs, tokens read)
    words: Vocabulary | None = None
    word_weight: np.ndarray | None = None  # already times the word head's weight


def _fine_tuned_head(
    codebook: Codebook,
    rows: _Rows,
    soft: np.ndarray | None,
    opts: TrainOptions,
    staging: Path,
    log,
) -> _Head:
    """The encoder fine-tuned with its head (`finetune.py`), saved in `staging/encoder`;
    calibrated on the held-out examples."""
    if len(rows.y) < FEW_EXAMPLES:
        log(
            f"only {len(rows.y)} examples: compare --method linear, which takes seconds; on "
            "57-90 real coded passages it coded as well as fine-tuning or better "
            "(docs/coding-quality.md); "
            "`narratives cross-validate` measures either on your own examples"
        )
    log(f"fine-tuning {opts.embedding_model} ...")
    weight, bias, tuned = fine_tune(
        rows.train_texts,
        rows.train_y,
        codebook.exclusive,
        opts,
        staging / "encoder",
        log,
        soft,
        [code.description() for code in codebook.codes],
    )
    vectors = embed_texts(rows.units, str(staging / "encoder"), device=opts.device, log=log)
    return _Head(weight, bias, vectors[rows.cal_rows] @ weight.T + bias, vectors, tuned=tuned)


def _linear_head(
    codebook: Codebook,
    examples: list[Example],
    rows: _Rows,
    opts: TrainOptions,
    staging: Path,
    log,
) -> _Head:
    """Logistic heads on the frozen encoder's embeddings (`linear.py`), reading each code's
    description (`--head definitions`) and the preceding turn (`--context`) where asked;
    calibrated out of fold, or on the held-out examples."""
    log(f"embedding with {opts.embedding_model} ...")
    encoder = opts.embedding_model
    base = Path(resolve_model(encoder))
    if base.is_dir() and encoder.lower() not in PACKAGED_ALIASES:
        # A local encoder (another model's fine-tuned one, say) is copied in: the model
        # folder stays self-contained, and its cached vectors are keyed by this model.
        shutil.copytree(base, staging / "encoder")

    def embed(texts: list[str]) -> np.ndarray:
        return embed_texts(texts, encoder, device=opts.device)

    vectors = embed_texts(rows.units, encoder, device=opts.device, log=log)
    seed_vectors = embed(rows.seed_texts) if rows.seed_texts else vectors[:0]
    features = vectors
    if opts.context:
        from narratives.classify import context_vectors

        around = context_vectors([e.context for e in examples], embed, vectors.shape[1])
        features = np.hstack([vectors, around[rows.owner]])
        seed_vectors = np.hstack([seed_vectors, np.zeros_like(seed_vectors)])
    anchors = None
    if opts.head == "definitions" and opts.definitions_weight > 0:
        described = embed([code.description() for code in codebook.codes])
        anchors = np.zeros((len(rows.codes), features.shape[1]), np.float32)
        anchors[:, : described.shape[1]] = opts.definitions_weight * described
        log(
            "each code's head also reads the passage's similarity to the code's description "
            f"(weight {opts.definitions_weight:g}; --head free: not)"
        )
    weight, bias = fit_linear(
        np.vstack([features[rows.train_rows], seed_vectors]),
        rows.train_y,
        codebook.exclusive,
        opts.seed,
        anchors,
    )
    if not rows.out_of_fold:
        return _Head(weight, bias, features[rows.cal_rows] @ weight.T + bias, vectors)
    fold = stratified_folds(rows.y, opts.folds, opts.seed)[rows.owner]  # rows may be windows
    z_cal = out_of_fold_logits(
        features,
        rows.y[rows.owner],
        seed_vectors,
        rows.seed_y,
        codebook.exclusive,
        opts.folds,
        opts.seed,
        anchors,
        fold=fold,
    )
    return _Head(weight, bias, z_cal, vectors, fold=fold)


def _with_words(
    head: _Head, rows: _Rows, exclusive: bool, opts: TrainOptions, log
) -> tuple[_Head, dict | None]:
    """The head with a head on the passages' words beside it (`linear.word_head`), at the
    weight that calibrates best (or the one given), and what was tried for `config.json`'s
    `lexical`; the head as it was, and None, where words are not tried."""
    if not ((opts.method in WORDS_CHOSEN and opts.lexical_weight is None) or opts.lexical_weight):
        return head, None
    words, word_weight, word_bias, z_words = word_head(
        rows.units,
        rows.seed_texts,
        rows.y[rows.owner],
        rows.seed_y,
        rows.train_rows,
        rows.cal_rows,
        head.fold,
        exclusive,
        opts.seed,
        opts.folds,
    )
    candidates = WEIGHTS if opts.lexical_weight is None else (0.0, opts.lexical_weight)
    gold, pool = rows.y[rows.cal_idx], rows.pool()
    tried = {
        w: _calibration_f1(head.z_cal + w * z_words, gold, exclusive, opts, pool)
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
    if not chosen:
        return head, lexical
    # The word head is stored already times its weight.
    return replace(
        head,
        bias=head.bias + chosen * word_bias,
        z_cal=head.z_cal + chosen * z_words,
        words=words,
        word_weight=chosen * word_weight,
    ), lexical


@dataclass(frozen=True)
class _Calibration:
    """How logits become probabilities (sigmoid(slope * z + offset), or, exclusive, a
    softmax over z / temperature) and decisions (multi-label: each code's threshold)."""

    slope: np.ndarray
    offset: np.ndarray
    thresholds: np.ndarray
    pooled: np.ndarray  # the codes calibrated together, having too few examples alone
    temperature: float | None = None


def _calibrated(
    z_cal: np.ndarray, rows: _Rows, exclusive: bool, opts: TrainOptions, log
) -> _Calibration:
    """The calibration fitted on the calibration examples' logits (`calibrate.py`)."""
    gold = rows.y[rows.cal_idx]
    n = len(rows.codes)
    if exclusive:
        # One softmax over the codes: the probabilities are calibrated by one temperature,
        # fitted on the same calibration examples as a multi-label model's Platt scaling.
        temperature = fit_temperature(z_cal, gold, rows.pool())
        log(
            f"probabilities calibrated by a temperature of {temperature:g} "
            f"(fitted on {len(rows.cal_idx)} calibration examples)"
        )
        return _Calibration(
            np.full(n, 1.0 / temperature, np.float32),
            np.zeros(n, np.float32),
            np.full(n, 0.5, np.float32),
            np.zeros(n, bool),
            temperature,
        )
    slope, offset, thresholds, pooled = calibrate(
        z_cal, gold, opts.threshold_beta, opts.own_calibration
    )
    if pooled.any():
        log(
            f"{pooled.sum()} of {n} codes have fewer than {opts.own_calibration} "
            "calibration examples with or without them: they share one calibration and "
            "threshold (--own-calibration)"
        )
    return _Calibration(slope, offset, thresholds, pooled)


def _save(
    staging: Path,
    head: _Head,
    calibration: _Calibration,
    examples: list[Example],
    rows: _Rows,
    config: dict,
) -> None:
    """The model folder's files but its metrics and card: head.safetensors (and lexical.json
    where the model reads words), the examples and their vectors for `explain`, config.json."""
    tensors = {
        "weight": head.weight,
        "bias": head.bias,
        "slope": calibration.slope,
        "offset": calibration.offset,
        "thresholds": calibration.thresholds,
    }
    if head.words is not None:
        tensors["lexical_weight"] = head.word_weight.astype(np.float32)
        tensors["lexical_idf"] = head.words.idf
        head.words.save(staging)
    save_file(tensors, staging / "head.safetensors")
    vectors = _example_vectors(head.vectors, rows.owner, len(examples))
    save_file({"vectors": vectors.astype(np.float32)}, staging / "examples.safetensors")
    (staging / "examples.json").write_text(
        json.dumps([{"text": e.text, "codes": list(e.codes)} for e in examples], ensure_ascii=False)
    )
    (staging / "config.json").write_text(json.dumps(config, indent=2))


def _config(
    codebook: Codebook,
    examples: list[Example],
    examples_sha256: str,
    out: Path,
    staging: Path,
    opts: TrainOptions,
    rows: _Rows,
    head: _Head,
    lexical: dict | None,
    calibration: _Calibration,
    n_voted: int,
) -> dict:
    """config.json: what the model is, what it was trained on, and how it decides."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return {
        "format": FORMAT,
        "format_version": 1,
        "model_id": f"{out.name}@{stamp}-{examples_sha256[:8]}",
        "method": opts.method,
        "codes": rows.codes,
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
        "n_train": int(len(rows.train_idx)),
        "n_voted": n_voted,  # trained on coders' votes
        "n_calibration": int(len(rows.cal_idx)),
        "n_codebook_examples": len(rows.seed_texts),
        "calibration": "out-of-fold" if rows.out_of_fold else "held-out",
        "options": opts.__dict__,
        "fine_tuning": head.tuned,  # what it did: optimiser steps, epochs, tokens read
        "abstain_band": ABSTAIN_BAND,
        "window_words": rows.window,
        # How a long passage's windows make its scores (`classify.pool_scores`).
        "window_pooling": "mean" if codebook.exclusive else "max",
        # Examples longer than that, trained and calibrated on as their windows (exclusive).
        "windowed_examples": int(len(rows.windowed)),
        "context": opts.context,
        # linear: the word head's weight beside the embedding head's (0: none), with the
        # calibration macro-F1 of each weight tried (`lexical.py`); None: not tried.
        "lexical": lexical,
        "thresholds": dict(
            zip(rows.codes, [float(t) for t in calibration.thresholds], strict=False)
        ),
        # Exclusive codebooks: probabilities are softmax(logits / temperature).
        "temperature": calibration.temperature,
        # Codes calibrated together (`calibrate`): too few calibration examples on their own.
        "pooled_calibration": [c for c, p in zip(rows.codes, calibration.pooled, strict=True) if p],
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


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
