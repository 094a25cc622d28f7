"""Export: every table and view of the published copy as Parquet, one file each.

Names of people are pseudonymised (see `narratives.pseudonymise`) in every text column unless
`real_names` is set; identifiers, hashes and numbers are copied as they are. Pseudonymised
texts are no longer spans of `documents.text` at `start_char:end_char`: export with real
names where the offsets matter. The embedding cache is left out unless asked for.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

from narratives.pseudonymise import pseudonymiser_for
from narratives.query import reader_path
from narratives.settings import Settings

# Text columns that never hold a person's name: copied without pseudonymising.
VERBATIM = frozenset(
    "sha256 text_key model code new_code source format encoding status decision codebook "
    "codebook_version codebook_sha256 embedding_model narratives_version".split()
)


class ExportError(RuntimeError):
    """The export cannot be made as asked."""


@dataclass(frozen=True)
class ExportedFile:
    """One table or view written as Parquet."""

    name: str
    kind: str  # table | view
    rows: int
    path: Path


def export_parquet(
    settings: Settings,
    out_dir: Path,
    with_embeddings: bool = False,
    real_names: bool = False,
) -> list[ExportedFile]:
    """Write every table and view of the published copy to `out_dir/<name>.parquet`."""
    path = reader_path(settings)
    if not path.exists():
        raise ExportError(f"{settings.db} does not exist yet; run `narratives run` first")
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ExportError(f"{out_dir} is a file; give a folder to write the Parquet files into")
    out_dir.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path), read_only=True)
    try:
        if not real_names:
            names = pseudonymiser_for(con)
            con.create_function(
                "narratives_pseudonymise",
                lambda text, document_id: names.apply(text, document_id),
                ["VARCHAR", "VARCHAR"],
                "VARCHAR",
            )
        written = []
        for name, kind in con.execute(
            "SELECT table_name, 'table' FROM duckdb_tables() WHERE NOT internal "
            "AND schema_name = 'main' AND database_name = current_database() "
            "UNION ALL SELECT view_name, 'view' FROM duckdb_views() WHERE NOT internal "
            "AND schema_name = 'main' AND database_name = current_database() ORDER BY 1"
        ).fetchall():
            if name == "embeddings" and not with_embeddings:
                continue
            select = _select_list(con, name, pseudonymise=not real_names)
            target = out_dir / f"{name}.parquet"
            con.execute(
                f"COPY (SELECT {select} FROM {_ident(name)}) TO {_literal(str(target))} "
                "(FORMAT parquet)"
            )
            rows = con.execute(f"SELECT count(*) FROM {_ident(name)}").fetchone()[0]
            written.append(ExportedFile(name, kind, rows, target))
        return written
    finally:
        con.close()


def _select_list(con: duckdb.DuckDBPyConnection, relation: str, pseudonymise: bool) -> str:
    columns = con.execute(
        "SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = ? "
        "AND schema_name = 'main' AND database_name = current_database() ORDER BY column_index",
        [relation],
    ).fetchall()
    has_document = any(c == "document_id" for c, _ in columns)
    document = "document_id" if has_document else "NULL"
    items = []
    for column, dtype in columns:
        col = _ident(column)
        if not pseudonymise or column in VERBATIM or column.endswith("_id"):
            items.append(col)
        elif dtype == "VARCHAR":
            items.append(f"narratives_pseudonymise({col}, {document}) AS {col}")
        elif dtype == "JSON":
            items.append(f"narratives_pseudonymise({col}::VARCHAR, {document})::JSON AS {col}")
        else:
            items.append(col)
    return ", ".join(items)


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"
