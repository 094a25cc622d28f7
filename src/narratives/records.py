"""Small typed records passed between the stages."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class CaseAttributes:
    """Case attributes of one document, as given in the manifest."""

    title: str | None = None
    place: str | None = None
    project: str | None = None
    wave: str | None = None
    date: str | None = None
    role: str | None = None
    extra: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Turn:
    """One stretch of speech (or one report paragraph) located in the document text.

    `text[start_char:end_char]` of the owning document is exactly the turn's content,
    without its speaker label or timestamp.
    """

    speaker: str | None
    start_char: int
    end_char: int
    start_time: float | None = None
    end_time: float | None = None
    page: int | None = None
    is_interviewer: bool = False


@dataclass(frozen=True)
class Document:
    """A decoded source file: its canonical text and the turns found in it."""

    document_id: str
    path: str
    sha256: str
    format: str
    encoding: str
    text: str
    turns: tuple[Turn, ...]
    attributes: CaseAttributes = field(default_factory=CaseAttributes)


@dataclass(frozen=True)
class Passage:
    """The unit that is embedded and coded: a turn, or a sentence window of a long turn."""

    passage_id: str
    document_id: str
    seq: int
    speaker: str | None
    is_interviewer: bool
    text: str
    start_char: int
    end_char: int
    start_time: float | None = None
    end_time: float | None = None
    page: int | None = None


@dataclass(frozen=True)
class Coding:
    """One code applied to one passage, with the classifier's score."""

    passage_id: str
    code: str
    score: float


@dataclass(frozen=True)
class Rejection:
    """A file that could not be loaded, and why (in words a user can act on)."""

    path: str
    reason: str


# Exit status of `narratives run`, part of the public interface.
EXIT_OK = 0  # every file loaded (or was already loaded, unchanged)
EXIT_FAILED = 1  # the run failed: nothing from this run was stored
EXIT_PARTIAL = 3  # some files were rejected; every other file loaded


@dataclass(frozen=True)
class RunSummary:
    """What a run did: counts, and each rejected file with its reason."""

    run_id: str
    status: str  # ok | partial | failed
    db: str
    documents: int  # loaded (new or changed)
    unchanged: int  # already stored and coded by the same model: skipped
    passages: int
    coded_passages: int
    codings: int
    embedded: int  # passages embedded now (the rest came from the cache)
    model_id: str
    codebook_version: str
    rejected: tuple[Rejection, ...] = ()

    @property
    def exit_code(self) -> int:
        return {"ok": EXIT_OK, "partial": EXIT_PARTIAL}.get(self.status, EXIT_FAILED)

    def to_json(self) -> dict:
        return {
            "run_id": self.run_id,
            "status": self.status,
            "db": self.db,
            "documents": self.documents,
            "unchanged": self.unchanged,
            "passages": self.passages,
            "coded_passages": self.coded_passages,
            "codings": self.codings,
            "embedded": self.embedded,
            "model_id": self.model_id,
            "codebook_version": self.codebook_version,
            "rejected": [{"path": r.path, "reason": r.reason} for r in self.rejected],
        }

    @classmethod
    def from_json(cls, data: dict) -> RunSummary:
        fields = {k: v for k, v in data.items() if k != "rejected"}
        rejected = tuple(Rejection(r["path"], r["reason"]) for r in data.get("rejected", []))
        return cls(**fields, rejected=rejected)
