"""`narratives sql`: exact output in every format, writes refused, reads while a writer holds
the main database."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from narratives.cli import main
from narratives.settings import read_copy_path


@pytest.fixture(scope="module")
def coded_db(coded_test_db: Path) -> Path:
    """tests/data's good files, coded by the real pipeline (this module's own copy)."""
    return coded_test_db


# From tests/data/manifest.csv: documents per place and the earliest date.
QUERY = (
    "SELECT place, count(*) AS documents, min(date) AS first_date, "
    "any_value(title) FILTER (WHERE path LIKE '%table_interview.docx') AS layout "
    "FROM documents GROUP BY place ORDER BY place"
)
LAYOUT = "Northmoor Good Food - baseline interview, table layout (test)"

EXPECTED = {
    "table": (
        "place       documents  first_date  layout" + " " * 55 + "\n"
        "----------  ---------  ----------  " + "-" * 61 + "\n"
        "Ashby Vale  2          2023-03-14  " + " " * 61 + "\n"
        "Kelsham     6          2023-04-05  " + " " * 61 + "\n"
        f"Northmoor   3          2023-05-18  {LAYOUT}\n"
        "(3 rows)\n"
    ),
    "csv": (
        "place,documents,first_date,layout\n"
        "Ashby Vale,2,2023-03-14,\n"
        "Kelsham,6,2023-04-05,\n"
        f'Northmoor,3,2023-05-18,"{LAYOUT}"\n'
    ),
    "json": (
        "[\n"
        '  {\n    "place": "Ashby Vale",\n    "documents": 2,\n'
        '    "first_date": "2023-03-14",\n    "layout": null\n  },\n'
        '  {\n    "place": "Kelsham",\n    "documents": 6,\n'
        '    "first_date": "2023-04-05",\n    "layout": null\n  },\n'
        '  {\n    "place": "Northmoor",\n    "documents": 3,\n'
        f'    "first_date": "2023-05-18",\n    "layout": "{LAYOUT}"\n  }}\n'
        "]\n"
    ),
    "md": (
        "| place | documents | first_date | layout |\n"
        "|---|---|---|---|\n"
        "| Ashby Vale | 2 | 2023-03-14 |  |\n"
        "| Kelsham | 6 | 2023-04-05 |  |\n"
        f"| Northmoor | 3 | 2023-05-18 | {LAYOUT} |\n"
    ),
}


@pytest.mark.parametrize("fmt", ["table", "csv", "json", "md"])
def test_each_format_gives_exact_output(coded_db, fmt):
    result = CliRunner().invoke(main, ["sql", "--db", str(coded_db), "--format", fmt, QUERY])
    assert result.exit_code == 0, result.output
    assert result.output == EXPECTED[fmt]


def _refusal(kind: str) -> str:
    return (
        "Error: refused: `narratives sql` is read-only: it runs SELECT queries (and EXPLAIN, "
        f"SHOW, DESCRIBE), not {kind}; to save results, redirect --format csv to a file\n"
    )


WRITES = [
    ("INSERT INTO runs (run_id, started_at, status) VALUES ('x', now(), 'ok')", "INSERT"),
    ("DELETE FROM codings", "DELETE"),
    ("UPDATE documents SET place = 'Elsewhere'", "UPDATE"),
    ("CREATE TABLE notes AS SELECT 1 AS n", "CREATE"),
    ("DROP VIEW evidence", "DROP"),
    ("ATTACH '{tmp}/other.duckdb' AS other", "ATTACH"),
    ("COPY (SELECT 1) TO '{tmp}/out.csv'", "COPY"),
    ("COPY documents TO '{tmp}/out.parquet' (FORMAT parquet)", "COPY"),
    ("EXPORT DATABASE '{tmp}/dump'", "EXPORT"),
    ("EXPLAIN ANALYZE COPY (SELECT 1) TO '{tmp}/out.csv'", "EXPLAIN COPY"),
    ("SELECT 1; COPY (SELECT 1) TO '{tmp}/out.csv'", "COPY"),
    ("PRAGMA profile_output = '{tmp}/profile.json'", "SET"),
    ("CALL duckdb_tables()", "CALL"),
]


@pytest.mark.parametrize("statement,kind", WRITES)
def test_writes_are_refused_and_nothing_is_written(coded_db, tmp_path, statement, kind):
    # ATTACH needs an existing file to get as far as attaching it.
    duckdb.connect(str(tmp_path / "other.duckdb")).close()
    before = _counts(coded_db)
    result = CliRunner().invoke(
        main, ["sql", "--db", str(coded_db), statement.format(tmp=tmp_path)]
    )
    assert result.exit_code == 1
    assert result.output == _refusal(kind)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.duckdb"]
    assert _counts(coded_db) == before


def _counts(db: Path) -> tuple:
    con = duckdb.connect(str(read_copy_path(db)), read_only=True)
    try:
        return con.execute(
            "SELECT (SELECT count(*) FROM runs), (SELECT count(*) FROM codings), "
            "(SELECT count(*) FROM documents WHERE place = 'Elsewhere'), "
            "(SELECT count(*) FROM duckdb_tables() WHERE table_name = 'notes'), "
            "(SELECT count(*) FROM duckdb_views() WHERE view_name = 'evidence')"
        ).fetchall()[0]
    finally:
        con.close()


@pytest.mark.parametrize(
    "query",
    [
        "SHOW TABLES",
        "DESCRIBE documents",
        "EXPLAIN SELECT * FROM evidence",
        "/* plan */ EXPLAIN ANALYZE SELECT count(*) FROM passages",
        "PRAGMA table_info('documents')",
        "WITH d AS (FROM documents) SELECT count(*) FROM d",
    ],
)
def test_reading_statements_run(coded_db, query):
    result = CliRunner().invoke(main, ["sql", "--db", str(coded_db), query])
    assert result.exit_code == 0, result.output


def test_a_syntax_error_is_one_line(coded_db):
    result = CliRunner().invoke(main, ["sql", "--db", str(coded_db), "SELEC 1"])
    assert result.exit_code == 1
    assert result.output == 'Error: Parser Error: syntax error at or near "SELEC"\n'


def test_reads_the_published_copy_while_a_writer_holds_the_database(coded_db):
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, duckdb\n"
            f"con = duckdb.connect({str(coded_db)!r})\n"
            "print('locked', flush=True)\n"
            "sys.stdin.read()\n",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline() == "locked\n"
        # The main file really is locked: even a read-only connection is refused.
        with pytest.raises(duckdb.IOException, match="lock"):
            duckdb.connect(str(coded_db), read_only=True)
        result = CliRunner().invoke(
            main,
            [
                "sql",
                "--db",
                str(coded_db),
                "--format",
                "csv",
                "SELECT count(*) AS documents FROM documents",
            ],
        )
        assert result.exit_code == 0, result.output
        assert result.output == "documents\n11\n"
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
