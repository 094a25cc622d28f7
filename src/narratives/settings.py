"""One settings object: defaults, overridden by environment variables, then by CLI flags."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from pathlib import Path

PACKAGED_MODEL = "all-MiniLM-L6-v2"
# The repository root, for an editable install: where the default codebook and model live.
PROJECT_ROOT = Path(__file__).resolve().parents[2]

DEFAULT_INTERVIEWER_LABELS = (
    "interviewer",
    "int",
    "i",
    "q",
    "facilitator",
    "researcher",
    "moderator",
    "evaluator",
)


class SettingsError(ValueError):
    """A setting has a value the pipeline cannot use."""


@dataclass(frozen=True)
class Settings:
    """Everything a run needs to know. Build with `Settings.from_env(**overrides)`."""

    db: Path = Path("data/narratives.duckdb")
    # A name (the packaged all-MiniLM-L6-v2 by default), a local folder, or a hub name for
    # users whose machines can reach one.
    embedding_model: str = PACKAGED_MODEL
    # A trained model folder (see `narratives train`); when it does not exist the pipeline
    # codes zero-shot from the codebook.
    model_dir: Path = Path("models/systems-leadership")
    codebook: Path = Path("data/codebooks/systems-leadership.yaml")
    # Whether the codebook was named (a flag or $NARRATIVES_CODEBOOK). When it was not, a
    # trained model codes by the codebook it was trained on; when it was, the two must agree.
    codebook_given: bool = False
    interviewer_labels: tuple[str, ...] = DEFAULT_INTERVIEWER_LABELS
    code_interviewer: bool = False
    max_words: int = 120
    batch_size: int = 64
    device: str | None = None
    prefect_home: Path = Path(".prefect")
    dask_address: str | None = None

    def __post_init__(self) -> None:
        if self.max_words < 10:
            raise SettingsError(f"max_words must be at least 10, got {self.max_words}")
        if self.batch_size < 1:
            raise SettingsError(f"batch_size must be positive, got {self.batch_size}")

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        """Defaults, then NARRATIVES_* environment variables, then the given overrides."""
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = os.environ.get(f"NARRATIVES_{f.name.upper()}")
            if raw is not None:
                values[f.name] = _parse(f.name, raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        for name in ("db", "model_dir", "codebook", "prefect_home"):
            if name in values:
                values[name] = Path(values[name])  # type: ignore[arg-type]
        values["codebook_given"] = "codebook" in values
        for name in ("model_dir", "codebook"):
            if name not in values:
                values[name] = _shipped(getattr(cls, name))
        return replace(cls(), **values)

    @property
    def read_db(self) -> Path:
        """The published read-only copy that readers open: X.duckdb -> X.read.duckdb."""
        return read_copy_path(self.db)

    def is_interviewer(self, speaker: str | None) -> bool:
        return speaker is not None and speaker.strip().lower() in self.interviewer_labels


def _shipped(relative: Path) -> Path:
    """A shipped default file: from the working folder if it has one, else the project's."""
    return relative if relative.exists() else PROJECT_ROOT / relative


def read_copy_path(db: Path) -> Path:
    """X.duckdb -> X.read.duckdb, next to it."""
    db = Path(db)
    return db.with_name(db.stem + ".read" + (db.suffix or ".duckdb"))


def _parse(name: str, raw: str) -> object:
    if name == "interviewer_labels":
        return tuple(s.strip().lower() for s in raw.split(",") if s.strip())
    if name in ("max_words", "batch_size"):
        try:
            return int(raw)
        except ValueError as e:
            raise SettingsError(f"NARRATIVES_{name.upper()} must be a whole number") from e
    if name == "code_interviewer":
        return raw.strip().lower() in ("1", "true", "yes")
    return raw
