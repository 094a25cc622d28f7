"""Store: coded passages into one DuckDB file, safely and idempotently.

- The schema is created by the ordered migrations in `narratives.schema`.
- A load is one transaction per batch: old rows of each document are deleted and the new ones
  inserted from Arrow tables, so a rerun never duplicates and a failure leaves the last good
  state.
- After each load a consistent copy is published next to the file (`X.read.duckdb`), which
  notebooks, DuckDB shells and `narratives sql` open read-only without ever blocking a load.
"""

from __future__ import annotations

import json
import os
import re
import socket
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from narratives.codebook import Codebook, CodebookError, load_codebook, parse_codebook
from narratives.records import Coding, Document, Passage, Rejection
from narratives.schema import MIGRATIONS
from narratives.settings import Settings, read_copy_path


class StoreError(RuntimeError):
    """The database cannot be used as asked."""


class StoreLockedError(StoreError):
    """Another process holds the database's write lock."""


@dataclass(frozen=True)
class CodedBatch:
    """Everything one load writes: documents, their passages, codings and scores."""

    documents: Sequence[Document]
    passages: Sequence[Passage]
    codings: Sequence[Coding]
    scores: np.ndarray  # (n coded passages, n codes)
    scored_ids: Sequence[str]  # passage ids, one per row of `scores`
    codes: Sequence[str]
    model_id: str
    codebook: str
    codebook_version: str


def _lock_holder(message: str) -> str:
    m = re.search(r"Conflicting lock is held in (.*?\(PID \d+\))", message)
    return m.group(1).strip() if m else "another process"


def connect(
    db: Path, read_only: bool = False, lock_timeout: float = 60.0
) -> duckdb.DuckDBPyConnection:
    """A connection to `db`, waiting up to `lock_timeout` seconds for another writer to finish."""
    db = Path(db)
    if read_only and not db.exists():
        raise StoreError(f"{db} does not exist yet; run `narratives run` first")
    db.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + lock_timeout
    delay = 0.2
    while True:
        try:
            return duckdb.connect(str(db), read_only=read_only)
        except duckdb.IOException as e:
            if "lock" not in str(e).lower():
                raise StoreError(f"cannot open {db}: {e}") from e
            if time.monotonic() >= deadline:
                raise StoreLockedError(
                    f"{db} is locked by {_lock_holder(str(e))}; close that process (a notebook "
                    f"or DuckDB shell should open {read_copy_path(db).name} "
                    "instead) and run again: nothing was written"
                ) from e
            time.sleep(delay)
            delay = min(delay * 2, 2.0)


@contextmanager
def open_store(db: Path, lock_timeout: float = 60.0) -> Iterator[duckdb.DuckDBPyConnection]:
    """A short-lived read-write connection with the schema migrated."""
    con = connect(db, lock_timeout=lock_timeout)
    try:
        migrate(con)
        yield con
    finally:
        con.close()


def migrate(con: duckdb.DuckDBPyConnection) -> int:
    """Apply the migrations not yet applied, in order; return how many ran."""
    con.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations "
        "(version INTEGER, name VARCHAR, applied_at TIMESTAMP)"
    )
    done = {v for (v,) in con.execute("SELECT version FROM schema_migrations").fetchall()}
    ran = 0
    for version, (name, sql) in enumerate(MIGRATIONS, start=1):
        if version in done:
            continue
        con.execute("BEGIN")
        try:
            con.execute(sql)
            con.execute("INSERT INTO schema_migrations VALUES (?, ?, now())", [version, name])
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
        ran += 1
    return ran


def record_codebook(con: duckdb.DuckDBPyConnection, codebook: Codebook, run_id: str) -> None:
    """Keep the whole codebook a run codes by (once per file hash)."""
    con.execute(
        "INSERT INTO codebooks VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        [codebook.sha256, codebook.name, codebook.version, json.dumps(codebook.content()), run_id],
    )


def latest_codebook(con: duckdb.DuckDBPyConnection) -> Codebook | None:
    """The codebook the latest run that finished coded by, or None (no such run, or a
    database from before codebooks were kept)."""
    if not con.execute(
        "SELECT 1 FROM information_schema.tables WHERE table_name = 'codebooks'"
    ).fetchall():
        return None  # a read copy published before the migration
    row = con.execute(
        "SELECT c.content, c.sha256 FROM runs r JOIN codebooks c ON c.sha256 = r.codebook_sha256 "
        "WHERE r.status IN ('ok', 'partial') ORDER BY r.started_at DESC, r.rowid DESC LIMIT 1"
    ).fetchone()
    return (
        parse_codebook(json.loads(row[0]), row[1], source="the database's codebook")
        if row
        else None
    )


def database_codebook(con: duckdb.DuckDBPyConnection | None, settings: Settings) -> Codebook | None:
    """The codebook for commands on a database (`con`, None where it cannot be opened): the
    file named ($NARRATIVES_CODEBOOK), else the one its latest finished run coded by, else the
    shipped file; None where that file is unusable."""
    if con is not None and not settings.codebook_given:
        if (recorded := latest_codebook(con)) is not None:
            return recorded
    try:
        return load_codebook(settings.codebook)
    except CodebookError:
        return None


def start_run(
    con: duckdb.DuckDBPyConnection, run_id: str, inputs: list[str], **info: str
) -> list[str]:
    """Record a run as running (a rerun of the same id starts it afresh), with this machine
    and process. First mark as failed the runs still `running` on this machine whose process
    has gone (killed outright, so they could not say so); return their ids."""
    host = socket.gethostname()
    dead = [
        rid
        for rid, pid in con.execute(
            "SELECT run_id, pid FROM runs WHERE status = 'running' AND host = ? AND pid IS NOT NULL",
            [host],
        ).fetchall()
        if not _process_alive(pid)
    ]
    if dead:
        con.execute(
            "UPDATE runs SET status = 'failed' WHERE run_id IN (SELECT unnest(?::VARCHAR[]))",
            [dead],
        )
    con.execute("DELETE FROM runs WHERE run_id = ?", [run_id])
    con.execute(
        "INSERT INTO runs (run_id, started_at, status, inputs, model_id, embedding_model, "
        "codebook, codebook_version, codebook_sha256, narratives_version, host, pid) "
        "VALUES (?, now(), 'running', ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            run_id,
            json.dumps(inputs),
            info.get("model_id"),
            info.get("embedding_model"),
            info.get("codebook"),
            info.get("codebook_version"),
            info.get("codebook_sha256"),
            info.get("narratives_version"),
            host,
            os.getpid(),
        ],
    )
    return dead


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True


def finish_run(
    con: duckdb.DuckDBPyConnection, run_id: str, status: str, counts: dict[str, int]
) -> None:
    con.execute(
        "UPDATE runs SET finished_at = now(), status = ?, documents = ?, unchanged = ?, "
        "passages = ?, codings = ?, rejected = ? WHERE run_id = ?",
        [
            status,
            counts.get("documents", 0),
            counts.get("unchanged", 0),
            counts.get("passages", 0),
            counts.get("codings", 0),
            counts.get("rejected", 0),
            run_id,
        ],
    )


def record_rejections(
    con: duckdb.DuckDBPyConnection, run_id: str, rejections: Sequence[Rejection]
) -> None:
    con.execute("DELETE FROM run_errors WHERE run_id = ?", [run_id])
    if rejections:
        table = pa.table(
            {
                "run_id": [run_id] * len(rejections),
                "path": [r.path for r in rejections],
                "reason": [r.reason for r in rejections],
            }
        )
        con.register("new_errors", table)
        con.execute("INSERT INTO run_errors SELECT run_id, path, reason, now() FROM new_errors")
        con.unregister("new_errors")


def resolve_documents(
    con: duckdb.DuckDBPyConnection, docs: Sequence[Document]
) -> tuple[list[Document], int]:
    """The documents with the ids they already have in the store, and how many were moved.

    A file is the same document as a stored one at the same path; or, when a stored document
    has the same bytes and its path no longer exists, the same document moved or renamed (its
    stored path is updated). A moved folder is then not loaded a second time."""
    if not docs:
        return [], 0
    con.register(
        "candidates",
        pa.table({"path": [d.path for d in docs], "sha256": [d.sha256 for d in docs]}),
    )
    rows = con.execute(
        "SELECT c.path, d.document_id, d.path, c.path = d.path FROM candidates c "
        "JOIN documents d ON d.path = c.path OR d.sha256 = c.sha256 "
        "ORDER BY c.path = d.path DESC, d.path"
    ).fetchall()
    con.unregister("candidates")
    adopted: dict[str, str] = {}  # candidate path -> stored id
    moves: list[tuple[str, str]] = []  # (new path, stored id)
    for path, stored_id, stored_path, same_path in rows:
        if path in adopted or stored_id in adopted.values():
            continue
        if same_path or not Path(stored_path).exists():
            adopted[path] = stored_id
            if not same_path:
                moves.append((path, stored_id))
    if moves:  # rare and few: row by row is fine
        con.executemany("UPDATE documents SET path = ? WHERE document_id = ?", moves)
    resolved = [replace(d, document_id=adopted.get(d.path, d.document_id)) for d in docs]
    return resolved, len(moves)


def unchanged_documents(
    con: duckdb.DuckDBPyConnection, docs: Sequence[Document], model_id: str, codebook_version: str
) -> set[str]:
    """Ids of documents already stored with the same bytes and coded by the same model."""
    if not docs:
        return set()
    table = pa.table(
        {"document_id": [d.document_id for d in docs], "sha256": [d.sha256 for d in docs]}
    )
    con.register("candidates", table)
    rows = con.execute(
        """
        SELECT c.document_id FROM candidates c
        JOIN documents d ON d.document_id = c.document_id AND d.sha256 = c.sha256
        WHERE d.n_passages = 0 OR EXISTS (
            SELECT 1 FROM code_scores s JOIN passages p USING (passage_id)
            WHERE p.document_id = c.document_id AND s.model_id = ? AND s.codebook_version = ?)
        """,
        [model_id, codebook_version],
    ).fetchall()
    con.unregister("candidates")
    return {r[0] for r in rows}


def cached_embeddings(
    con: duckdb.DuckDBPyConnection, model: str, keys: Sequence[str]
) -> dict[str, np.ndarray]:
    """Vectors already stored for these text keys under `model`."""
    if not keys:
        return {}
    con.register("wanted", pa.table({"text_key": list(dict.fromkeys(keys))}))
    result = con.sql(
        "SELECT e.text_key, e.embedding FROM embeddings e JOIN wanted w USING (text_key) "
        "WHERE e.model = ?",
        params=[model],
    ).to_arrow_table()
    con.unregister("wanted")
    if result.num_rows == 0:
        return {}
    vectors = np.asarray(result.column("embedding").combine_chunks().flatten(), dtype=np.float32)
    vectors = vectors.reshape(result.num_rows, -1)
    return dict(zip(result.column("text_key").to_pylist(), vectors, strict=True))


def _quote(value: str) -> str:
    """A SQL string literal, for the one statement that takes no parameters (ATTACH)."""
    return "'" + value.replace("'", "''") + "'"


def _documents_table(docs: Sequence[Document], run_id: str, counts: dict[str, int]) -> pa.Table:
    def attr(name: str) -> list[str | None]:
        return [getattr(d.attributes, name) for d in docs]

    return pa.table(
        {
            "document_id": [d.document_id for d in docs],
            "path": [d.path for d in docs],
            "sha256": [d.sha256 for d in docs],
            "format": [d.format for d in docs],
            "encoding": [d.encoding for d in docs],
            "title": attr("title"),
            "place": attr("place"),
            "project": attr("project"),
            "wave": attr("wave"),
            "date": attr("date"),
            "role": attr("role"),
            "attributes": [json.dumps(dict(d.attributes.extra)) for d in docs],
            "text": [d.text for d in docs],
            "n_passages": [counts.get(d.document_id, 0) for d in docs],
            "run_id": [run_id] * len(docs),
        }
    )


def _passages_table(passages: Sequence[Passage]) -> pa.Table:
    return pa.table(
        {
            "passage_id": [p.passage_id for p in passages],
            "document_id": [p.document_id for p in passages],
            "seq": pa.array([p.seq for p in passages], pa.int32()),
            "speaker": [p.speaker for p in passages],
            "is_interviewer": [p.is_interviewer for p in passages],
            "text": [p.text for p in passages],
            "start_char": pa.array([p.start_char for p in passages], pa.int32()),
            "end_char": pa.array([p.end_char for p in passages], pa.int32()),
            "start_time": pa.array([p.start_time for p in passages], pa.float64()),
            "end_time": pa.array([p.end_time for p in passages], pa.float64()),
            "page": pa.array([p.page for p in passages], pa.int32()),
            "words": pa.array([len(p.text.split()) for p in passages], pa.int32()),
        }
    )


def _scores_table(batch: CodedBatch, run_id: str) -> pa.Table:
    n, k = batch.scores.shape if batch.scores.size else (len(batch.scored_ids), len(batch.codes))
    return pa.table(
        {
            "passage_id": np.repeat(np.asarray(batch.scored_ids, dtype=object), k).tolist(),
            "code": list(batch.codes) * n,
            "score": pa.array(batch.scores.reshape(-1).astype(np.float64)),
            "model_id": [batch.model_id] * (n * k),
            "codebook_version": [batch.codebook_version] * (n * k),
            "run_id": [run_id] * (n * k),
        }
    )


def embeddings_table(model: str, keys: Sequence[str], vectors: np.ndarray) -> pa.Table:
    flat = pa.array(np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1))
    offsets = pa.array(np.arange(0, len(keys) + 1, dtype=np.int32) * vectors.shape[1])
    return pa.table(
        {
            "model": [model] * len(keys),
            "text_key": list(keys),
            "embedding": pa.ListArray.from_arrays(offsets, flat),
        }
    )


def load_batch(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    batch: CodedBatch,
    new_embeddings: pa.Table | None = None,
) -> None:
    """Replace the batch's documents (their passages, model codings and scores) in one
    transaction. Human codings are never deleted."""
    per_doc: dict[str, int] = {}
    for p in batch.passages:
        per_doc[p.document_id] = per_doc.get(p.document_id, 0) + 1
    tables = {
        "new_documents": _documents_table(batch.documents, run_id, per_doc),
        "new_passages": _passages_table(batch.passages),
        "new_codings": pa.table(
            {
                "passage_id": [c.passage_id for c in batch.codings],
                "code": [c.code for c in batch.codings],
                "score": pa.array([c.score for c in batch.codings], pa.float64()),
            }
        ),
        "new_scores": _scores_table(batch, run_id),
    }
    for name, table in tables.items():
        con.register(name, table)
    if new_embeddings is not None:
        con.register("new_embeddings", new_embeddings)
    old = "SELECT passage_id FROM passages WHERE document_id IN (SELECT document_id FROM new_documents)"
    con.execute("BEGIN")
    try:
        con.execute(f"DELETE FROM code_scores WHERE passage_id IN ({old})")
        con.execute(f"DELETE FROM codings WHERE source = 'model' AND passage_id IN ({old})")
        con.execute(
            "DELETE FROM passages WHERE document_id IN (SELECT document_id FROM new_documents)"
        )
        con.execute(
            "DELETE FROM documents WHERE document_id IN (SELECT document_id FROM new_documents)"
        )
        con.execute(
            "INSERT INTO documents SELECT document_id, path, sha256, format, encoding, title, "
            "place, project, wave, TRY_CAST(date AS DATE), role, attributes::JSON, text, "
            "n_passages, run_id, now() FROM new_documents"
        )
        con.execute("INSERT INTO passages SELECT * FROM new_passages")
        con.execute(
            "INSERT INTO codings SELECT passage_id, code, score, 'model', NULL, ?, ?, ?, ?, now() "
            "FROM new_codings",
            [batch.model_id, batch.codebook, batch.codebook_version, run_id],
        )
        con.execute("INSERT INTO code_scores SELECT * FROM new_scores")
        if new_embeddings is not None:
            con.execute(
                "INSERT INTO embeddings SELECT n.* FROM new_embeddings n WHERE NOT EXISTS "
                "(SELECT 1 FROM embeddings e WHERE e.model = n.model AND e.text_key = n.text_key)"
            )
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    finally:
        for name in tables:
            con.unregister(name)
        if new_embeddings is not None:
            con.unregister("new_embeddings")


def publish(con: duckdb.DuckDBPyConnection, db: Path) -> Path:
    """Copy the database to `X.read.duckdb` atomically: readers see whole batches only."""
    target = read_copy_path(db)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    current = con.execute("SELECT current_database()").fetchall()[0][0]
    con.execute(f"ATTACH {_quote(str(tmp))} AS narratives_snapshot")
    try:
        con.execute(f'COPY FROM DATABASE "{current}" TO narratives_snapshot')
    finally:
        con.execute("DETACH narratives_snapshot")
    os.replace(tmp, target)
    return target
