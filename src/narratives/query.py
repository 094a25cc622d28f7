"""Query: read-only SQL over the published copy of the store."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb

from narratives.settings import Settings


class QueryError(RuntimeError):
    """A query that cannot run, or would write."""


# A read-only connection still lets COPY ... TO and EXPORT write files (and EXPLAIN ANALYZE
# runs what it explains), so only these statement types run; EXPLAIN only of a SELECT.
ALLOWED_STATEMENTS = ("SELECT", "EXPLAIN", "PRAGMA")
# Pragmas that only describe: others can write files (profile_output) or change settings.
ALLOWED_PRAGMAS = frozenset(
    "show_tables show_tables_expanded table_info show database_size database_list "
    "storage_info version platform functions collations user_agent metadata_info".split()
)
_EXPLAIN_PREFIX = re.compile(
    r"^\s*(?:(?:--[^\n]*\n|/\*.*?\*/)\s*)*EXPLAIN\s+(?:\([^)]*\)\s*)?(?:ANALY[SZ]E\s+)?",
    re.IGNORECASE | re.DOTALL,
)
_PRAGMA_NAME = re.compile(
    r"^\s*(?:(?:--[^\n]*\n|/\*.*?\*/)\s*)*PRAGMA\s+(\w+)", re.IGNORECASE | re.DOTALL
)


def refused_statement(con: duckdb.DuckDBPyConnection, query: str) -> str | None:
    """The type of the first statement in `query` that could write (e.g. COPY), or None."""
    for statement in con.extract_statements(query):
        kind = statement.type.name
        if kind not in ALLOWED_STATEMENTS:
            return kind
        if kind == "EXPLAIN":
            inner = _EXPLAIN_PREFIX.sub("", statement.query, count=1)
            explained = con.extract_statements(inner) if inner != statement.query else []
            if len(explained) != 1 or explained[0].type.name != "SELECT":
                return "EXPLAIN " + (explained[0].type.name if explained else "of a non-SELECT")
        if kind == "PRAGMA":
            name = _PRAGMA_NAME.match(statement.query)
            if not name or name.group(1).lower() not in ALLOWED_PRAGMAS:
                return "PRAGMA " + (name.group(1) if name else "")
    return None


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
        refused = refused_statement(con, query)
        if refused:
            raise QueryError(
                f"refused: `narratives sql` is read-only: it runs SELECT queries (and EXPLAIN, "
                f"SHOW, DESCRIBE), not {refused}; to save results, redirect --format csv to a file"
            )
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
