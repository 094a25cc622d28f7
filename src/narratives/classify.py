"""Classify: passage vectors -> a score per code, and the codes applied.

Two kinds of classifier share one interface (`model_id`, `codebook`, `predict_scores`,
`decide`):
- `ZeroShotClassifier`: cosine similarity to each code's definition and exemplars, for a team
  with no coded data yet;
- `TrainedClassifier` (see `narratives.train`): heads trained on coded examples, loaded from a
  model folder.
`load_classifier` picks the trained model when its folder exists, else zero-shot.
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

    def predict_scores(self, vectors: np.ndarray, texts: Sequence[str]) -> np.ndarray:
        """(n passages, n codes) scores, higher = more likely."""
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
        self.encoder = self.encoder_id = embedding_model
        prototypes = []
        for code in codebook.codes:
            vectors = embed([code.description(), *code.examples])
            centre = vectors.mean(axis=0)
            prototypes.append(centre / np.linalg.norm(centre))
        self.prototypes = np.stack(prototypes)

    def predict_scores(self, vectors: np.ndarray, texts: Sequence[str] = ()) -> np.ndarray:
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


def load_classifier(
    model_dir: Path | None, codebook: Codebook, embed: Embed, embedding_model: str
) -> Classifier:
    """The trained model in `model_dir` if there is one for this codebook, else zero-shot."""
    if model_dir is not None and (Path(model_dir) / "config.json").exists():
        from narratives.train import TrainedClassifier

        return TrainedClassifier.load(Path(model_dir), codebook=codebook)
    return ZeroShotClassifier(codebook, embed, embedding_model)


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
