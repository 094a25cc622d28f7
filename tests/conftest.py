"""Shared fixtures: a real Prefect (ephemeral, one per test session), real DuckDB files in
temporary folders, the real embedding model and the tiny real corpus in tests/data."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
ROOT = ROOT
SHARED = ROOT.parent / "shared"
GOOD_FILES = sorted(
    p.name for p in DATA.iterdir() if p.is_file() and p.name not in ("EXPECTED.md", "manifest.csv")
)
BAD_FILES = sorted(p.name for p in (DATA / "bad").iterdir())


def pytest_configure(config) -> None:
    # Before anything imports prefect: a private PREFECT_HOME for this test session.
    home = Path(os.environ.get("PYTEST_PREFECT_HOME", "/tmp")) / f"narratives-tests-{os.getpid()}"
    os.environ["PREFECT_HOME"] = str(home)
    os.environ.pop("PREFECT_API_URL", None)
    os.environ["PREFECT_LOGGING_LEVEL"] = "WARNING"
    from flows import configure_prefect

    configure_prefect(home)


def pytest_unconfigure(config) -> None:
    shutil.rmtree(os.environ.get("PREFECT_HOME", "/nonexistent"), ignore_errors=True)


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """A private copy of the good test files and their manifest."""
    folder = tmp_path / "corpus"
    folder.mkdir()
    for name in [*GOOD_FILES, "manifest.csv"]:
        shutil.copy(DATA / name, folder / name)
    return folder


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "out" / "test.duckdb"


def _coded_copy(source: Path, folder: Path) -> Path:
    """A copy of a coded database and its published read copy, for one test module."""
    from narratives.settings import read_copy_path

    target = folder / source.name
    shutil.copy(source, target)
    shutil.copy(read_copy_path(source), read_copy_path(target))
    return target


@pytest.fixture(scope="session")
def _pristine_sample_db(tmp_path_factory) -> Path:
    from flows.pipeline import pipeline

    db = tmp_path_factory.mktemp("pristine-sample") / "sample.duckdb"
    pipeline(
        paths=[str(ROOT / "data/sample")],
        manifest=str(ROOT / "data/sample/manifest.csv"),
        db=str(db),
    )
    return db


@pytest.fixture(scope="session")
def _pristine_test_db(tmp_path_factory) -> Path:
    from flows.pipeline import pipeline

    folder = tmp_path_factory.mktemp("corpus")
    for name in [*GOOD_FILES, "manifest.csv"]:
        shutil.copy(DATA / name, folder / name)
    db = tmp_path_factory.mktemp("pristine-tests") / "tests.duckdb"
    pipeline(paths=[str(folder)], manifest=str(folder / "manifest.csv"), db=str(db))
    return db


@pytest.fixture(scope="module")
def coded_sample_db(_pristine_sample_db: Path, tmp_path_factory) -> Path:
    """data/sample coded by the real pipeline; each test module gets its own copy."""
    return _coded_copy(_pristine_sample_db, tmp_path_factory.mktemp("sample-db"))


@pytest.fixture(scope="module")
def coded_test_db(_pristine_test_db: Path, tmp_path_factory) -> Path:
    """tests/data's good files coded by the real pipeline; each module gets its own copy."""
    return _coded_copy(_pristine_test_db, tmp_path_factory.mktemp("tests-db"))
