"""Review: a human coder accepts, rejects or changes the model's least certain suggestions.

A suggestion is one (passage, code) pair scored by the latest model (table `code_scores`),
whether or not the model applied the code. Suggestions come nearest the decision boundary
first: for each (model, code) the boundary is taken as the lowest score among the model's
applied codings of that code (0.5 when the model applied it nowhere), and pairs are ordered by
|score - boundary|. Only participant passages, and only pairs the coder has not yet decided
(no row in the view `human_decisions`: no review decision, no human coding of that code, no
imported full coding of that passage, by that coder) are suggested.

A decision decides one (passage, code) pair only: accept, the code applies; reject, it does
not; change from X to Y, X does not and Y does. The passage's other codes stay undecided by the
coder (final_codings keeps the model's there; see `human_decisions`). Each decision is one
short transaction: a `review_decisions` row, plus for accept / change a `codings` row with
source 'human', the coder's name and score 1.0. Model codings are never updated or deleted.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

DECISIONS = ("accept", "reject", "change")
DEFAULT_THRESHOLD = 0.5
RESERVED_CODERS = ("model",)


class ReviewError(ValueError):
    """A review cannot go on as asked; the message says what to do."""


class AlreadyDecidedError(ReviewError):
    """The coder already decided this (passage, code) pair, e.g. in another session."""


@dataclass(frozen=True)
class Suggestion:
    """One (passage, code) pair for a coder to decide, with what is needed to cite it."""

    passage_id: str
    code: str
    score: float
    threshold: float
    applied: bool  # did the model apply the code?
    model_id: str
    text: str
    speaker: str | None
    document_id: str
    seq: int
    title: str | None
    place: str | None
    role: str | None
    path: str
    start_time: float | None
    page: int | None

    @property
    def distance(self) -> float:
        return abs(self.score - self.threshold)

    @property
    def citation(self) -> str:
        """Place, role, document title and timestamp or page, e.g.
        `Kelsham, enabler, "Kelsham Connected - ...", 00:01:40`."""
        parts = [p for p in (self.place, self.role) if p]
        parts.append(f'"{self.title}"' if self.title else self.path)
        if self.start_time is not None:
            parts.append(format_timestamp(self.start_time))
        if self.page is not None:
            parts.append(f"p. {self.page}")
        return ", ".join(parts)


def format_timestamp(seconds: float) -> str:
    """hh:mm:ss of a number of seconds."""
    s = int(seconds)
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def check_coder(coder: str) -> str:
    """The coder's name, stripped; refuses empty names and the name reserved for the model."""
    name = (coder or "").strip()
    if not name:
        raise ReviewError("a coder name is needed (--coder NAME)")
    if name.lower() in RESERVED_CODERS or name.lower().startswith("model:"):
        raise ReviewError(f"'{name}' names the model; choose a person's name for --coder")
    return name


def latest_model_id(con: duckdb.DuckDBPyConnection) -> str:
    """The model of the most recent run whose scores are still stored."""
    row = con.execute(
        "SELECT r.model_id FROM runs r WHERE r.model_id IN (SELECT DISTINCT model_id FROM "
        "code_scores) ORDER BY r.started_at DESC LIMIT 1"
    ).fetchone()
    if row is None:
        row = con.execute("SELECT max(model_id) FROM code_scores").fetchone()
    if row is None or row[0] is None:
        raise ReviewError("no passages have been coded by a model yet; run `narratives run` first")
    return row[0]


def model_codes(con: duckdb.DuckDBPyConnection, model_id: str) -> list[str]:
    """The codes the model scored, sorted."""
    rows = con.execute(
        "SELECT DISTINCT code FROM code_scores WHERE model_id = ? ORDER BY code", [model_id]
    ).fetchall()
    return [r[0] for r in rows]


_SUGGESTIONS = """
WITH thresholds AS (
    SELECT code, min(score) AS threshold FROM codings
    WHERE source = 'model' AND model_id = $model GROUP BY code
)
SELECT s.passage_id, s.code, s.score, coalesce(t.threshold, $default) AS threshold,
    EXISTS (SELECT 1 FROM codings c WHERE c.source = 'model' AND c.model_id = s.model_id
            AND c.passage_id = s.passage_id AND c.code = s.code) AS applied,
    s.model_id, p.text, p.speaker, p.document_id, p.seq, d.title, d.place, d.role, d.path,
    p.start_time, p.page
FROM code_scores s
JOIN passages p USING (passage_id)
JOIN documents d ON d.document_id = p.document_id
LEFT JOIN thresholds t ON t.code = s.code
WHERE s.model_id = $model AND NOT p.is_interviewer
  AND ($code IS NULL OR s.code = $code)
  AND NOT EXISTS (SELECT 1 FROM human_decisions h WHERE h.coder = $coder
                  AND h.passage_id = s.passage_id AND h.code = s.code)
ORDER BY abs(s.score - coalesce(t.threshold, $default)), s.passage_id, s.code
LIMIT $limit
"""


def suggestions(
    con: duckdb.DuckDBPyConnection,
    coder: str,
    code: str | None = None,
    limit: int | None = None,
    model_id: str | None = None,
) -> list[Suggestion]:
    """The (passage, code) pairs `coder` has not decided, nearest the model's boundary first."""
    coder = check_coder(coder)
    model_id = model_id or latest_model_id(con)
    known = model_codes(con, model_id)
    if code is not None and code not in known:
        raise ReviewError(f"unknown code '{code}': model {model_id} scored {', '.join(known)}")
    if limit is not None and limit < 1:
        raise ReviewError(f"--limit must be at least 1, got {limit}")
    rows = con.execute(
        _SUGGESTIONS,
        {
            "model": model_id,
            "default": DEFAULT_THRESHOLD,
            "code": code,
            "coder": coder,
            "limit": limit if limit is not None else 2**62,
        },
    ).fetchall()
    return [Suggestion(*row) for row in rows]


def record_decision(
    con: duckdb.DuckDBPyConnection,
    suggestion: Suggestion,
    decision: str,
    coder: str,
    new_code: str | None = None,
) -> None:
    """Store one decision in its own transaction: the decision row, and for accept / change
    the human coding (score 1.0) of the accepted or chosen code."""
    coder = check_coder(coder)
    if decision not in DECISIONS:
        raise ReviewError(f"decision must be one of {', '.join(DECISIONS)}, got '{decision}'")
    if decision == "change":
        known = model_codes(con, suggestion.model_id)
        if not new_code or new_code not in known:
            raise ReviewError(f"'{new_code}' is not a code; choose one of {', '.join(known)}")
        if new_code == suggestion.code:
            raise ReviewError(f"'{new_code}' is the suggested code; accept it instead")
    elif new_code is not None:
        raise ReviewError("a new code is only given with the decision 'change'")
    human_code = {"accept": suggestion.code, "change": new_code}.get(decision)
    con.execute("BEGIN")
    try:
        exists = con.execute(
            "SELECT count(*) FROM passages WHERE passage_id = ?", [suggestion.passage_id]
        ).fetchone()[0]
        if not exists:
            raise ReviewError(
                f"passage {suggestion.passage_id} is no longer stored (its document was "
                "reloaded); start the review again"
            )
        decided = con.execute(
            "SELECT count(*) FROM review_decisions WHERE coder = ? AND passage_id = ? AND code = ?",
            [coder, suggestion.passage_id, suggestion.code],
        ).fetchone()[0]
        if decided:
            raise AlreadyDecidedError(
                f"{coder} already decided {suggestion.code} on passage {suggestion.passage_id}"
            )
        con.execute(
            "INSERT INTO review_decisions VALUES (?, ?, ?, ?, ?, ?, now())",
            [suggestion.passage_id, suggestion.code, decision, new_code, coder,
             suggestion.model_id],
        )  # fmt: skip
        if human_code is not None:
            # The coder may already hold this coding (e.g. imported): never duplicate it.
            con.execute(
                "INSERT INTO codings (passage_id, code, score, source, coder, created_at) "
                "SELECT ?, ?, 1.0, 'human', ?, now() WHERE NOT EXISTS (SELECT 1 FROM codings "
                "WHERE source = 'human' AND coder = ? AND passage_id = ? AND code = ?)",
                [suggestion.passage_id, human_code, coder, coder, suggestion.passage_id,
                 human_code],
            )  # fmt: skip
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise


def format_suggestion(
    suggestion: Suggestion, number: int, total: int, definition: str | None = None
) -> str:
    """The suggestion as a coder sees it: code, score, citation, speaker and text, and the
    code's definition when known."""
    s = suggestion
    verdict = "applied" if s.applied else "not applied"
    lines = [
        f"[{number}/{total}] {s.code}: score {s.score:.3f}, boundary {s.threshold:.3f}, "
        f"{verdict} by the model",
        f"  {s.citation}",
        f"  {s.speaker or '(no speaker)'}: {' '.join(s.text.split())}",
    ]
    if definition:
        lines.append(f"  {s.code} = {' '.join(definition.split())}")
    return "\n".join(lines)
