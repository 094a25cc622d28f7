"""Human review, import of human codings and export of training examples, on a real database
coded by the real pipeline from data/sample."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from narratives.cli import main
from narratives.codebook import load_codebook
from narratives.human import HumanCodingError, store_human_codings
from narratives.review import (
    AlreadyDecidedError,
    ReviewError,
    record_decision,
    suggestions,
)
from narratives.settings import Settings, read_copy_path


@pytest.fixture(scope="module")
def coded_db(coded_sample_db: Path) -> Path:
    """data/sample, coded by the real pipeline (this module's own copy)."""
    return coded_sample_db


@pytest.fixture
def db(coded_db: Path, tmp_path: Path) -> Path:
    """A private copy of the coded database (no published read copy yet)."""
    copy = tmp_path / "review.duckdb"
    shutil.copy(coded_db, copy)
    return copy


def rows(db: Path, query: str, params: list | None = None) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(query, params or []).fetchall()
    finally:
        con.close()


def model_codings(db: Path) -> list[tuple]:
    return rows(
        db, "SELECT * EXCLUDE (created_at) FROM codings WHERE source = 'model' ORDER BY ALL"
    )


def participant_passages(db: Path, n: int) -> list[str]:
    found = rows(
        db,
        "SELECT DISTINCT passage_id FROM code_scores ORDER BY passage_id LIMIT ?",
        [n],
    )
    return [r[0] for r in found]


def invoke(args: list[str], input: str | None = None):
    return CliRunner().invoke(main, args, input=input)


# --- suggestions --------------------------------------------------------------------------


def test_suggestions_come_nearest_the_boundary_first(db: Path) -> None:
    con = duckdb.connect(str(db))
    try:
        items = suggestions(con, "alice")
    finally:
        con.close()
    (model_id,) = rows(db, "SELECT model_id FROM runs")[0]
    scored = rows(
        db,
        "SELECT count(*) FROM code_scores s JOIN passages p USING (passage_id) "
        "WHERE NOT p.is_interviewer",
    )[0][0]
    assert len(items) == scored  # nothing decided yet: every pair is a suggestion
    distances = [s.distance for s in items]
    assert distances == sorted(distances)
    thresholds = dict(
        rows(
            db,
            "SELECT code, min(score) FROM codings WHERE source = 'model' GROUP BY code",
        )
    )
    applied = set(rows(db, "SELECT passage_id, code FROM codings WHERE source = 'model'"))
    for s in items:
        assert s.model_id == model_id
        assert s.threshold == thresholds.get(s.code, 0.5)
        assert s.applied == ((s.passage_id, s.code) in applied)
    # Citation facts come from the documents table.
    first = items[0]
    (title, place, role, text) = rows(
        db,
        "SELECT d.title, d.place, d.role, p.text FROM passages p JOIN documents d "
        "USING (document_id) WHERE passage_id = ?",
        [first.passage_id],
    )[0]
    assert (first.title, first.place, first.role, first.text) == (title, place, role, text)
    assert first.citation.startswith(f'{place}, {role}, "{title}"')


def test_suggestions_filter_by_code_and_limit(db: Path) -> None:
    con = duckdb.connect(str(db))
    try:
        everything = suggestions(con, "alice")
        relating = suggestions(con, "alice", code="relating", limit=3)
        with pytest.raises(ReviewError, match="unknown code 'relatng'"):
            suggestions(con, "alice", code="relatng")
        with pytest.raises(ReviewError, match="names the model"):
            suggestions(con, "model")
    finally:
        con.close()
    assert relating == [s for s in everything if s.code == "relating"][:3]


def test_record_decision_stores_rows_and_refuses_repeats(db: Path) -> None:
    con = duckdb.connect(str(db))
    try:
        first, second = suggestions(con, "bo", limit=2)
        other = next(c for c in ("thinking", "relating") if c != second.code)
        record_decision(con, first, "accept", "bo")
        record_decision(con, second, "change", "bo", new_code=other)
        with pytest.raises(AlreadyDecidedError):
            record_decision(con, first, "reject", "bo")
        with pytest.raises(ReviewError, match="is the suggested code"):
            record_decision(con, second, "change", "bo", new_code=second.code)
        with pytest.raises(ReviewError, match="decision must be one of"):
            record_decision(con, second, "maybe", "bo")
        left = suggestions(con, "bo")
    finally:
        con.close()
    decided = {(first.passage_id, first.code), (second.passage_id, second.code),
               (second.passage_id, other)}  # fmt: skip
    assert not decided & {(s.passage_id, s.code) for s in left}
    assert rows(
        db, "SELECT passage_id, code, score, source, coder FROM codings WHERE source = 'human' "
        "ORDER BY code"
    ) == sorted(
        [(first.passage_id, first.code, 1.0, "human", "bo"),
         (second.passage_id, other, 1.0, "human", "bo")], key=lambda r: r[1]
    )  # fmt: skip


# --- the review command -------------------------------------------------------------------


def test_review_session_stores_each_decision(db: Path) -> None:
    con = duckdb.connect(str(db))
    try:
        s1, s2, s3, s4 = suggestions(con, "alice", limit=4)
    finally:
        con.close()
    new_code = "thinking" if s3.code != "thinking" else "relating"
    before = model_codings(db)

    result = invoke(
        ["review", "--coder", "alice", "--limit", "4", "--db", str(db)],
        input=f"a\nr\nc\n{new_code}\nq\n",
    )

    assert result.exit_code == 0, result.output
    decisions = rows(
        db,
        "SELECT passage_id, code, decision, new_code, coder, model_id FROM review_decisions "
        "ORDER BY created_at",
    )
    assert decisions == [
        (s1.passage_id, s1.code, "accept", None, "alice", s1.model_id),
        (s2.passage_id, s2.code, "reject", None, "alice", s2.model_id),
        (s3.passage_id, s3.code, "change", new_code, "alice", s3.model_id),
    ]
    human = rows(
        db,
        "SELECT passage_id, code, score, coder, model_id FROM codings WHERE source = 'human' "
        "ORDER BY created_at",
    )
    assert human == [
        (s1.passage_id, s1.code, 1.0, "alice", None),
        (s3.passage_id, new_code, 1.0, "alice", None),
    ]
    assert model_codings(db) == before  # model codings are never touched
    # Published for readers after each decision.
    assert rows(read_copy_path(db), "SELECT count(*) FROM review_decisions") == [(3,)]

    definition = {c.id: c.definition for c in load_codebook(Settings.from_env().codebook).codes}
    out = result.output
    assert f"[1/4] {s1.code}: score {s1.score:.3f}, boundary {s1.threshold:.3f}" in out
    assert f"  {s1.citation}\n" in out
    assert f"  {s1.speaker or '(no speaker)'}: {' '.join(s1.text.split())}\n" in out
    assert f"  {s1.code} = {' '.join(definition[s1.code].split())}\n" in out
    assert f"[4/4] {s4.code}: score {s4.score:.3f}" in out  # shown, then quit: not stored
    assert out.endswith("alice: 1 accepted, 1 rejected, 1 changed, 0 skipped.\n")

    # A second session goes on where the first stopped: decided pairs are not offered again.
    again = invoke(["review", "--coder", "alice", "--limit", "1", "--db", str(db)], input="s\n")
    assert again.exit_code == 0, again.output
    assert f"[1/1] {s4.code}: score {s4.score:.3f}" in again.output
    assert again.output.endswith("alice: 0 accepted, 0 rejected, 0 changed, 1 skipped.\n")
    assert rows(db, "SELECT count(*) FROM review_decisions") == [(3,)]


def test_review_reprompts_on_a_wrong_key_or_code(db: Path) -> None:
    con = duckdb.connect(str(db))
    try:
        (s1,) = suggestions(con, "carol", limit=1)
    finally:
        con.close()
    other = "doing" if s1.code != "doing" else "being"
    result = invoke(
        ["review", "--coder", "carol", "--limit", "1", "--db", str(db)],
        input=f"x\nc\nnonsense\n{s1.code}\n{other}\n",
    )
    assert result.exit_code == 0, result.output
    assert "Error: 'x' is not one of 'a', 'r', 'c', 's', 'q'." in result.output
    assert "Error: 'nonsense' is not one of" in result.output
    assert f"Error: '{s1.code}' is not one of" in result.output  # the suggested code itself
    assert rows(db, "SELECT code, decision, new_code FROM review_decisions") == [
        (s1.code, "change", other)
    ]


def test_review_refusals(db: Path, tmp_path: Path) -> None:
    result = invoke(["review", "--coder", "model", "--db", str(db)], input="q\n")
    assert result.exit_code == 1
    assert result.output == "Error: 'model' names the model; choose a person's name for --coder\n"

    result = invoke(["review", "--coder", "alice", "--code", "courage", "--db", str(db)])
    assert result.exit_code == 1
    assert result.output.startswith("Error: unknown code 'courage': model ")
    assert result.output.endswith("scored being, doing, feeling, perceiving, relating, thinking\n")

    missing = tmp_path / "nothing.duckdb"
    result = invoke(["review", "--coder", "alice", "--db", str(missing)])
    assert result.exit_code == 1
    assert result.output == f"Error: {missing} does not exist yet; run `narratives run` first\n"
    assert not missing.exists()


# --- import of human codings ----------------------------------------------------------------


def test_import_csv_is_idempotent_and_reports_unknown_ids(db: Path, tmp_path: Path) -> None:
    p = participant_passages(db, 3)
    csv_file = tmp_path / "codings.csv"
    csv_file.write_text(
        "passage_id,code\n"
        f"{p[0]},relating\n{p[0]},doing\n{p[1]},thinking\n"
        "nope-00001,feeling\nnope-00002,being\n",
        encoding="utf-8",
    )
    args = ["import-codings", str(csv_file), "--coder", "dana", "--db", str(db)]
    for _ in range(2):  # the second import replaces the first: no duplicates
        result = invoke(args)
        assert result.exit_code == 3, result.output
        assert result.output == (
            "Imported 3 codings of 2 passages (coder dana).\n"
            "  2 passages not in the database, not imported: nope-00001, nope-00002\n"
        )
    stored = (
        "SELECT passage_id, code, score, coder FROM codings WHERE source = 'human' ORDER BY ALL"
    )
    assert rows(db, stored) == sorted(
        [(p[0], "doing", 1.0, "dana"), (p[0], "relating", 1.0, "dana"),
         (p[1], "thinking", 1.0, "dana")]
    )  # fmt: skip

    # A corrected file replaces dana's codings of the passages it names, and only those.
    csv_file.write_text(f"passage_id,code\n{p[0]},feeling\n", encoding="utf-8")
    assert invoke(args).exit_code == 0
    assert rows(db, stored) == [(p[0], "feeling", 1.0, "dana"), (p[1], "thinking", 1.0, "dana")]
    assert rows(read_copy_path(db), "SELECT count(*) FROM codings WHERE source = 'human'") == [(2,)]


def test_import_jsonl_with_coders_and_document_seq(db: Path, tmp_path: Path) -> None:
    p = participant_passages(db, 3)
    (path, title, seq, pid) = rows(
        db,
        "SELECT d.path, d.title, p.seq, p.passage_id FROM passages p JOIN documents d "
        "USING (document_id) WHERE NOT is_interviewer AND passage_id NOT IN (?, ?, ?) "
        "ORDER BY d.path, p.seq LIMIT 1",
        p,
    )[0]
    lines = [
        {"passage_id": p[0], "codes": ["relating", "doing"], "coder": "erin"},
        {"passage_id": p[1], "code": "thinking"},
        {"passage_id": p[2], "codes": []},
        {"document": Path(path).name, "seq": seq, "codes": ["being"], "coder": "erin"},
        {"document": title, "seq": 9999, "codes": ["being"]},
    ]
    jsonl = tmp_path / "codings.jsonl"
    jsonl.write_text("\n".join(json.dumps(x) for x in lines) + "\n", encoding="utf-8")
    result = invoke(["import-codings", str(jsonl), "--coder", "fay", "--db", str(db)])
    assert result.exit_code == 3, result.output
    assert result.output == (
        "Imported 4 codings of 4 passages (coder erin, fay).\n"
        "  1 passages listed with no code\n"
        f"  1 passages not in the database, not imported: {title}#9999\n"
    )
    assert rows(
        db, "SELECT coder, passage_id, code FROM codings WHERE source = 'human' ORDER BY ALL"
    ) == sorted(
        [("erin", p[0], "doing"), ("erin", p[0], "relating"), ("erin", pid, "being"),
         ("fay", p[1], "thinking")]
    )  # fmt: skip


def test_import_refusals(db: Path, tmp_path: Path) -> None:
    p = participant_passages(db, 1)
    bad_code = tmp_path / "bad_code.csv"
    bad_code.write_text(f"passage_id,code\n{p[0]},relatng\n{p[0]},doing\n", encoding="utf-8")
    result = invoke(["import-codings", str(bad_code), "--coder", "gus", "--db", str(db)])
    assert result.exit_code == 1
    assert result.output == (
        f"Error: {bad_code} has 1 unusable row(s), nothing was imported:\n"
        "  - line 2: unknown code(s) relatng (known: feeling, perceiving, thinking, relating, "
        "being, doing)\n"
    )

    no_coder = tmp_path / "no_coder.csv"
    no_coder.write_text(f"passage_id,code\n{p[0]},doing\n", encoding="utf-8")
    result = invoke(["import-codings", str(no_coder), "--db", str(db)])
    assert result.exit_code == 1
    assert "line 2: no coder (add a coder column or give --coder NAME)" in result.output

    header = tmp_path / "header.csv"
    header.write_text("id,label\nx,doing\n", encoding="utf-8")
    result = invoke(["import-codings", str(header), "--coder", "gus", "--db", str(db)])
    assert result.output == (
        f"Error: {header}: expected the header passage_id,code[,coder] (or document,seq,code), "
        "found id,label\n"
    )

    unknown = tmp_path / "elsewhere.csv"
    unknown.write_text("passage_id,code\nabc-00001,doing\n", encoding="utf-8")
    result = invoke(["import-codings", str(unknown), "--coder", "gus", "--db", str(db)])
    assert result.exit_code == 1
    assert result.output == (
        f"Error: none of the 1 passages in {unknown} is in {db} (abc-00001); "
        "were they coded in another database?\n"
    )
    assert rows(db, "SELECT count(*) FROM codings WHERE source = 'human'") == [(0,)]


def test_store_human_codings_returns_counts(db: Path) -> None:
    p = participant_passages(db, 2)
    con = duckdb.connect(str(db))
    try:
        pairs = [(p[0], "doing"), (p[0], "doing"), (p[1], "feeling"), ("zzz-1", "being")]
        assert store_human_codings(con, pairs, "hana") == (2, ["zzz-1"])
        assert store_human_codings(con, pairs, "hana", "hana.csv") == (2, ["zzz-1"])
        with pytest.raises(HumanCodingError, match="names the model"):
            store_human_codings(con, pairs, "model")
    finally:
        con.close()
    assert rows(db, "SELECT count(*) FROM codings WHERE coder = 'hana'") == [(2,)]
    # Each known passage is recorded once as coded in full, by the latest import.
    assert rows(
        db, "SELECT passage_id, coder, source_file FROM human_coded_passages ORDER BY ALL"
    ) == [(p[0], "hana", "hana.csv"), (p[1], "hana", "hana.csv")]


def test_an_imported_passage_is_not_suggested_for_review(db: Path, tmp_path: Path) -> None:
    p = participant_passages(db, 2)
    csv_file = tmp_path / "jo.csv"
    csv_file.write_text(f"passage_id,code\n{p[0]},doing\n", encoding="utf-8")
    assert (
        invoke(["import-codings", str(csv_file), "--coder", "jo", "--db", str(db)]).exit_code == 0
    )
    assert rows(db, "SELECT passage_id, coder, source_file FROM human_coded_passages") == [
        (p[0], "jo", str(csv_file))
    ]
    con = duckdb.connect(str(db))
    try:
        mine = suggestions(con, "jo")
        others = suggestions(con, "kim")
    finally:
        con.close()
    # jo decided every code of p[0] by importing it; kim decided nothing.
    assert {s.passage_id for s in others} >= {p[0], p[1]}
    assert p[0] not in {s.passage_id for s in mine} and p[1] in {s.passage_id for s in mine}
    assert len(mine) == len(others) - sum(1 for s in others if s.passage_id == p[0])


# --- export of training examples ------------------------------------------------------------


def _example(db: Path, pid: str, codes: list[str]) -> dict:
    text, prev = rows(
        db,
        "SELECT p.text, q.text FROM passages p LEFT JOIN passages q ON "
        "q.document_id = p.document_id AND q.seq = p.seq - 1 WHERE p.passage_id = ?",
        [pid],
    )[0]
    row = {"text": text, "codes": codes}
    if prev:
        row["context"] = prev
    row["id"] = pid
    return row


def test_export_training_writes_passages_decided_in_full(db: Path, tmp_path: Path) -> None:
    candidates = participant_passages(db, 8)
    con = duckdb.connect(str(db))
    try:
        s1, s2 = suggestions(con, "ivy", limit=2)
        # Review every code of one more passage: accept one, reject the rest.
        full = next(pid for pid in candidates if pid not in (s1.passage_id, s2.passage_id))
        pairs = [s for s in suggestions(con, "ivy") if s.passage_id == full]
        assert len(pairs) == 6
    finally:
        con.close()
    # Accept the first suggestion, reject the second: one pair decided on each of their
    # passages, the passages' other codes undecided: they are not training examples.
    assert invoke(["review", "--coder", "ivy", "--db", str(db)], input="a\nr\nq\n").exit_code == 0
    con = duckdb.connect(str(db))
    try:
        for n, s in enumerate(pairs):
            record_decision(con, s, "accept" if n == 0 else "reject", "ivy")
    finally:
        con.close()
    p = [x for x in candidates if x not in (s1.passage_id, s2.passage_id, full)]
    csv_file = tmp_path / "ivy.csv"
    csv_file.write_text(f"passage_id,code\n{p[0]},relating\n{p[0]},doing\n", encoding="utf-8")
    jsonl = tmp_path / "ivy-none.jsonl"
    jsonl.write_text(json.dumps({"passage_id": p[1], "codes": []}) + "\n", encoding="utf-8")
    for f in (csv_file, jsonl):
        assert invoke(["import-codings", str(f), "--coder", "ivy", "--db", str(db)]).exit_code == 0

    out = tmp_path / "train" / "ivy.jsonl"
    result = invoke(["export-training", "--coder", "ivy", "--out", str(out), "--db", str(db)])
    assert result.exit_code == 0, result.output

    # Imported: every code decided (p[1] imported with none). Reviewed in full: the accepted code.
    wanted = {full: [pairs[0].code], p[0]: ["doing", "relating"], p[1]: []}
    order = rows(
        db,
        "SELECT passage_id FROM passages JOIN documents USING (document_id) "
        "WHERE passage_id IN (SELECT unnest(?)) ORDER BY path, seq",
        [list(wanted)],
    )
    lines = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert lines == [_example(db, pid, wanted[pid]) for (pid,) in order]
    partial = len({s1.passage_id, s2.passage_id})
    assert result.output == (
        f"Wrote 3 examples (1 with no code) to {out}\n"
        f"  skipped {partial} passages reviewed on some codes only (not decided in full); "
        "review their other codes to include them\n"
    )


def test_export_training_refuses_a_coder_with_partial_reviews_only(
    db: Path, tmp_path: Path
) -> None:
    assert invoke(["review", "--coder", "lu", "--db", str(db)], input="r\nq\n").exit_code == 0
    out = tmp_path / "lu.jsonl"
    result = invoke(["export-training", "--coder", "lu", "--out", str(out), "--db", str(db)])
    assert result.exit_code == 1
    assert result.output == (
        "Error: coder 'lu' decided no passage in full: each of the 1 passages reviewed has "
        "codes not yet decided; review their other codes (narratives review) or import full "
        "codings of them\n"
    )
    assert not out.exists()


def test_export_training_refuses_an_unknown_coder(db: Path, tmp_path: Path) -> None:
    out = tmp_path / "x.jsonl"
    result = invoke(["export-training", "--coder", "zed", "--out", str(out), "--db", str(db)])
    assert result.exit_code == 1
    assert result.output == (
        "Error: coder 'zed' has not reviewed or imported any passage in this database\n"
    )
    assert not out.exists()
