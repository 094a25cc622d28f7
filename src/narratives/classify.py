"""Classify: passage vectors -> a score per code, and the codes applied.

Two kinds of classifier share one interface (`model_id`, `codebook`, `predict_scores`,
`decide`):
- `ZeroShotClassifier`: cosine similarity to each code's definition and exemplars, for a team
  with no coded data yet;
- `TrainedClassifier` (see `narratives.train`): heads trained on coded examples, loaded from a
  model folder.
`load_classifier` picks the trained model when its folder exists, else zero-shot.

A passage longer than the passages a trained model learnt from is scored by its windows of
whole sentences of about that length, and takes each code's highest window score
(`score_texts`): the whole of a long passage, embedded at once, blurs a behaviour shown in one
part of it (measured in benchmarks/long_passages.py). An exclusive model's one code belongs to
the whole passage, so it averages its windows' probabilities instead, and uses windows only
where the encoder would otherwise cut the passage short.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from narratives.codebook import Codebook
from narratives.records import Coding

Embed = Callable[[list[str]], np.ndarray]


class Classifier(Protocol):
    model_id: str
    codebook: Codebook
    encoder: str  # what passages are embedded with (a model name or folder)
    encoder_id: str  # the embedding cache's key for that encoder
    window_words: int | None  # longer passages are scored by windows of this many words
    window_pooling: str  # how windows' scores make the passage's: "max" or "mean"
    uses_context: bool  # scores need the preceding turn's vector beside the passage's
    calibrated: bool  # scores are probabilities (trained models), not similarities

    def predict_scores(
        self, vectors: np.ndarray, texts: Sequence[str], contexts: np.ndarray | None = None
    ) -> np.ndarray:
        """(n passages, n codes) scores, higher = more likely. `contexts`: the preceding
        turns' vectors (zeros where there is none), for a classifier that `uses_context`."""
        ...

    def decide(self, scores: np.ndarray) -> np.ndarray:
        """(n, k) booleans: which codes are applied."""
        ...

    def uncertain(self, scores: np.ndarray) -> np.ndarray:
        """(n, k) booleans: decisions in the abstain band, for a human to check."""
        ...


class ZeroShotClassifier:
    """Similarity of each passage to a prototype per code: the mean of the embedded
    description and exemplars. Applies a code when its similarity clears `threshold` and
    is within `margin` of the passage's best code."""

    def __init__(
        self,
        codebook: Codebook,
        embed: Embed,
        embedding_model: str,
        threshold: float = 0.3,
        margin: float = 0.06,
    ):
        self.codebook = codebook
        self.threshold = threshold
        self.margin = margin
        self.model_id = f"zero-shot:{embedding_model}:{codebook.ref}"
        self.window_words = None  # no coded passages, so no length it was fitted to
        self.window_pooling = "max"
        self.uses_context = False
        self.calibrated = False  # cosine similarities, not probabilities
        self.encoder = self.encoder_id = embedding_model
        prototypes = []
        for code in codebook.codes:
            vectors = embed([code.description(), *code.examples])
            centre = vectors.mean(axis=0)
            prototypes.append(centre / np.linalg.norm(centre))
        self.prototypes = np.stack(prototypes)

    def predict_scores(
        self, vectors: np.ndarray, texts: Sequence[str] = (), contexts: np.ndarray | None = None
    ) -> np.ndarray:
        return vectors @ self.prototypes.T

    def decide(self, scores: np.ndarray) -> np.ndarray:
        if scores.size == 0:
            return np.zeros(scores.shape, dtype=bool)
        best = scores.max(axis=1, keepdims=True)
        if self.codebook.exclusive:
            return scores == best
        return (scores >= self.threshold) & (scores >= best - self.margin)

    def uncertain(self, scores: np.ndarray) -> np.ndarray:
        # Cosine similarities are not probabilities: zero-shot has no calibrated band.
        return np.zeros(scores.shape, dtype=bool)


# Where a model folder is asked for, this name asks for zero-shot coding from the codebook.
ZERO_SHOT = "zero-shot"


def is_trained_model(model_dir: Path | None) -> bool:
    return (
        model_dir is not None
        and str(model_dir) != ZERO_SHOT
        and (Path(model_dir) / "config.json").exists()
    )


def load_classifier(
    model_dir: Path | None, codebook: Codebook | None, embed: Embed, embedding_model: str
) -> Classifier:
    """The trained model in `model_dir` if there is one, else zero-shot from `codebook`. A
    trained model codes by its own codebook; a `codebook` given must have the same codes."""
    if is_trained_model(model_dir):
        from narratives.model import TrainedClassifier

        return TrainedClassifier.load(Path(model_dir), codebook=codebook)
    if codebook is None:
        raise ValueError(f"{model_dir} holds no trained model: coding zero-shot needs a codebook")
    return ZeroShotClassifier(codebook, embed, embedding_model)


def scoring_units(classifier: Classifier, texts: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """What each passage is scored by: itself, or, when it is longer than the classifier's
    `window_words`, its windows of whole sentences of at most that many words. Returns the
    units' texts and, for each unit, the index of its passage."""
    return split_long(texts, classifier.window_words)


def split_long(texts: Sequence[str], limit: int | None) -> tuple[list[str], np.ndarray]:
    """Each text, or, when it is longer than `limit` words, its windows of whole sentences of
    at most that many; with, for each piece, the index of its text (`scoring_units`; `train`
    splits an exclusive codebook's long examples the same way)."""
    units: list[str] = []
    owner: list[int] = []
    for i, text in enumerate(texts):
        if limit and len(text.split()) > limit:
            from narratives.segment import windows  # spaCy: only loaded when needed

            pieces = [text[s:e] for s, e in windows(text, limit)]
        else:
            pieces = [text]
        units.extend(pieces)
        owner.extend([i] * len(pieces))
    return units, np.asarray(owner, dtype=np.int64)


def pool_scores(
    unit_scores: np.ndarray,
    owner: np.ndarray,
    n: int,
    how: str = "max",
    units: Sequence[str] = (),
) -> np.ndarray:
    """Each passage's score per code from its units' (`scoring_units`). "max": the units'
    highest (a behaviour shown in one part of a passage is shown by the passage). "mean": their
    mean weighted by the words of `units` (the units' texts), for an exclusive model, whose
    probabilities stay a distribution over the codes."""
    if how == "mean":
        weights = np.array([len(u.split()) or 1 for u in units], np.float64)
        total = np.zeros((n, unit_scores.shape[1]))
        np.add.at(total, owner, unit_scores * weights[:, None])
        mass = np.bincount(owner, weights=weights, minlength=n)[:, None]
        return (total / np.maximum(mass, 1e-12)).astype(unit_scores.dtype)
    pooled = np.full((n, unit_scores.shape[1]), -np.inf, dtype=unit_scores.dtype)
    np.maximum.at(pooled, owner, unit_scores)
    return pooled


def context_vectors(contexts: Sequence[str], embed: Embed, dim: int) -> np.ndarray:
    """The preceding turns' vectors; zeros where a passage has none."""
    out = np.zeros((len(contexts), dim), dtype=np.float32)
    given = [i for i, c in enumerate(contexts) if c and c.strip()]
    if given:
        out[given] = embed([contexts[i] for i in given])
    return out


def score_texts(
    classifier: Classifier,
    texts: Sequence[str],
    embed: Embed,
    contexts: Sequence[str] | None = None,
) -> np.ndarray:
    """(n passages, n codes) scores of `texts`, embedding them (or their windows) with
    `embed`; `contexts` (each passage's preceding turn) for a classifier that uses them."""
    units, owner = scoring_units(classifier, texts)
    if not units:
        return np.zeros((0, len(classifier.codebook.ids)), dtype=np.float32)
    vectors = embed(units)
    around = None
    if classifier.uses_context:
        around = context_vectors(contexts or [""] * len(texts), embed, vectors.shape[1])[owner]
    scores = classifier.predict_scores(vectors, units, around)
    return pool_scores(scores, owner, len(texts), classifier.window_pooling, units)


def codings_from_scores(
    classifier: Classifier, passage_ids: Sequence[str], scores: np.ndarray
) -> list[Coding]:
    """One `Coding` per applied code, in passage order."""
    applied = classifier.decide(scores)
    codes = classifier.codebook.ids
    rows, cols = np.nonzero(applied)
    return [
        Coding(passage_ids[r], codes[c], float(scores[r, c]))
        for r, c in zip(rows, cols, strict=False)
    ]
