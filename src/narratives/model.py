"""A trained model, loaded from its folder: heads on (possibly fine-tuned) sentence
embeddings, their calibration, thresholds and abstain band. `train` writes the folder; nothing
in it executes code when loaded.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from narratives.calibrate import logit, sigmoid, softmax
from narratives.codebook import Codebook, parse_codebook

FORMAT = "narratives-classifier"
# A decision whose log-odds are within this of its threshold's goes to a human (odds within
# a factor of about 2.7 either side): scale-aware, so it works for low thresholds too.
ABSTAIN_BAND = 1.0


class ModelError(ValueError):
    """A model folder that cannot be used."""


class TrainedClassifier:
    """Heads on (possibly fine-tuned) sentence embeddings, loaded from a model folder."""

    calibrated = True  # scores are calibrated probabilities

    def __init__(self, folder: Path, config: dict, codebook: Codebook, head: dict[str, np.ndarray]):
        self.folder = folder
        self.config = config
        self.codebook = codebook
        self.model_id = config["model_id"]
        self.weight = head["weight"]
        self.bias = head["bias"]
        self.slope = head["slope"]
        self.offset = head["offset"]
        self.thresholds = head["thresholds"]
        self.band = float(config.get("abstain_band", ABSTAIN_BAND))
        # Models saved before windows were measured have none: whole passages, as then.
        self.window_words = config.get("window_words")
        self.window_pooling = config.get("window_pooling", "max")
        self.uses_context = bool(config.get("context"))
        # linear heads may also read the passages' words (`lexical.py`): their head's weights,
        # already times the weight `train` chose for them
        self.words = None
        self.word_weight = None
        if "lexical_weight" in head:
            from narratives.lexical import Vocabulary

            self.words = Vocabulary.load(folder, head["lexical_idf"])
            self.word_weight = head["lexical_weight"]

    @property
    def encoder(self) -> str:
        """What to embed passages with: the model's own encoder folder (fine-tuned, or a local
        base encoder copied in), or the base model's name."""
        if self.config.get("encoder") == "encoder":
            return str(self.folder / "encoder")
        return self.config["embedding_model"]

    @property
    def encoder_id(self) -> str:
        """The embedding cache's key for this encoder."""
        if self.config.get("encoder") == "encoder":
            return f"{self.model_id}/encoder"
        return self.config["embedding_model"]

    @classmethod
    def load(cls, folder: Path, codebook: Codebook | None = None) -> TrainedClassifier:
        from safetensors.numpy import load_file

        folder = Path(folder)
        try:
            config = json.loads((folder / "config.json").read_text())
            head = load_file(folder / "head.safetensors")
        except (OSError, ValueError) as e:
            raise ModelError(f"{folder} is not a narratives model folder ({e})") from e
        if "lexical_weight" in head and not (folder / "lexical.json").is_file():
            raise ModelError(f"{folder} lacks lexical.json, the words its head reads")
        if config.get("format") != FORMAT:
            raise ModelError(f"{folder}/config.json is not a {FORMAT} config")
        stored = parse_codebook(config["codebook"]["content"], config["codebook"]["sha256"])
        # The model codes by its own codebook; one given is checked for the same codes (in any
        # order: every output names its codes).
        if codebook is not None and sorted(codebook.ids) != sorted(stored.ids):
            raise ModelError(
                f"model {folder} was trained on codebook {stored.ref} with codes {stored.ids}; "
                f"the codebook given ({codebook.ref}) has codes {codebook.ids}: train a model "
                "for it (`narratives train`), code zero-shot from it (`--model zero-shot`), "
                "or pass the model's own codebook"
            )
        return cls(folder, config, stored, head)

    def logits(self, vectors: np.ndarray, texts=None) -> np.ndarray:
        """The heads' logits: from the vectors, plus, for a model that reads words, from the
        passages' `texts`."""
        z = vectors @ self.weight.T + self.bias
        if self.words is not None:
            if texts is None or len(texts) != len(vectors):
                raise ModelError(
                    f"model {self.model_id} also reads the passages' words: pass texts"
                )
            z = z + np.asarray(self.words.features(texts) @ self.word_weight.T)
        return z

    def predict_scores(self, vectors: np.ndarray, texts=None, contexts=None) -> np.ndarray:
        """Calibrated probabilities, (n passages, n codes), of the passages `texts` embedded
        as `vectors`. A model that `uses_context` reads the preceding turns' vectors beside the
        passages' (zeros: none given)."""
        x = np.asarray(vectors, dtype=np.float32)
        if self.uses_context:
            around = np.zeros_like(x) if contexts is None else np.asarray(contexts, np.float32)
            x = np.hstack([x, around])
        return self.scores_from_logits(self.logits(x, texts))

    def scores_from_logits(self, z: np.ndarray) -> np.ndarray:
        if self.codebook.exclusive:
            # slope = 1 / the fitted temperature (1 in models saved before it was fitted)
            return softmax(self.slope * z)
        return sigmoid(self.slope * z + self.offset)

    def decide(self, scores: np.ndarray) -> np.ndarray:
        if self.codebook.exclusive:
            return scores == scores.max(axis=1, keepdims=True) if scores.size else scores > 1
        return scores >= self.thresholds

    def uncertain(self, scores: np.ndarray) -> np.ndarray:
        """(n, k) booleans: decisions in the abstain band, for a human to check."""
        if self.codebook.exclusive:
            top = scores.max(axis=1, keepdims=True)
            return (top < 0.5) & (scores == top)
        return np.abs(logit(scores) - logit(self.thresholds)) < self.band
