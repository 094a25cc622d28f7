"""The store: migrations, idempotent loads, the published read copy, the write lock."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from narratives import store
from narratives.ingest import read_document
from narratives.records import Coding, Passage
from narratives.schema import MIGRATIONS
from narratives.segment import segment
from tests.conftest import DATA


def test_migrations_apply_once_in_order(tmp_path: Path):
    with store.open_store(tmp_path / "a.duckdb") as con:
        assert con.execute("SELECT version FROM schema_migrations ORDER BY version").fetchall() == [
            (i,) for i in range(1, len(MIGRATIONS) + 1)
        ]
        assert store.migrate(con) == 0


def _batch(doc, passages: list[Passage]) -> store.CodedBatch:
    ids = [p.passage_id for p in passages]
    scores = np.tile(np.array([[0.9, 0.1]], dtype=np.float32), (len(ids), 1))
    codings = [Coding(i, "a", 0.9) for i in ids]
    return store.CodedBatch([doc], passages, codings, scores, ids, ["a", "b"], "m1", "cb", "1")


def test_loading_the_same_batch_twice_keeps_one_copy(tmp_path: Path):
    doc = read_document(DATA / "interview.txt")
    passages = segment(doc)
    keys = [f"k{i}" for i in range(len(passages))]
    vectors = np.eye(len(passages), 4, dtype=np.float32)
    with store.open_store(tmp_path / "a.duckdb") as con:
        for _ in range(2):
            emb = store.embeddings_table("enc", keys, vectors)
            store.load_batch(con, "run1", _batch(doc, passages), emb)
        assert con.execute("SELECT count(*) FROM documents").fetchall()[0][0] == 1
        assert con.execute("SELECT count(*) FROM passages").fetchall()[0][0] == len(passages)
        assert con.execute("SELECT count(*) FROM codings").fetchall()[0][0] == len(passages)
        assert con.execute("SELECT count(*) FROM code_scores").fetchall()[0][0] == 2 * len(passages)
        assert con.execute("SELECT count(*) FROM embeddings").fetchall()[0][0] == len(passages)
        cached = store.cached_embeddings(con, "enc", keys[:2] + ["unknown"])
        assert sorted(cached) == keys[:2]
        assert np.array_equal(cached["k1"], vectors[1])


def test_human_codings_survive_a_reload(tmp_path: Path):
    doc = read_document(DATA / "interview.txt")
    passages = segment(doc)
    with store.open_store(tmp_path / "a.duckdb") as con:
        store.load_batch(con, "run1", _batch(doc, passages))
        con.execute(
            "INSERT INTO codings VALUES (?, 'b', 1.0, 'human', 'Ann', NULL, NULL, NULL, NULL, now())",
            [passages[1].passage_id],
        )
        store.load_batch(con, "run2", _batch(doc, passages))
        assert con.execute(
            "SELECT source, count(*) FROM codings GROUP BY ALL ORDER BY 1"
        ).fetchall() == [
            ("human", 1),
            ("model", len(passages)),
        ]


def test_a_failed_load_leaves_the_previous_state(tmp_path: Path):
    doc = read_document(DATA / "interview.txt")
    passages = segment(doc)
    with store.open_store(tmp_path / "a.duckdb") as con:
        store.load_batch(con, "run1", _batch(doc, passages))
        broken = _batch(doc, passages)
        object.__setattr__(broken, "scored_ids", broken.scored_ids[:-1])  # shapes disagree
        with pytest.raises(pa.ArrowInvalid):  # columns of unequal length
            store.load_batch(con, "run2", broken)
        assert con.execute("SELECT count(*), min(run_id) FROM documents").fetchall()[0] == (
            1,
            "run1",
        )
        assert con.execute("SELECT count(*) FROM passages").fetchall()[0][0] == len(passages)


def test_publish_makes_a_consistent_read_copy(tmp_path: Path):
    db = tmp_path / "a.duckdb"
    doc = read_document(DATA / "interview.txt")
    with store.open_store(db) as con:
        store.load_batch(con, "run1", _batch(doc, segment(doc)))
        published = store.publish(con, db)
    assert published == tmp_path / "a.read.duckdb"
    with duckdb.connect(str(published), read_only=True) as reader:
        assert reader.execute("SELECT count(*) FROM evidence").fetchall()[0][0] == 5
    # a reader holding the copy open does not block the next load and publish
    reader = duckdb.connect(str(published), read_only=True)
    try:
        with store.open_store(db) as con:
            store.publish(con, db)
    finally:
        reader.close()


def test_a_locked_database_waits_then_names_the_holder(tmp_path: Path):
    db = tmp_path / "a.duckdb"
    duckdb.connect(str(db)).close()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb,time; c=duckdb.connect({str(db)!r}); print('ok', flush=True); time.sleep(30)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ok"
        started = time.monotonic()
        with pytest.raises(store.StoreLockedError) as caught:
            store.connect(db, lock_timeout=1.5)
        assert time.monotonic() - started >= 1.5
        assert f"PID {holder.pid}" in str(caught.value)
        assert "nothing was written" in str(caught.value)
    finally:
        holder.kill()
        holder.wait()


def test_the_codebook_of_the_latest_finished_run_is_kept_whole(tmp_path: Path):
    from narratives.codebook import load_codebook
    from tests.conftest import ROOT

    shipped = load_codebook(ROOT / "data/codebooks/systems-leadership.yaml")
    topics = load_codebook(ROOT / "tests/data/exclusive/codebook.yaml")
    with store.open_store(tmp_path / "a.duckdb") as con:
        assert store.latest_codebook(con) is None
        for run_id, cb in (("r1", shipped), ("r2", topics), ("r3", shipped)):
            store.start_run(con, run_id, [], codebook_sha256=cb.sha256)
            store.record_codebook(con, cb, run_id)
            if run_id != "r3":  # r3 is still running
                store.finish_run(con, run_id, "ok", {})
        assert con.execute("SELECT name, first_run_id FROM codebooks ORDER BY 2").fetchall() == [
            ("systems-leadership", "r1"), ("meeting-topics", "r2")
        ]  # fmt: skip
        assert store.latest_codebook(con) == topics
