"""End to end: the real Prefect flow, the real model, a real DuckDB file, via the real CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from narratives.cli import main
from tests.conftest import BAD_FILES, DATA, GOOD_FILES


def run(*args: str) -> tuple[int, dict]:
    result = CliRunner().invoke(main, ["run", *args, "--format", "json"])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, json.loads(result.stdout)


def counts(db: Path) -> dict[str, int]:
    with duckdb.connect(str(db), read_only=True) as con:
        return {
            t: con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0]
            for t in ("documents", "passages", "codings", "code_scores", "embeddings")
        }


def test_run_codes_every_participant_passage(corpus: Path, db: Path):
    code, summary = run(str(corpus), "--manifest", str(corpus / "manifest.csv"), "--db", str(db))
    assert code == 0
    assert summary["status"] == "ok" and summary["rejected"] == []
    assert summary["documents"] == len(GOOD_FILES) == 11
    with duckdb.connect(str(db), read_only=True) as con:
        participant = con.execute(
            "SELECT count(*) FROM passages WHERE NOT is_interviewer"
        ).fetchall()[0][0]
        assert summary["coded_passages"] == participant
        # every participant passage has a score for each of the six codes, interviewers none
        assert con.execute(
            "SELECT count(DISTINCT passage_id), count(*) FROM code_scores"
        ).fetchall()[0] == (participant, 6 * participant)
        assert (
            con.execute(
                "SELECT count(*) FROM code_scores JOIN passages USING (passage_id) "
                "WHERE is_interviewer"
            ).fetchall()[0][0]
            == 0
        )
        # every coding records its model, codebook version and run
        assert con.execute(
            "SELECT DISTINCT model_id, codebook, codebook_version, run_id, source FROM codings"
        ).fetchall() == [
            (summary["model_id"], "systems-leadership", "1", summary["run_id"], "model")
        ]
        assert summary["codings"] == con.execute("SELECT count(*) FROM codings").fetchall()[0][0]
        # the evidence view carries case attributes and speakers
        row = con.execute(
            "SELECT place, wave, role, speaker, page FROM evidence "
            "WHERE title LIKE 'Ashby Vale Home First - interim%' LIMIT 1"
        ).fetchall()[0]
        if row:  # report.pdf passages may or may not be coded: when they are, cited by page
            assert row[:4] == ("Ashby Vale", "follow-up", "report", None) and row[4] in (1, 2)
        speakers = {r[0] for r in con.execute("SELECT DISTINCT speaker FROM evidence").fetchall()}
        assert "Interviewer" not in speakers
        assert speakers <= {
            "Dr Helen Marsh", "Grace Adeyemi", "Janet Okonkwo", "Dr Priya Nair",
            "Marcus Bell", "Renée Dubois", None,
        }  # fmt: skip
        # passages are exact spans of the stored document text
        assert (
            con.execute(
                "SELECT count(*) FROM passages p JOIN documents d USING (document_id) "
                "WHERE substr(d.text, p.start_char + 1, p.end_char - p.start_char) <> p.text"
            ).fetchall()[0][0]
            == 0
        )
    assert db.with_name("test.read.duckdb").exists()
    assert counts(db.with_name("test.read.duckdb")) == counts(db)


def test_rerun_adds_nothing_and_embeds_nothing(corpus: Path, db: Path):
    args = (str(corpus), "--manifest", str(corpus / "manifest.csv"), "--db", str(db))
    run(*args)
    before = counts(db)
    code, again = run(*args)
    assert code == 0
    assert (again["documents"], again["unchanged"], again["embedded"]) == (0, 11, 0)
    assert counts(db) == before
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT count(*), count(DISTINCT run_id) FROM runs").fetchall()[0] == (
            2,
            2,
        )


def test_changed_file_replaces_its_old_version(corpus: Path, db: Path):
    args = (str(corpus), "--manifest", str(corpus / "manifest.csv"), "--db", str(db))
    _, first = run(*args)
    target = corpus / "interview.md"
    target.write_text(
        target.read_text() + "\nInterviewer: And next?\n\nGrace Adeyemi: We keep listening.\n"
    )
    code, second = run(*args)
    assert code == 0 and second["documents"] == 1 and second["unchanged"] == 10
    assert second["embedded"] == 1  # only the new passage; the rest came from the cache
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM documents").fetchall()[0][0] == 11
        assert con.execute("SELECT count(*) = count(DISTINCT passage_id) FROM passages").fetchall()[
            0
        ][0]
        texts = [
            r[0]
            for r in con.execute(
                "SELECT p.text FROM passages p JOIN documents d USING (document_id) "
                "WHERE d.path LIKE '%interview.md' ORDER BY seq"
            ).fetchall()
        ]
    assert texts[-1] == "We keep listening." and len(texts) == 6


def test_bad_files_are_reported_and_the_rest_loads(corpus: Path, db: Path):
    shutil.copytree(DATA / "bad", corpus / "bad")
    code, summary = run(str(corpus), "--manifest", str(corpus / "manifest.csv"), "--db", str(db))
    assert code == 3 and summary["status"] == "partial"
    assert summary["documents"] == 11
    rejected = {Path(r["path"]).name: r["reason"] for r in summary["rejected"]}
    assert sorted(rejected) == BAD_FILES
    assert rejected["empty.txt"] == "is empty (0 bytes)"
    assert rejected["corrupt.docx"].startswith("is not a readable Word (.docx) file")
    with duckdb.connect(str(db), read_only=True) as con:
        stored = con.execute(
            "SELECT path, reason FROM run_errors WHERE run_id = ? ORDER BY path",
            [summary["run_id"]],
        ).fetchall()
        assert [(Path(p).name, r) for p, r in stored] == sorted(rejected.items())
        assert con.execute("SELECT status, rejected FROM runs").fetchall()[0] == ("partial", 10)
    # a rerun is safe: nothing duplicated, the bad files reported again
    before = counts(db)
    code, again = run(str(corpus), "--manifest", str(corpus / "manifest.csv"), "--db", str(db))
    assert code == 3 and len(again["rejected"]) == 10 and counts(db) == before


def test_text_summary_names_each_rejected_file(corpus: Path, db: Path):
    shutil.copy(DATA / "bad" / "empty.txt", corpus / "empty.txt")
    result = CliRunner().invoke(
        main, ["run", str(corpus / "empty.txt"), str(corpus / "interview.txt"), "--db", str(db)]
    )
    assert result.exit_code == 3
    assert f"    {corpus / 'empty.txt'}: is empty (0 bytes)\n" in result.stdout
    assert "  documents loaded : 1\n" in result.stdout
    assert "  rejected files   : 1\n" in result.stdout


def test_a_bad_codebook_fails_the_run_with_one_clear_line(corpus: Path, db: Path, tmp_path: Path):
    bad = tmp_path / "codebook.yaml"
    bad.write_text("name: x\nversion: 1\ncodes:\n  - id: a\n  - id: a\n    definition: d\n")
    result = CliRunner().invoke(
        main,
        [
            "run",
            str(corpus),
            "--db",
            str(db),
            "--codebook",
            str(bad),
            "--model",
            str(tmp_path / "none"),
        ],
    )
    assert result.exit_code == 1
    assert "code 'a': missing 'definition'" in result.output
    assert "code 'a': duplicate id" in result.output
    assert "Traceback" not in result.output  # checked before the flow starts
    assert not db.exists() or counts(db)["documents"] == 0


def test_a_trained_model_codes_by_its_own_codebook_unless_another_is_named(
    corpus: Path, db: Path, tmp_path: Path
):
    from tests.conftest import ROOT

    topics = ROOT / "tests/data/exclusive"
    model = tmp_path / "topics-model"
    trained = CliRunner().invoke(
        main,
        [
            "train",
            "--codebook",
            str(topics / "codebook.yaml"),
            "--examples",
            str(topics / "train.jsonl"),
            "--out",
            str(model),
        ],
    )
    assert trained.exit_code == 0, trained.output
    shipped = ROOT / "data/codebooks/systems-leadership.yaml"
    refused = CliRunner().invoke(
        main,
        ["run", str(corpus), "--db", str(db), "--model", str(model), "--codebook", str(shipped)],
    )
    assert refused.exit_code == 1
    assert "was trained on codebook meeting-topics@2 with codes" in refused.output
    assert "code zero-shot from it (`--model zero-shot`)" in refused.output
    assert "Traceback" not in refused.output and not db.exists()
    status, summary = run(str(corpus), "--db", str(db), "--model", str(model))
    assert status == 0 and summary["codings"] > 0
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT DISTINCT codebook, codebook_version FROM runs").fetchall() == [
            ("meeting-topics", "2")
        ]
        codes = {c for (c,) in con.execute("SELECT DISTINCT code FROM codings").fetchall()}
        passage = con.execute("SELECT passage_id FROM evidence LIMIT 1").fetchone()[0]
    assert codes <= {"money", "staff", "residents"} and codes
    # Commands on the database take its codes from the codebook its run coded by.
    human = tmp_path / "human.csv"
    human.write_text(f"passage_id,code\n{passage},staff\n")
    imported = CliRunner().invoke(
        main, ["import-codings", str(human), "--coder", "ann", "--db", str(db)]
    )
    assert imported.exit_code == 0, imported.output
    report = tmp_path / "report.html"
    written = CliRunner().invoke(main, ["report", "--db", str(db), "--out", str(report)])
    assert written.exit_code == 0, written.output
    page = report.read_text()
    assert 'data-code="feeling"' not in page
    assert "</span>Staff</button>" in page  # the codebook's label, not the id
    # The refusal's suggestion works: zero-shot from the codebook named.
    status, summary = run(
        str(corpus), "--db", str(db), "--model", "zero-shot", "--codebook", str(shipped)
    )
    assert status == 0 and summary["model_id"].startswith("zero-shot:")
    assert summary["model_id"].endswith(":systems-leadership@1")


@pytest.mark.parametrize("flag", [["--help"]])
def test_help_lists_exit_statuses(flag):
    result = CliRunner().invoke(main, ["run", *flag])
    assert "3 some files rejected" in result.output


def test_a_failed_run_exits_1_and_is_recorded_as_failed(corpus: Path, db: Path):
    bad_manifest = corpus / "cases.csv"
    bad_manifest.write_text("name,place\ninterview.txt,Kelsham\n")
    result = CliRunner().invoke(
        main,
        ["run", str(corpus / "interview.txt"), "--manifest", str(bad_manifest), "--db", str(db)],
    )
    assert result.exit_code == 1
    assert f"manifest {bad_manifest} has no 'file' column" in result.output
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT status FROM runs").fetchall() == [("failed",)]
        assert con.execute("SELECT count(*) FROM documents").fetchall()[0][0] == 0


def test_a_moved_folder_is_not_loaded_twice(corpus: Path, db: Path, tmp_path: Path):
    _, first = run(str(corpus), "--manifest", str(corpus / "manifest.csv"), "--db", str(db))
    moved = tmp_path / "elsewhere" / "corpus"
    moved.parent.mkdir()
    corpus.rename(moved)
    code, again = run(str(moved), "--manifest", str(moved / "manifest.csv"), "--db", str(db))
    assert code == 0 and (again["documents"], again["unchanged"], again["embedded"]) == (0, 11, 0)
    with duckdb.connect(str(db), read_only=True) as con:
        paths = [r[0] for r in con.execute("SELECT path FROM documents").fetchall()]
    assert len(paths) == 11 and all(p.startswith(str(moved)) for p in paths)
    # a copy next to the original is a second document, not a move
    shutil.copytree(moved, tmp_path / "copy")
    code, copied = run(str(tmp_path / "copy"), "--db", str(db))
    assert code == 0 and copied["documents"] == 11


def test_long_passages_are_coded_by_their_windows(coded_sample_db: Path):
    """A passage longer than the shipped model's examples gets each code's highest window
    score, the same as `evaluate` and `predict` give it."""
    import numpy as np

    from narratives.classify import score_texts
    from narratives.embed import embed_texts
    from narratives.model import TrainedClassifier
    from tests.conftest import ROOT

    model = TrainedClassifier.load(ROOT / "models/systems-leadership")
    assert model.window_words
    with duckdb.connect(str(coded_sample_db), read_only=True) as con:
        passage_id, text = con.execute(
            "SELECT passage_id, text FROM passages WHERE NOT is_interviewer "
            "ORDER BY words DESC, passage_id LIMIT 1"
        ).fetchall()[0]
        stored = dict(
            con.execute(
                "SELECT code, score FROM code_scores WHERE passage_id = ?", [passage_id]
            ).fetchall()
        )
        assert model.model_id in {
            r[0] for r in con.execute("SELECT DISTINCT model_id FROM code_scores").fetchall()
        }
    assert len(text.split()) > model.window_words
    expected = score_texts(model, [text], lambda t: embed_texts(t, model.encoder))[0]
    got = np.array([stored[c] for c in model.codebook.ids])
    assert np.allclose(got, expected, atol=1e-5)
    whole = model.predict_scores(embed_texts([text], model.encoder), [text])[0]
    assert not np.allclose(got, whole, atol=1e-3)


def test_a_run_killed_outright_is_marked_failed_by_the_next(corpus: Path, db: Path):
    """A process killed with SIGKILL cannot record its own end; the next run on the machine
    finds its process gone and marks it failed."""
    import signal
    import subprocess
    import sys

    script = (
        "import os, signal\n"
        "from pathlib import Path\n"
        "from narratives import store\n"
        f"with store.open_store(Path({str(db)!r})) as con:\n"
        "    store.start_run(con, 'killed-run', ['somewhere'])\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    db.parent.mkdir(parents=True, exist_ok=True)
    assert subprocess.run([sys.executable, "-c", script]).returncode == -signal.SIGKILL
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute(
            "SELECT status, pid IS NOT NULL, host IS NOT NULL FROM runs"
        ).fetchall() == [("running", True, True)]

    code, summary = run(str(corpus), "--manifest", str(corpus / "manifest.csv"), "--db", str(db))
    assert code == 0
    with duckdb.connect(str(db), read_only=True) as con:
        statuses = dict(con.execute("SELECT run_id, status FROM runs").fetchall())
    assert statuses == {"killed-run": "failed", summary["run_id"]: "ok"}
