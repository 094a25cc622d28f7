"""Ingest: files on disk -> `Document`s with their text and turns, or a per-file `Rejection`.

Entry points: `collect_inputs` (which files, with which case attributes) and `read_document`
(one file). Every problem with one file is an `IngestError` naming the file and the reason;
the caller records it and goes on with the rest of the batch.
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass, replace
from pathlib import Path

from narratives.ingest.captions import (
    CaptionError,
    cues_from_srt,
    cues_from_vtt,
    transcript_from_cues,
)
from narratives.ingest.office import OfficeError, text_from_docx, transcript_from_pdf
from narratives.ingest.text import DecodeError, decode, normalise_newlines, turns_from_text
from narratives.records import CaseAttributes, Document, Rejection, Turn

SUPPORTED = {
    ".txt": "txt",
    ".md": "md",
    ".docx": "docx",
    ".vtt": "vtt",
    ".srt": "srt",
    ".pdf": "pdf",
}
MANIFEST_COLUMNS = ("file", "title", "place", "project", "wave", "date", "role")


class IngestError(Exception):
    """One file could not be read; `reason` says why in words a user can act on."""

    def __init__(self, path: str | Path, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


class ManifestError(Exception):
    """The manifest itself is unusable (not a per-file problem)."""


@dataclass(frozen=True)
class InputFile:
    path: Path
    attributes: CaseAttributes


def document_id_for(path: Path) -> str:
    """A stable id from the file's absolute path: the same file always gets the same id,
    so a changed file replaces its earlier version."""
    return hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:16]


def read_manifest(path: Path) -> dict[Path, CaseAttributes]:
    """Case attributes by resolved file path. `file` is relative to the manifest's folder."""
    try:
        raw = path.read_bytes()
        text, _ = decode(raw)
    except (OSError, DecodeError) as e:
        raise ManifestError(f"cannot read manifest {path}: {e}") from e
    reader = csv.DictReader(normalise_newlines(text).splitlines())
    columns = [c.strip().lower() for c in reader.fieldnames or []]
    if "file" not in columns:
        raise ManifestError(
            f"manifest {path} has no 'file' column; expected a header like "
            + ",".join(MANIFEST_COLUMNS)
        )
    result: dict[Path, CaseAttributes] = {}
    for row in reader:
        row = {(k or "").strip().lower(): (v or "").strip() for k, v in row.items()}
        if not row.get("file"):
            continue
        known = {k: row.get(k) or None for k in MANIFEST_COLUMNS[1:]}
        extra = tuple(sorted((k, v) for k, v in row.items() if k not in MANIFEST_COLUMNS and v))
        result[(path.parent / row["file"]).resolve()] = CaseAttributes(**known, extra=extra)
    return result


def collect_inputs(
    paths: list[Path], manifest: Path | None = None
) -> tuple[list[InputFile], list[IngestError]]:
    """The files to load (folders searched recursively, hidden files and the manifest
    skipped), each with its manifest attributes; manifest rows whose file is missing are
    returned as errors."""
    attributes = read_manifest(manifest) if manifest else {}
    skip = {manifest.resolve()} if manifest else set()
    found: dict[Path, None] = {}
    errors: list[IngestError] = []
    for given in paths:
        if given.is_dir():
            for p in sorted(given.rglob("*")):
                rel = p.relative_to(given)
                if p.is_file() and not any(part.startswith(".") for part in rel.parts):
                    if p.resolve() not in skip and not _is_own_output(p):
                        found[p] = None
        elif given.is_file():
            found[given] = None
        else:
            errors.append(IngestError(given, "no such file or folder"))
    resolved = {p.resolve() for p in found}
    for listed in attributes:
        if listed not in resolved and any(_within(listed, g) for g in paths):
            errors.append(IngestError(listed, "listed in the manifest but not found"))
    inputs = [InputFile(p, attributes.get(p.resolve(), CaseAttributes())) for p in found]
    return inputs, errors


def _is_own_output(path: Path) -> bool:
    """The manifest and DuckDB files (ours, when the database lives in the input folder)."""
    name = path.name.lower()
    return name == "manifest.csv" or name.endswith((".duckdb", ".duckdb.wal", ".tmp"))


def _within(path: Path, folder: Path) -> bool:
    folder = folder.resolve()
    return path == folder or folder in path.parents


def _sniff_mismatch(data: bytes, fmt: str) -> str | None:
    is_pdf, is_zip = data.startswith(b"%PDF"), data.startswith(b"PK\x03\x04")
    if fmt == "pdf" and not is_pdf:
        return "has a .pdf extension but is not a PDF (no %PDF header)"
    if fmt == "docx" and not is_zip:
        return "has a .docx extension but is not a Word document (not a ZIP package)"
    if fmt in ("txt", "md", "vtt", "srt") and (is_pdf or is_zip):
        kind = "a PDF" if is_pdf else "a ZIP/Office package"
        return f"has a .{fmt} extension but is {kind}; give it its real extension"
    return None


NO_ATTRIBUTES = CaseAttributes()


def read_document(
    path: Path, attributes: CaseAttributes = NO_ATTRIBUTES, interviewer_labels=()
) -> Document:
    """Read one file into a `Document`, or raise `IngestError` saying why not."""
    fmt = SUPPORTED.get(path.suffix.lower())
    if fmt is None:
        supported = ", ".join(SUPPORTED)
        raise IngestError(
            path, f"unsupported format '{path.suffix or path.name}' (supported: {supported})"
        )
    try:
        data = path.read_bytes()
    except OSError as e:
        raise IngestError(path, f"cannot be read ({e.strerror or e})") from e
    if not data:
        raise IngestError(path, "is empty (0 bytes)")
    if problem := _sniff_mismatch(data, fmt):
        raise IngestError(path, problem)
    encoding = "binary"
    try:
        if fmt == "docx":
            text = text_from_docx(data)
            turns = turns_from_text(text)
        elif fmt == "pdf":
            text, turns = transcript_from_pdf(data)
        else:
            text, encoding = decode(data)
            text = normalise_newlines(text)
            if fmt in ("vtt", "srt"):
                cues = cues_from_vtt(text) if fmt == "vtt" else cues_from_srt(text)
                text, turns = transcript_from_cues(cues)
            else:
                turns = turns_from_text(text)
    except (DecodeError, CaptionError, OfficeError) as e:
        raise IngestError(path, str(e)) from e
    if not turns:
        raise IngestError(path, "contains no text to code")
    labels = {label.lower() for label in interviewer_labels}
    turns = [
        replace(t, is_interviewer=bool(t.speaker and t.speaker.strip().lower() in labels))
        for t in turns
    ]
    title = attributes.title or path.stem.replace("_", " ")
    return Document(
        document_id=document_id_for(path),
        path=str(path.resolve()),
        sha256=hashlib.sha256(data).hexdigest(),
        format=fmt,
        encoding=encoding,
        text=text,
        turns=tuple(turns),
        attributes=replace(attributes, title=title),
    )


def ingest_batch(
    paths: list[Path], manifest: Path | None = None, interviewer_labels=()
) -> tuple[list[Document], list[Rejection]]:
    """Read every file it can; every file it cannot becomes a `Rejection` with the reason."""
    inputs, errors = collect_inputs(paths, manifest)
    documents: list[Document] = []
    for item in inputs:
        try:
            documents.append(read_document(item.path, item.attributes, interviewer_labels))
        except IngestError as e:
            errors.append(e)
        except Exception as e:  # a parser bug must not sink the rest of the batch
            errors.append(IngestError(item.path, f"could not be read ({type(e).__name__}: {e})"))
    return documents, [Rejection(e.path, e.reason) for e in errors]


__all__ = [
    "Document",
    "IngestError",
    "InputFile",
    "ManifestError",
    "SUPPORTED",
    "Turn",
    "collect_inputs",
    "ingest_batch",
    "read_document",
    "read_manifest",
]
