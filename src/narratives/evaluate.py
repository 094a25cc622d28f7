"""Evaluate, cross-validate, predict and explain: a classifier against coded examples, how
well training learns from them, or a classifier on new text.

`--model zero-shot` (with a codebook) measures the codebook-only classifier the same way, so a
team can see what training bought them."""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from narratives.classify import (
    ZERO_SHOT,
    Classifier,
    ZeroShotClassifier,
    context_vectors,
    pool_scores,
    score_texts,
    scoring_units,
)
from narratives.codebook import Codebook, load_codebook
from narratives.embed import PROGRESS_CHUNK, clock, embed_texts
from narratives.examples import Example, label_matrix, load_examples, stratified_folds, thin_codes
from narratives.metrics import (
    abstain_report,
    bootstrap_intervals,
    calibration_report,
    exclusive_report,
    multilabel_report,
    paired_difference,
)
from narratives.model import TrainedClassifier
from narratives.train import TrainOptions, chosen_method, train


def open_classifier(
    model: str | Path,
    codebook: Path | None = None,
    embedding_model: str = "all-MiniLM-L6-v2",
    log: Callable[[str], None] | None = None,
) -> Classifier:
    """A trained model folder, or `zero-shot` with the given codebook. A trained model codes
    by its own copy of its codebook; a `codebook` given must have the same codes, and `log`
    hears when its file differs (new wording the model has not learnt)."""
    cb = load_codebook(codebook) if codebook else None
    if str(model) == ZERO_SHOT:
        if cb is None:
            raise ValueError("--model zero-shot needs --codebook FILE")
        return ZeroShotClassifier(cb, lambda t: embed_texts(t, embedding_model), embedding_model)
    classifier = TrainedClassifier.load(Path(model), cb)
    if log and cb and cb.sha256 != classifier.codebook.sha256:
        log(
            f"note: {codebook} ({cb.ref}) is not the codebook file the model was trained on "
            f"({classifier.codebook.ref}), though it has the same codes; the model codes by its "
            "own copy (train again to use the new wording)"
        )
    return classifier


def _scores(
    classifier: Classifier,
    texts: list[str],
    contexts: list[str] | None = None,
    log: Callable[[str], None] | None = None,
) -> np.ndarray:
    return score_texts(
        classifier, texts, lambda units: embed_texts(units, classifier.encoder, log=log), contexts
    )


def evaluate(
    classifier: Classifier,
    examples_path: Path,
    resamples: int = 1000,
    by: str | None = None,
    compare: Classifier | None = None,
) -> dict:
    """Per-code precision, recall, F1, kappa and support; macro/micro F1; Krippendorff's
    alpha; for exclusive codebooks also accuracy and the confusion matrix (`evaluate_coded`
    says what each argument adds). The report alone."""
    return evaluate_coded(classifier, examples_path, resamples, by, compare)[0]


def evaluate_coded(
    classifier: Classifier,
    examples_path: Path,
    resamples: int = 1000,
    by: str | None = None,
    compare: Classifier | None = None,
    log: Callable[[str], None] | None = None,
) -> tuple[dict, list[Example], list[Prediction]]:
    """`evaluate`'s report, the examples, and the classifier's prediction for each
    (`trained_on`: how many of them it was trained on, `passages_trained_on`). With
    `resamples` (0: none), `intervals` holds 95% bootstrap intervals over the examples. With
    `by` (a key of the examples' lines, such as "kind" or "speaker_role"), `by` holds the
    same report for each of its values. With `compare` (another classifier of the same
    codes), `comparison` holds its figures and the paired differences (this one minus it).
    `log` receives progress lines while many examples are embedded."""
    codebook = classifier.codebook
    examples, sha = load_examples(examples_path, codebook)
    texts, contexts = [e.text for e in examples], [e.context for e in examples]
    if log is not None and len(texts) > PROGRESS_CHUNK:
        log(f"coding {len(texts):,} examples with {classifier.model_id} ...")
    scores = _scores(classifier, texts, contexts, log)
    decided, uncertain = classifier.decide(scores), classifier.uncertain(scores)
    report = coding_report(codebook, examples, decided, resamples, uncertain)
    gold = label_matrix(examples, codebook.ids)
    if classifier.calibrated:
        report["calibration"] = calibration_report(gold, scores, codebook.exclusive)
    if compare is not None:
        if compare.codebook.ids != codebook.ids or compare.codebook.exclusive != codebook.exclusive:
            raise ValueError(
                f"--compare: {compare.model_id} codes {compare.codebook.ids}, "
                f"{classifier.model_id} codes {codebook.ids}: only models of the same codes "
                "compare"
            )
        if log is not None and len(texts) > PROGRESS_CHUNK:
            log(f"coding them with {compare.model_id} (--compare) ...")
        other = compare.decide(_scores(compare, texts, contexts, log))
        theirs = coding_report(codebook, examples, other, 0)
        report["comparison"] = {
            "model_id": compare.model_id,
            **{k: theirs[k] for k in ("macro_f1", "micro_f1", "mean_kappa")},
            "trained_on": passages_trained_on(compare, examples, sha),
            "difference": paired_difference(
                gold, _one_code_each(codebook, decided), _one_code_each(codebook, other),
                resamples or 1000,
            ),
        }  # fmt: skip
    if by:
        values = _values_of(examples_path, by)
        report["by"] = _by_groups(codebook, examples, by, values, decided, uncertain, resamples)
    report.update(
        model_id=classifier.model_id,
        examples=str(examples_path),
        examples_sha256=sha,
        trained_on=passages_trained_on(classifier, examples, sha),
    )
    return report, examples, _as_predictions(codebook.ids, scores, decided, uncertain)


def passages_trained_on(classifier: Classifier, examples: list[Example], sha256: str) -> int | None:
    """How many of `examples` (read from a file whose sha256 is `sha256`) the classifier was
    trained on, whose figures are no estimate for unseen passages: those whose text (spacing
    aside) is among its model folder's coded examples (`examples.json`, kept for `explain`);
    for a folder without them, all of them if the file is the one it was trained on
    (`training_data_sha256`). 0 for zero-shot, which is trained on none; None where the
    folder cannot tell. The codebook's definitions and exemplars, trained on too, are not
    counted: they are not coded passages."""
    if not isinstance(classifier, TrainedClassifier):
        return 0
    try:
        stored = json.loads((classifier.folder / "examples.json").read_text())
        seen = {_passage(e["text"]) for e in stored}
    except (OSError, ValueError, TypeError, KeyError):
        if sha256 == classifier.config.get("training_data_sha256"):
            return len(examples)
        return None
    return sum(_passage(e.text) in seen for e in examples)


def _passage(text: str) -> str:
    """A passage's text as compared with a model's training examples: spacing aside."""
    return " ".join(text.split())


def _by_groups(
    codebook: Codebook,
    examples: list[Example],
    by: str,
    values: list[str],
    decided: np.ndarray,
    uncertain: np.ndarray,
    resamples: int,
) -> dict:
    """The report for each of `values` (each example's value of the key `by`)."""
    values = np.array(values)
    groups = {}
    for value in sorted(set(values)):
        members = np.flatnonzero(values == value)
        groups[value] = coding_report(
            codebook,
            [examples[i] for i in members],
            decided[members],
            resamples,
            uncertain[members],
        )
    return {"field": by, "groups": groups}


def _values_of(examples_path: Path, key: str) -> list[str]:
    """Each example's value of `key` (in the order `load_examples` reads them), as text;
    "(none)" where a line has none."""
    values = []
    for line in Path(examples_path).read_text(encoding="utf-8-sig").splitlines():
        if line.strip():
            value = json.loads(line).get(key)
            values.append("(none)" if value in (None, "") else str(value))
    if values.count("(none)") == len(values):
        raise ValueError(f'--by {key}: no line of {examples_path} has a "{key}"')
    return values


def coding_report(
    codebook: Codebook,
    examples: list[Example],
    decided: np.ndarray,
    resamples: int = 1000,
    uncertain: np.ndarray | None = None,
) -> dict:
    """`evaluate`'s report of the decisions `decided` ((n, k) booleans) against the
    examples' codes; with `uncertain` (the decisions in the abstain band), `abstain` says
    what sending those to a human would buy."""
    gold = label_matrix(examples, codebook.ids)
    pred = _one_code_each(codebook, decided)
    if codebook.exclusive:
        report = exclusive_report(
            [e.codes[0] for e in examples],
            [codebook.ids[i] for i in pred.argmax(1)],
            codebook.ids,
        )
    else:
        report = multilabel_report(gold, pred, codebook.ids)
    if resamples:
        report["intervals"] = bootstrap_intervals(
            gold, pred, codebook.ids, resamples, accuracy=codebook.exclusive
        )
    if uncertain is not None:
        if codebook.exclusive:  # the passage's one decision is uncertain, or none is
            uncertain = np.repeat(uncertain.any(1, keepdims=True), len(codebook.ids), 1)
        report["abstain"] = abstain_report(gold, pred, uncertain, codebook.ids)
    return report


def _one_code_each(codebook: Codebook, decided: np.ndarray) -> np.ndarray:
    """For an exclusive codebook, the decisions as one code per passage (the highest; ties
    go to the first); otherwise as they are."""
    if not codebook.exclusive:
        return decided
    return np.eye(len(codebook.ids), dtype=bool)[decided.argmax(1)]


def cross_validate(
    codebook: Codebook,
    examples: list[Example],
    opts: TrainOptions,
    k: int = 5,
    resamples: int = 1000,
    log: Callable[[str], None] = print,
    by: tuple[Path, str] | None = None,
) -> tuple[dict, list[Prediction], list[int]]:
    """How well `train` with `opts` learns from these coded examples, without a test set:
    split them into `k` folds (stratified as training splits them; `opts.seed`), train on
    k - 1, code the fold left out, and report the pooled out-of-fold decisions as
    `evaluate` does, with each fold's own macro-F1 under `folds`. Returns the report, each
    example's out-of-fold prediction and its fold (from 1), in the examples' order. `by`
    (the examples' file and a key of its lines) adds the report for each of its values.
    `trained_on` counts the examples coded by a fold's model that was trained on the same
    text (a passage on more than one line, in different folds)."""
    values = _values_of(*by) if by else None  # before training: a missing key fails at once
    if opts.method == "auto":
        # What `train` would choose on all of them, for every fold alike.
        opts = replace(opts, method=chosen_method(opts.method, len(examples)))
        log(f"--method auto: {opts.method}, as `train` chooses for {len(examples)} examples")
    gold = label_matrix(examples, codebook.ids)
    fold = stratified_folds(gold, k, opts.seed)
    for note in thin_codes(codebook, gold.sum(0), opts.codebook_examples):
        log(f"note: {note}")

    def fold_log(message: str) -> None:
        # Notes on codes with few examples, once above for all folds, not k times; the
        # report's per-code recall says which codes the folds' models missed.
        if not message.startswith("note: "):
            log(f"  {message}")

    scores = np.zeros(gold.shape, dtype=np.float32)
    decided = np.zeros(gold.shape, dtype=bool)
    uncertain = np.zeros(gold.shape, dtype=bool)
    per_fold, repeated, started = [], 0, time.monotonic()
    with tempfile.TemporaryDirectory(prefix="narratives-cv-") as work:
        for f in range(k):
            held = np.flatnonzero(fold == f)
            training = [examples[i] for i in np.flatnonzero(fold != f)]
            # A passage on more than one line can be trained on in one fold and coded in another
            seen = {_passage(e.text) for e in training}
            repeated += sum(_passage(examples[i].text) in seen for i in held)
            log(f"fold {f + 1} of {k}: training on {len(training)}, coding {len(held)}")
            folder = Path(work) / f"fold-{f + 1}"
            train(codebook, training, "0" * 64, folder, opts, log=fold_log)
            model = TrainedClassifier.load(folder)
            held_scores = _scores(
                model, [examples[i].text for i in held], [examples[i].context for i in held]
            )
            scores[held] = held_scores
            decided[held] = _one_code_each(codebook, model.decide(held_scores))
            uncertain[held] = model.uncertain(held_scores)
            fold_report = coding_report(codebook, [examples[i] for i in held], decided[held], 0)
            per_fold.append(
                {
                    "n": len(held),
                    "macro_f1": fold_report["macro_f1"],
                    "mean_kappa": fold_report["mean_kappa"],
                }
            )
            spent = time.monotonic() - started
            left = f" (about {clock(spent / (f + 1) * (k - f - 1))} to go)" if f + 1 < k else ""
            log(f"  fold {f + 1}: macro-F1 {fold_report['macro_f1']:.3f}{left}")
    report = coding_report(codebook, examples, decided, resamples, uncertain)
    report["calibration"] = calibration_report(gold, scores, codebook.exclusive)
    if by:
        report["by"] = _by_groups(codebook, examples, by[1], values, decided, uncertain, resamples)
    report.update(
        method=opts.method,
        k=k,
        seed=opts.seed,
        folds=per_fold,
        trained_on=repeated,
        seconds=round(time.monotonic() - started, 1),
    )
    coded = _as_predictions(codebook.ids, scores, decided, uncertain)
    return report, coded, [int(f) + 1 for f in fold]


@dataclass(frozen=True)
class Prediction:
    codes: list[str]
    scores: dict[str, float]
    uncertain: list[str]


def predict(
    classifier: Classifier,
    texts: list[str],
    contexts: list[str] | None = None,
    log: Callable[[str], None] | None = None,
) -> list[Prediction]:
    """Codes applied, every code's score, and the codes in the abstain band, per text
    (`contexts`: each text's preceding turn, for a model trained with them; `log`: progress
    lines while many texts are embedded)."""
    return _predictions(classifier, _scores(classifier, texts, contexts, log))


def _predictions(classifier: Classifier, scores: np.ndarray) -> list[Prediction]:
    return _as_predictions(
        classifier.codebook.ids, scores, classifier.decide(scores), classifier.uncertain(scores)
    )


def _as_predictions(
    ids: list[str], scores: np.ndarray, applied: np.ndarray, band: np.ndarray
) -> list[Prediction]:
    return [
        Prediction(
            codes=[c for c, a in zip(ids, row_applied, strict=False) if a],
            scores={c: round(float(s), 4) for c, s in zip(ids, row, strict=False)},
            uncertain=[c for c, u in zip(ids, row_band, strict=False) if u],
        )
        for row, row_applied, row_band in zip(scores, applied, band, strict=False)
    ]


def explain(
    classifier: TrainedClassifier, text: str, neighbours: int = 3, context: str = ""
) -> dict:
    """For one passage: each code's probability and decision, and the nearest coded training
    examples that carry each applied (or most likely) code. A passage longer than the model's
    window is scored by its windows: `windows` lists them, `window` names the one that gave
    each shown code its score (an exclusive model, which averages them: the one that gave the
    code its highest), and the nearest examples are that window's. A model that reads words
    also names those that raised each shown code most (`words`)."""
    from safetensors.numpy import load_file

    def embed(texts: list[str]) -> np.ndarray:
        return embed_texts(texts, classifier.encoder)

    units, owner = scoring_units(classifier, [text])
    vectors = embed(units)
    around = None
    if classifier.uses_context:
        around = context_vectors([context], embed, vectors.shape[1])[owner]
    unit_scores = classifier.predict_scores(vectors, units, around)
    pooled = pool_scores(unit_scores, owner, 1, classifier.window_pooling, units)
    prediction = _predictions(classifier, pooled)[0]
    examples = json.loads((classifier.folder / "examples.json").read_text())
    stored = load_file(classifier.folder / "examples.safetensors")["vectors"]
    focus = prediction.codes or [max(prediction.scores, key=prediction.scores.get)]
    support, deciding, words = {}, {}, {}
    for code in focus:
        j = classifier.codebook.ids.index(code)
        deciding[code] = int(unit_scores[:, j].argmax())
        if classifier.words is not None:
            row = classifier.word_weight[j]
            if classifier.codebook.exclusive:  # a softmax: what raises it above the others
                row = row - classifier.word_weight.mean(axis=0)
            words[code] = [
                {"term": term, "logit": added}
                for term, added in classifier.words.strongest(units[deciding[code]], row)
            ]
        similarity = stored @ vectors[deciding[code]]
        carrying = [i for i, e in enumerate(examples) if code in e["codes"]]
        best = sorted(carrying, key=lambda i: -similarity[i])[:neighbours]
        support[code] = [
            {
                "text": examples[i]["text"],
                "codes": examples[i]["codes"],
                "similarity": round(float(similarity[i]), 3),
            }
            for i in best
        ]
    return {
        "text": text,
        "model_id": classifier.model_id,
        "codes": prediction.codes,
        "scores": prediction.scores,
        "thresholds": {
            c: float(t)
            for c, t in zip(classifier.codebook.ids, classifier.thresholds, strict=False)
        },
        "uncertain": prediction.uncertain,
        "nearest_examples": support,
        # a model that reads words: those that raised each code's logit most
        "words": words,
        "windows": units,
        "window": deciding,
    }
