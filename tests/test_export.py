"""`narratives export parquet`: every table and view, row counts as in the database, names
pseudonymised unless --real-names."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from narratives.cli import main
from narratives.settings import read_copy_path

# The speakers of tests/data (see its EXPECTED.md), and each part of their names.
SPEAKERS = [
    "Dr Helen Marsh",
    "Grace Adeyemi",
    "Janet Okonkwo",
    "Dr Priya Nair",
    "Marcus Bell",
    "Renée Dubois",
]
NAME_PARTS = sorted({w for s in SPEAKERS for w in s.split() if len(w) >= 3})


@pytest.fixture(scope="module")
def coded_db(coded_test_db: Path) -> Path:
    """tests/data's good files, coded by the real pipeline (this module's own copy)."""
    return coded_test_db


def _db_counts(db: Path) -> dict[str, int]:
    con = duckdb.connect(str(read_copy_path(db)), read_only=True)
    try:
        names = [
            n
            for (n,) in con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE NOT internal UNION ALL "
                "SELECT view_name FROM duckdb_views() WHERE NOT internal"
            ).fetchall()
        ]
        return {n: con.execute(f'SELECT count(*) FROM "{n}"').fetchall()[0][0] for n in names}
    finally:
        con.close()


@pytest.fixture(scope="module")
def exported(coded_db, tmp_path_factory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("parquet")
    result = CliRunner().invoke(main, ["export", "parquet", str(out), "--db", str(coded_db)])
    assert result.exit_code == 0, result.output
    return out, result.output


def test_every_table_and_view_but_embeddings_is_written_with_its_rows(coded_db, exported):
    out, output = exported
    counts = _db_counts(coded_db)
    assert {"evidence", "code_prevalence", "wave_change", "passages", "embeddings"} <= set(counts)
    expected = {n: c for n, c in counts.items() if n != "embeddings"}
    files = {p.stem: pq.read_table(p).num_rows for p in out.glob("*.parquet")}
    assert files == expected
    assert counts["passages"] > 0 and counts["evidence"] > 0
    # The command lists each file with its kind and rows.
    lines = output.splitlines()
    assert lines[0].split() == ["name", "kind", "rows", "file"]
    assert lines[-1] == f"({len(expected)} rows)"
    listed = {ln.split()[0]: (ln.split()[1], int(ln.split()[2])) for ln in lines[2:-1]}
    assert listed["passages"] == ("table", counts["passages"])
    assert listed["evidence"] == ("view", counts["evidence"])


def test_names_are_pseudonymised_in_every_text_column(exported):
    out, _ = exported
    for path in out.glob("*.parquet"):
        table = pq.read_table(path)
        for column in table.column_names:
            for value in table.column(column).to_pylist():
                if isinstance(value, str):
                    found = [p for p in NAME_PARTS if re.search(rf"\b{p}\b", value)]
                    assert found == [], f"{path.name}.{column}: {value!r}"
    passages = pq.read_table(out / "passages.parquet").to_pylist()
    speakers = {p["speaker"] for p in passages}
    assert speakers == {
        None,
        "Interviewer",
        "[Director of public health, Ashby Vale]",
        "[Enabler, Kelsham]",
        "[Participant 2, Kelsham]",
        "[GP, Northmoor]",
        "[Voluntary sector lead, Northmoor]",
        "[Resident, Kelsham]",
    }
    (backed,) = [p["text"] for p in passages if p["text"].startswith("I backed")]
    assert (
        backed
        == "I backed [Enabler, Kelsham] when she insisted on reporting the failure to the board."
    )


def test_real_names_and_embeddings_on_request(coded_db, tmp_path):
    result = CliRunner().invoke(
        main,
        [
            "export",
            "parquet",
            str(tmp_path),
            "--db",
            str(coded_db),
            "--real-names",
            "--with-embeddings",
        ],
    )
    assert result.exit_code == 0, result.output
    counts = _db_counts(coded_db)
    assert pq.read_table(tmp_path / "embeddings.parquet").num_rows == counts["embeddings"] > 0
    con = duckdb.connect(str(read_copy_path(coded_db)), read_only=True)
    try:
        stored = con.execute("SELECT passage_id, speaker, text FROM passages ORDER BY 1").fetchall()
    finally:
        con.close()
    exported = (
        pq.read_table(tmp_path / "passages.parquet")
        .select(["passage_id", "speaker", "text"])
        .to_pylist()
    )
    assert sorted(tuple(r.values()) for r in exported) == stored


def test_a_file_where_a_folder_is_expected_is_refused(coded_db, tmp_path):
    target = tmp_path / "x.parquet"
    target.write_text("")
    result = CliRunner().invoke(main, ["export", "parquet", str(target), "--db", str(coded_db)])
    assert result.exit_code == 2
    assert result.output.endswith(f"Directory '{target}' is a file.\n")


def test_a_missing_database_is_named(tmp_path):
    result = CliRunner().invoke(
        main, ["export", "parquet", str(tmp_path / "out"), "--db", str(tmp_path / "no.duckdb")]
    )
    assert result.exit_code == 1
    assert result.output == (
        f"Error: {tmp_path / 'no.duckdb'} does not exist yet; run `narratives run` first\n"
    )
