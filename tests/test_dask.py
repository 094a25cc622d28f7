"""The pipeline on a Dask cluster: `narratives run --dask-address` sends the embedding and
coding tasks to a local cluster of two worker processes, and the codings equal the default
runner's on the same corpus."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from narratives.cli import main
from tests.conftest import DATA, GOOD_FILES


@pytest.fixture(scope="module")
def cluster():
    from distributed import LocalCluster

    cluster = LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    )
    yield cluster
    cluster.close()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("dask") / "corpus"
    folder.mkdir()
    for name in [*GOOD_FILES, "manifest.csv"]:
        shutil.copy(DATA / name, folder / name)
    return folder


@pytest.fixture(scope="module")
def local_db(corpus: Path) -> Path:
    from flows.pipeline import pipeline

    db = corpus.parent / "local.duckdb"
    pipeline(paths=[str(corpus)], manifest=str(corpus / "manifest.csv"), db=str(db))
    return db


@pytest.fixture(scope="module")
def dask_run(corpus: Path, cluster):
    db = corpus.parent / "dask.duckdb"
    result = CliRunner().invoke(
        main,
        [
            "run", str(corpus), "--manifest", str(corpus / "manifest.csv"), "--db", str(db),
            "--dask-address", cluster.scheduler_address, "--format", "json",
        ],
    )  # fmt: skip
    return db, result


def _rows(db: Path, query: str) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(query).fetchall()
    finally:
        con.close()


def test_run_with_dask_address_loads_every_file(dask_run):
    db, result = dask_run
    assert result.exit_code == 0, result.output
    n_docs = _rows(db, "SELECT count(*) FROM documents")[0][0]
    assert n_docs == len(GOOD_FILES)


def test_dask_codings_equal_the_default_runners(dask_run, local_db):
    db, result = dask_run
    assert result.exit_code == 0, result.output
    query = "SELECT passage_id, code, score FROM {} ORDER BY passage_id, code"
    for table in ("code_scores", "codings"):
        on_dask = _rows(db, query.format(table))
        local = _rows(local_db, query.format(table))
        assert on_dask, table
        assert [r[:2] for r in on_dask] == [r[:2] for r in local], table
        assert max(abs(a[2] - b[2]) for a, b in zip(on_dask, local, strict=True)) < 1e-5


def test_embedding_and_coding_ran_on_the_cluster(dask_run, cluster):
    assert dask_run[1].exit_code == 0, dask_run[1].output
    # The scheduler names each task it ran by its key's prefix: Prefect's task function.
    prefixes = cluster.scheduler.task_prefixes
    assert {"embed", "code"} <= set(prefixes), set(prefixes)
    assert prefixes["embed"].all_durations["compute"] > 0


def test_unreachable_scheduler_is_refused_before_the_run(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    result = CliRunner().invoke(
        main, ["run", str(DATA / "interview.txt"), "--db", str(tmp_path / "x.duckdb"),
               "--dask-address", address],
    )  # fmt: skip
    assert result.exit_code == 1
    assert result.output == (
        f"Error: cannot reach the Dask scheduler at {address} ([Errno 111] Connection "
        "refused); start the cluster first (`dask scheduler`, then `dask worker ADDRESS` on "
        "each machine), or leave out --dask-address\n"
    )
    assert not (tmp_path / "x.duckdb").exists()
