"""Query: read-only SQL over the published copy of the store."""

from __future__ import annotations

from pathlib import Path

import duckdb

from narratives.settings import Settings


class QueryError(RuntimeError):
    """A query that cannot run, or would write."""


def reader_path(settings: Settings) -> Path:
    """The published read-only copy, or the database itself when nothing was published."""
    return settings.read_db if settings.read_db.exists() else settings.db


def run_query(settings: Settings, query: str, params: list | None = None):
    """(column names, rows) of `query`, run on a read-only connection: writes are refused."""
    path = reader_path(settings)
    if not path.exists():
        raise QueryError(f"{settings.db} does not exist yet; run `narratives run` first")
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.IOException as e:
        raise QueryError(f"cannot open {path} read-only: {e}") from e
    try:
        result = con.execute(query, params or [])
        columns = [d[0] for d in result.description or []]
        return columns, result.fetchall()
    except duckdb.InvalidInputException as e:
        if "read-only" in str(e).lower() or "read only" in str(e).lower():
            raise QueryError(
                "refused: `narratives sql` is read-only; it cannot change the database "
                f"({str(e).splitlines()[0]})"
            ) from e
        raise QueryError(str(e).splitlines()[0]) from e
    except duckdb.Error as e:
        raise QueryError(str(e).splitlines()[0]) from e
    finally:
        con.close()
