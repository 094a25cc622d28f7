"""Human codings: import them from CSV or JSON lines, and export a coder's work as training
examples.

An import is a *full coding* of each passage it names: the coder judged the passage against
every code, so a code absent from the file is a decision that it does not apply (see the view
`human_decisions`, which states the rule for imports and review decisions once). An import
replaces, per (coder, passage), what that coder had coded on that passage: the coder's earlier
codings of the passages named in the file are deleted and the file's inserted, and each passage
is recorded in `human_coded_passages`, in one transaction, so importing the same file twice
changes nothing. Rows naming passages the database does not hold are counted and reported,
never silently dropped.

File formats (UTF-8):
- CSV with a header: `passage_id,code[,coder]`; instead of `passage_id`, a passage may be named
  by `document` (the document's path, file name or title) and `seq` (its number in the
  document, from 0).
- JSON lines: `{"passage_id": ..., "codes": [...], "coder": ...}` or
  `{"passage_id": ..., "code": ...}` (`document` + `seq` also work).
A row without a coder is the coder given on the command line (`--coder`).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa

from narratives.examples import jsonl_values
from narratives.review import ReviewError, check_coder


class HumanCodingError(ValueError):
    """The codings file cannot be imported; the message says where and why."""


@dataclass(frozen=True)
class ImportSummary:
    """What an import stored, per coder, and what it could not place."""

    stored: int  # codings stored
    passages: int  # passages whose codings were replaced
    coders: tuple[str, ...]
    unknown: tuple[str, ...] = ()  # passage references not in the database, first seen first
    no_codes: int = 0  # passages listed with no code (their earlier codings were cleared)


@dataclass
class _Rows:
    by_coder: dict[str, list[tuple[str, str | None]]] = field(default_factory=dict)

    def add(self, coder: str, passage: str, code: str | None) -> None:
        self.by_coder.setdefault(coder, []).append((passage, code))


def store_human_codings(
    con: duckdb.DuckDBPyConnection,
    rows: Iterable[tuple[str, str | None]],
    coder: str,
    source_file: str | None = None,
) -> tuple[int, list[str]]:
    """Store `coder`'s full codings of passages; return (codings stored, unknown passage ids).

    `rows` is an iterable of (passage_id, code) pairs; a pair with code None lists a passage
    with no code. Every known passage in `rows` counts as coded in full by the coder (codes not
    given do not apply): the coder's earlier human codings of it are deleted, the given ones
    inserted (duplicates once) and the passage recorded in `human_coded_passages` (with
    `source_file`), all in one transaction: importing the same rows again changes nothing.
    Unknown passage ids are returned, in the order first seen, and nothing is stored for them.
    Used by `narratives import-codings` and the REFI-QDA import.
    """
    coder = _coder(coder)
    pairs = list(dict.fromkeys((str(p), None if c is None else str(c)) for p, c in rows))
    ids = list(dict.fromkeys(p for p, _ in pairs))
    con.register("import_ids", pa.table({"passage_id": pa.array(ids, pa.string())}))
    try:
        known = {
            r[0]
            for r in con.execute(
                "SELECT passage_id FROM passages WHERE passage_id IN "
                "(SELECT passage_id FROM import_ids)"
            ).fetchall()
        }
    finally:
        con.unregister("import_ids")
    unknown = [p for p in ids if p not in known]
    coded = [(p, c) for p, c in pairs if p in known and c is not None]
    replaced = pa.table({"passage_id": pa.array([p for p in ids if p in known], pa.string())})
    new = pa.table(
        {
            "passage_id": pa.array([p for p, _ in coded], pa.string()),
            "code": pa.array([c for _, c in coded], pa.string()),
        }
    )
    con.register("import_passages", replaced)
    con.register("import_codings", new)
    con.execute("BEGIN")
    try:
        con.execute(
            "DELETE FROM codings WHERE source = 'human' AND coder = ? AND passage_id IN "
            "(SELECT passage_id FROM import_passages)",
            [coder],
        )
        con.execute(
            "INSERT INTO codings (passage_id, code, score, source, coder, created_at) "
            "SELECT passage_id, code, 1.0, 'human', ?, now() FROM import_codings",
            [coder],
        )
        # now() is the transaction's start: the record and the codings share one time, the
        # time of this decision (human_decisions orders a coder's decisions by it).
        con.execute(
            "DELETE FROM human_coded_passages WHERE coder = ? AND passage_id IN "
            "(SELECT passage_id FROM import_passages)",
            [coder],
        )
        con.execute(
            "INSERT INTO human_coded_passages (passage_id, coder, source_file, created_at) "
            "SELECT passage_id, ?, ?, now() FROM import_passages",
            [coder, source_file],
        )
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    finally:
        con.unregister("import_passages")
        con.unregister("import_codings")
    return len(coded), unknown


def import_codings(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    coder: str | None = None,
    known_codes: Sequence[str] | None = None,
) -> ImportSummary:
    """Import the CSV or JSON-lines codings file at `path` (see the module docstring); codes
    are checked against `known_codes` when given."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as e:
        raise HumanCodingError(f"cannot read {path}: {e.strerror or e}") from e
    except UnicodeDecodeError as e:
        raise HumanCodingError(f"{path} is not UTF-8 text; save it as UTF-8 and retry") from e
    default = _coder(coder) if coder else None
    if path.suffix.lower() in (".jsonl", ".ndjson", ".json"):
        records = _jsonl_records(text, path)
    elif path.suffix.lower() in (".csv", ".tsv"):
        records = _csv_records(text, path)
    else:
        raise HumanCodingError(f"{path}: expected a .csv or .jsonl file, got '{path.suffix}'")
    resolve = _resolver(con)
    rows = _Rows()
    problems: list[str] = []
    unresolved: list[str] = []
    known = set(known_codes) if known_codes is not None else None
    for line, rec in records:
        who = rec.get("coder") or default
        if not who:
            problems.append(f"line {line}: no coder (add a coder column or give --coder NAME)")
            continue
        try:
            who = _coder(str(who))
        except HumanCodingError as e:
            problems.append(f"line {line}: {e}")
            continue
        ref, passage_id = resolve(rec, line, problems)
        if ref is None:
            continue
        codes = rec["codes"]
        bad = sorted({c for c in codes if known is not None and c not in known})
        if bad:
            problems.append(
                f"line {line}: unknown code(s) {', '.join(bad)} (known: {', '.join(known_codes)})"
            )
            continue
        if passage_id is None:
            unresolved.append(ref)
            continue
        for code in codes or [None]:
            rows.add(who, passage_id, code)
    if problems:
        shown = "\n  - ".join(problems[:10])
        more = f"\n  ... and {len(problems) - 10} more" if len(problems) > 10 else ""
        raise HumanCodingError(
            f"{path} has {len(problems)} unusable row(s), nothing was imported:\n  - {shown}{more}"
        )
    stored, passages, no_codes = 0, 0, 0
    unknown = list(dict.fromkeys(unresolved))
    for who, pairs in rows.by_coder.items():
        n, missing = store_human_codings(con, pairs, who, str(path))
        stored += n
        unknown += [m for m in missing if m not in unknown]
        known_ids = {p for p, _ in pairs} - set(missing)
        passages += len(known_ids)
        with_code = {p for p, c in pairs if c is not None}
        no_codes += len(known_ids - with_code)
    return ImportSummary(stored, passages, tuple(rows.by_coder), tuple(unknown), no_codes)


def _coder(name: str) -> str:
    try:
        return check_coder(name)
    except ReviewError as e:
        raise HumanCodingError(str(e)) from e


def _jsonl_records(text: str, path: Path) -> list[tuple[int, dict]]:
    out, problems = [], []
    for number, row in jsonl_values(text, problems):
        if not isinstance(row, dict):
            problems.append(f"line {number}: expected an object with passage_id and codes")
            continue
        if "codes" in row:
            codes = row["codes"]
            if isinstance(codes, str):
                codes = [codes]
            if not isinstance(codes, list) or not all(isinstance(c, str) for c in codes):
                problems.append(f'line {number}: "codes" must be a list of code ids')
                continue
        elif isinstance(row.get("code"), str) and row["code"].strip():
            codes = [row["code"]]
        else:
            problems.append(f'line {number}: needs "codes" (a list) or "code"')
            continue
        row["codes"] = [c.strip() for c in codes if c.strip()]
        out.append((number, row))
    if problems:
        shown = "\n  - ".join(problems[:10])
        raise HumanCodingError(f"{path} is not valid JSON lines:\n  - {shown}")
    return out


def _csv_records(text: str, path: Path) -> list[tuple[int, dict]]:
    dialect = "excel-tab" if path.suffix.lower() == ".tsv" else "excel"
    reader = csv.DictReader(text.splitlines(), dialect=dialect)
    columns = [c.strip().lower() for c in reader.fieldnames or []]
    names_passage = "passage_id" in columns or {"document", "seq"} <= set(columns)
    if "code" not in columns or not names_passage:
        raise HumanCodingError(
            f"{path}: expected the header passage_id,code[,coder] (or document,seq,code), "
            f"found {','.join(columns) or 'nothing'}"
        )
    out = []
    for number, raw in enumerate(reader, start=2):
        row = {(k or "").strip().lower(): (v or "").strip() for k, v in raw.items()}
        if not any(row.values()):
            continue
        row["codes"] = [row["code"]] if row.get("code") else []
        out.append((number, row))
    return out


def _resolver(con: duckdb.DuckDBPyConnection):
    """A function (record, line, problems) -> (reference, passage id or None when unknown)."""
    docs = con.execute("SELECT document_id, path, title FROM documents").fetchall()
    by_name: dict[str, set[str]] = {}
    for doc_id, doc_path, title in docs:
        for name in {doc_path, Path(doc_path).name, title}:
            if name:
                by_name.setdefault(name, set()).add(doc_id)

    def resolve(rec: dict, line: int, problems: list[str]) -> tuple[str | None, str | None]:
        pid = str(rec.get("passage_id") or "").strip()
        if pid:
            return pid, pid  # unknown ids are found (and reported) when storing
        document, seq = str(rec.get("document") or "").strip(), rec.get("seq")
        if not document or seq in (None, ""):
            problems.append(f"line {line}: needs passage_id, or document and seq")
            return None, None
        try:
            number = int(seq)
        except (TypeError, ValueError):
            problems.append(f"line {line}: seq must be a whole number, got '{seq}'")
            return None, None
        ref = f"{document}#{number}"
        matches = by_name.get(document, set())
        if len(matches) > 1:
            n = len(matches)
            problems.append(f"line {line}: '{document}' names {n} documents; give its path")
            return None, None
        if not matches:
            return ref, None
        row = con.execute(
            "SELECT passage_id FROM passages WHERE document_id = ? AND seq = ?",
            [next(iter(matches)), number],
        ).fetchone()
        return ref, (row[0] if row else None)

    return resolve


def coder_passages_sql(coder_param: str = "?") -> str:
    """SQL for the passages a human coder coded, imported or reviewed (one column:
    passage_id). `coder_param` appears three times: pass a named parameter (e.g. "$coder")."""
    return (
        f"SELECT passage_id FROM codings WHERE source = 'human' AND coder = {coder_param} "
        f"UNION SELECT passage_id FROM review_decisions WHERE coder = {coder_param} "
        f"UNION SELECT passage_id FROM human_coded_passages WHERE coder = {coder_param}"
    )


def require_human_decisions(con: duckdb.DuckDBPyConnection) -> None:
    """Raise HumanCodingError when the database predates the `human_decisions` view (e.g. a
    copy published by an older narratives)."""
    found = con.execute(
        "SELECT 1 FROM duckdb_views() WHERE view_name = 'human_decisions' AND NOT internal"
    ).fetchall()
    if not found:
        raise HumanCodingError(
            "this database predates per-code human decisions (no view human_decisions); run "
            "`narratives run` on it once to add it (unchanged files are not coded again)"
        )


# A coder's passages, each with the codes the coder decided there and the codes applied; a
# passage is decided in full when every code known to the database is decided (always true
# of an imported passage, see human_decisions).
_CODER_PASSAGES = """
WITH codes AS (
    SELECT code FROM code_scores UNION SELECT code FROM codings
),
mine AS (
    SELECT passage_id, count(DISTINCT code) AS decided,
        list(DISTINCT code ORDER BY code) FILTER (WHERE applied) AS codes
    FROM human_decisions WHERE coder = $coder GROUP BY passage_id
)
SELECT p.passage_id, p.text, prev.text AS context, m.codes,
    m.decided >= (SELECT count(*) FROM codes) AS complete
FROM mine m
JOIN passages p USING (passage_id)
JOIN documents d ON d.document_id = p.document_id
LEFT JOIN passages prev ON prev.document_id = p.document_id AND prev.seq = p.seq - 1
ORDER BY d.path, p.seq
"""


def _coder_passages(con: duckdb.DuckDBPyConnection, coder: str) -> list[tuple]:
    require_human_decisions(con)
    rows = con.execute(_CODER_PASSAGES, {"coder": coder}).fetchall()
    if not rows:
        raise HumanCodingError(
            f"coder '{coder}' has not reviewed or imported any passage in this database"
        )
    return rows


def training_examples(con: duckdb.DuckDBPyConnection, coder: str) -> list[dict]:
    """The passages the coder decided in full, as training examples, in document order:
    `{"text", "codes", "context"?, "id"}`; `codes` is [] when the coder applied no code,
    `context` the text of the passage before it in its document.

    A passage is decided in full when the coder imported a full coding of it, or took review
    decisions on every code (see the view `human_decisions`). A passage reviewed on some codes
    only is left out: its other codes were not judged, and writing them as absent would teach
    a model false negatives (`partial_passages` counts them)."""
    coder = _coder(coder)
    rows = _coder_passages(con, coder)
    examples = []
    for passage_id, text, context, codes, complete in rows:
        if not complete:
            continue
        example = {"text": text, "codes": list(codes or [])}
        if context:
            example["context"] = context
        example["id"] = passage_id
        examples.append(example)
    if not examples:
        raise HumanCodingError(
            f"coder '{coder}' decided no passage in full: each of the {len(rows)} passages "
            "reviewed has codes not yet decided; review their other codes (narratives review) "
            "or import full codings of them"
        )
    return examples


def partial_passages(con: duckdb.DuckDBPyConnection, coder: str) -> list[str]:
    """The passages the coder decided some codes of, but not all (left out of training
    examples), in document order."""
    coder = _coder(coder)
    return [row[0] for row in _coder_passages(con, coder) if not row[-1]]


def pooled_training_examples(con: duckdb.DuckDBPyConnection, coders: list[str]) -> list[dict]:
    """The passages every one of `coders` decided in full, as training examples in document
    order: `codes` are those more than half of them gave, and where they split, `"votes"`
    gives each split code's share of the coders (what `narratives train` learns from)."""
    if len(coders) == 1:
        return training_examples(con, coders[0])
    if len(set(map(_coder, coders))) < len(coders):
        raise HumanCodingError(f"a coder is named twice: {', '.join(coders)}")
    each = [{e["id"]: e for e in training_examples(con, c)} for c in coders]
    examples = []
    for pid, first in each[0].items():  # document order
        if not all(pid in decided for decided in each[1:]):
            continue
        given = [set(decided[pid]["codes"]) for decided in each]
        share = {c: sum(c in g for g in given) / len(given) for c in sorted(set().union(*given))}
        example = {"text": first["text"], "codes": [c for c, v in share.items() if v > 0.5]}
        if votes := {c: round(v, 4) for c, v in share.items() if v < 1}:
            example["votes"] = votes
        if "context" in first:
            example["context"] = first["context"]
        example["id"] = pid
        examples.append(example)
    if not examples:
        raise HumanCodingError(
            f"coders {', '.join(coders)} decided no passage in full in common; export them one "
            "at a time, or code the same passages"
        )
    return examples


def export_training(
    con: duckdb.DuckDBPyConnection, coder: str | list[str], out: Path
) -> list[dict]:
    """Write the training examples of one coder, or of several pooled
    (`pooled_training_examples`), to `out` as JSON lines; return them."""
    coders = [coder] if isinstance(coder, str) else list(coder)
    examples = pooled_training_examples(con, coders)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    with tmp.open("w", encoding="utf-8") as f:
        for example in examples:
            f.write(json.dumps(example, ensure_ascii=False) + "\n")
    tmp.replace(out)
    return examples
