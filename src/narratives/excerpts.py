"""Excerpts: the strongest coded passages for a code, balanced and cited, for report authors.

`select_excerpts` picks passages coded with a code (as `final_codings` counts them: per
(passage, code), a human's decision where there is one, else the model's), strongest first, with
at most `per_document` from one document and `per_speaker` from one speaker, and skips a
passage that is a near-duplicate of one already chosen (cosine similarity of their stored
embeddings >= 0.92, or the same words). The text is the stored passage text, exactly as in
the source, except that people's names are pseudonymised unless `real_names` is set.

The formatting functions (`to_markdown`, `to_csv`, `to_json`, `to_html`, `write_docx`) turn
the chosen excerpts into what a report author pastes or opens.
"""

from __future__ import annotations

import csv
import html
import io
import json
import math
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import NamedTuple

import duckdb
import numpy as np

from narratives.embed import text_key
from narratives.pseudonymise import Pseudonymiser, name_key, pseudonymiser_for
from narratives.query import reader_path
from narratives.settings import Settings

DUPLICATE_COSINE = 0.92
FORMATS = ("md", "csv", "docx", "html", "json")
_PAGE = 256  # candidates read (and embeddings looked up) at a time


class ExcerptError(RuntimeError):
    """Excerpts cannot be selected as asked."""


@dataclass(frozen=True)
class Excerpt:
    """One passage chosen as evidence for a code, with its citation."""

    text: str
    code: str
    score: float
    source: str  # model | human
    citation: str
    document_id: str
    passage_id: str
    title: str | None
    place: str | None
    project: str | None
    wave: str | None
    date: str | None
    role: str | None
    speaker: str | None
    start_time: float | None
    page: int | None

    def to_json(self) -> dict:
        return asdict(self)


def timestamp(seconds: float) -> str:
    """hh:mm:ss of a time in seconds (rounded down)."""
    whole = int(seconds)
    return f"{whole // 3600:02d}:{whole // 60 % 60:02d}:{whole % 60:02d}"


def citation(
    place: str | None,
    role: str | None,
    title: str | None,
    speaker: str | None,
    start_time: float | None = None,
    page: int | None = None,
) -> str:
    """`Kelsham, enabler, "Kelsham Connected - baseline interview", Grace Adeyemi, 00:04:12`:
    the parts that are known, in that order (`p. 3` for a page)."""
    where = timestamp(start_time) if start_time is not None else None
    if where is None and page is not None:
        where = f"p. {page}"
    parts = [place, role, f'"{title}"' if title else None, speaker, where]
    return ", ".join(p for p in parts if p)


_CANDIDATES = """
SELECT f.passage_id, p.document_id, f.code, f.score, f.source, p.text, p.speaker,
       p.start_time, p.page, d.title, d.place, d.project, d.wave, CAST(d.date AS VARCHAR),
       d.role
FROM final_codings f
JOIN passages p USING (passage_id)
JOIN documents d USING (document_id)
WHERE f.code = $code
  AND ($place IS NULL OR lower(d.place) = lower($place))
  AND ($wave IS NULL OR lower(d.wave) = lower($wave))
  AND ($role IS NULL OR lower(d.role) = lower($role))
  AND ($min_score IS NULL OR f.score >= $min_score)
ORDER BY f.score DESC, d.date NULLS LAST, d.path, p.seq
"""


class _Candidate(NamedTuple):
    """One row of `_CANDIDATES`, in its column order."""

    passage_id: str
    document_id: str
    code: str
    score: float
    source: str
    text: str
    speaker: str | None
    start_time: float | None
    page: int | None
    title: str | None
    place: str | None
    project: str | None
    wave: str | None
    date: str | None
    role: str | None


def select_excerpts(
    settings: Settings,
    code: str,
    place: str | None = None,
    wave: str | None = None,
    role: str | None = None,
    min_score: float | None = None,
    limit: int = 10,
    per_document: int | None = None,
    per_speaker: int | None = None,
    real_names: bool = False,
    duplicate_cosine: float = DUPLICATE_COSINE,
) -> list[Excerpt]:
    """The strongest passages coded `code`, at most `limit`, balanced across documents and
    speakers (default for each: ceil(limit / 3)), near-duplicates collapsed, strongest first."""
    if limit < 1:
        raise ExcerptError(f"--limit must be at least 1, got {limit}")
    fair = math.ceil(limit / 3)
    per_document = fair if per_document is None else per_document
    per_speaker = fair if per_speaker is None else per_speaker
    if per_document < 1 or per_speaker < 1:
        raise ExcerptError("--per-document and --per-speaker must be at least 1")
    with _open(settings) as con:
        _check_filters(con, code=code, place=place, wave=wave, role=role)
        names = None if real_names else pseudonymiser_for(con)
        params = dict(code=code, place=place, wave=wave, role=role, min_score=min_score)
        chosen: list[_Candidate] = []
        vectors: list[np.ndarray] = []
        seen_words: set[str] = set()
        per_doc: dict[str, int] = {}
        per_person: dict[str, int] = {}
        for page in _pages(con, params):
            found = _embeddings(con, [text_key(c.text) for c in page])
            for c in page:
                person = name_key(c.speaker) if c.speaker else f"document {c.document_id}"
                if per_doc.get(c.document_id, 0) >= per_document:
                    continue
                if per_person.get(person, 0) >= per_speaker:
                    continue
                words = " ".join(c.text.lower().split())
                vector = found.get(text_key(c.text))
                if words in seen_words or _near(vector, vectors, duplicate_cosine):
                    continue
                chosen.append(c)
                seen_words.add(words)
                if vector is not None:
                    vectors.append(vector)
                per_doc[c.document_id] = per_doc.get(c.document_id, 0) + 1
                per_person[person] = per_person.get(person, 0) + 1
                if len(chosen) == limit:
                    break
            if len(chosen) == limit:
                break
    return [_excerpt(c, names) for c in chosen]


def _open(settings: Settings) -> duckdb.DuckDBPyConnection:
    path = reader_path(settings)
    if not path.exists():
        raise ExcerptError(f"{settings.db} does not exist yet; run `narratives run` first")
    try:
        return duckdb.connect(str(path), read_only=True)
    except duckdb.Error as e:
        raise ExcerptError(f"cannot open {path} read-only: {str(e).splitlines()[0]}") from e


def _check_filters(con: duckdb.DuckDBPyConnection, **filters: str | None) -> None:
    """Raise with the known values when a filter matches nothing at all."""
    try:
        codes = [
            c for (c,) in con.execute("SELECT DISTINCT code FROM codings ORDER BY 1").fetchall()
        ]
    except duckdb.CatalogException as e:
        raise ExcerptError(f"not a narratives database: {str(e).splitlines()[0]}") from e
    if not con.execute("SELECT 1 FROM duckdb_views() WHERE view_name = 'final_codings'").fetchall():
        raise ExcerptError(
            "this database predates the evaluation views; run `narratives run` on it once to "
            "add them (unchanged files are not coded again)"
        )
    if filters["code"] not in codes:
        known = ", ".join(codes) or "none yet: run `narratives run` first"
        raise ExcerptError(f"no passages are coded '{filters['code']}'; codes in use: {known}")
    for column in ("place", "wave", "role"):
        value = filters[column]
        if value is None:
            continue
        known = [
            v
            for (v,) in con.execute(
                f"SELECT DISTINCT {column} FROM documents WHERE {column} IS NOT NULL ORDER BY 1"
            ).fetchall()
        ]
        if value.lower() not in {k.lower() for k in known}:
            raise ExcerptError(
                f"no documents have {column} '{value}'; {column}s are: {', '.join(known)}"
            )


def _pages(con: duckdb.DuckDBPyConnection, params: dict) -> Iterator[list[_Candidate]]:
    # A cursor of its own: the embeddings are looked up on `con` between pages.
    cursor = con.cursor()
    try:
        result = cursor.execute(_CANDIDATES, params)
        while page := result.fetchmany(_PAGE):
            yield [_Candidate(*row) for row in page]
    finally:
        cursor.close()


def _embeddings(con: duckdb.DuckDBPyConnection, keys: Sequence[str]) -> dict[str, np.ndarray]:
    """Stored vectors by text key, from the embedding model that covers most of `keys`."""
    rows = con.execute(
        "SELECT model, text_key, embedding FROM embeddings WHERE text_key IN "
        "(SELECT unnest($keys))",
        dict(keys=list(set(keys))),
    ).fetchall()
    by_model: dict[str, dict[str, np.ndarray]] = {}
    for model, key, vector in rows:
        v = np.asarray(vector, dtype=np.float32)
        by_model.setdefault(model, {})[key] = v / (np.linalg.norm(v) or 1.0)
    if not by_model:
        return {}
    return max(by_model.values(), key=len)


def _near(vector: np.ndarray | None, chosen: list[np.ndarray], threshold: float) -> bool:
    if vector is None or not chosen:
        return False
    same_size = [c for c in chosen if c.shape == vector.shape]
    return bool(same_size) and float(np.max(np.stack(same_size) @ vector)) >= threshold


def _excerpt(c: _Candidate, names: Pseudonymiser | None) -> Excerpt:
    text, title, speaker = c.text, c.title, c.speaker
    if names is not None:
        text = names.apply(text, c.document_id)
        title = names.apply(title, c.document_id)
        speaker = names.speaker(speaker, c.document_id)
    return Excerpt(
        text=text,
        code=c.code,
        score=round(float(c.score), 4),
        source=c.source,
        citation=citation(c.place, c.role, title, speaker, c.start_time, c.page),
        document_id=c.document_id,
        passage_id=c.passage_id,
        title=title,
        place=c.place,
        project=c.project,
        wave=c.wave,
        date=c.date,
        role=c.role,
        speaker=speaker,
        start_time=c.start_time,
        page=c.page,
    )


# Formatting -------------------------------------------------------------------------------

CSV_COLUMNS = (
    "code",
    "score",
    "text",
    "citation",
    "place",
    "wave",
    "role",
    "speaker",
    "title",
    "document_id",
    "passage_id",
)


def to_markdown(excerpts: Sequence[Excerpt]) -> str:
    """A quote block and a citation line per excerpt."""
    blocks = []
    for e in excerpts:
        quote = "\n".join(f"> {line}".rstrip() for line in e.text.splitlines() or [""])
        blocks.append(f"{quote}\n\n— {e.citation}\n")
    return "\n".join(blocks)


def to_csv(excerpts: Sequence[Excerpt]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for e in excerpts:
        data = e.to_json()
        writer.writerow([data[c] for c in CSV_COLUMNS])
    return buf.getvalue()


def to_json(excerpts: Sequence[Excerpt]) -> str:
    return json.dumps([e.to_json() for e in excerpts], indent=2, ensure_ascii=False) + "\n"


def heading(code: str, **filters: str | None) -> str:
    """`Excerpts: relating (Kelsham, follow-up)`."""
    chosen = [v for v in filters.values() if v]
    return f"Excerpts: {code}" + (f" ({', '.join(chosen)})" if chosen else "")


_STYLE = (
    "body{font-family:Georgia,serif;max-width:44em;margin:2em auto;padding:0 1em;"
    "line-height:1.5;color:#222}blockquote{margin:1.5em 0;padding:.2em 1em;"
    "border-left:4px solid #888}blockquote p{white-space:pre-wrap;margin:.4em 0}"
    "footer{font-style:italic;color:#555}"
)


def to_html(excerpts: Sequence[Excerpt], title: str = "Excerpts") -> str:
    """One self-contained HTML page; every text is escaped."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        '<head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title>",
        f"<style>{_STYLE}</style></head>",
        "<body>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    for e in excerpts:
        parts.append(
            f"<blockquote><p>{html.escape(e.text)}</p>"
            f"<footer>{html.escape(e.citation)}</footer></blockquote>"
        )
    parts += ["</body>", "</html>"]
    return "\n".join(parts) + "\n"


def write_docx(excerpts: Sequence[Excerpt], path: Path, title: str = "Excerpts") -> None:
    """A Word document: a heading, then per excerpt a paragraph of text and its citation in
    italics."""
    from docx import Document

    doc = Document()
    doc.add_heading(title, level=1)
    for e in excerpts:
        doc.add_paragraph(e.text)
        doc.add_paragraph().add_run(e.citation).italic = True
    doc.save(str(path))
