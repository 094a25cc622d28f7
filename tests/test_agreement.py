"""Agreement between coders (the model counts as one), on a real database coded by the real
pipeline from data/sample, with human codings imported from files or made in review."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from narratives.agreement import AgreementError, agreement
from narratives.cli import main
from narratives.review import record_decision, suggestions

# Two coders on ten passages. relating: both 3, only A 1, only B 2, neither 4;
# doing: both 4, only A 2, only B 2, neither 2. Every passage has a code from each coder.
A = {"relating": [1, 1, 1, 1, 0, 0, 0, 0, 0, 0], "doing": [0, 0, 0, 0, 1, 1, 1, 1, 1, 1]}
B = {"relating": [1, 1, 1, 0, 1, 1, 0, 0, 0, 0], "doing": [1, 0, 0, 1, 0, 0, 1, 1, 1, 1]}
# Hand-computed. relating: po = 0.7, pe = 0.4*0.5 + 0.6*0.5 = 0.5, kappa = 0.2/0.5 = 0.4.
# doing: po = 0.6, pe = 0.6*0.6 + 0.4*0.4 = 0.52, kappa = 0.08/0.48 = 1/6.
# alpha over 20 units (40 values, 21 True, 19 False, 7 disagreeing units):
# 1 - (40 - 1) * 14 / (2 * 21 * 19) = 1 - 546/798 = 6/19.
# relating alone: 20 values, 9 True, 11 False, 3 disagreeing: 1 - 19 * 6 / (2 * 9 * 11) = 14/33.


@pytest.fixture(scope="module")
def coded_db(coded_sample_db: Path) -> Path:
    """data/sample, coded by the real pipeline (this module's own copy)."""
    return coded_sample_db


@pytest.fixture(scope="module")
def passages(coded_db: Path) -> list[str]:
    """Twelve participant passages that the model scored."""
    con = duckdb.connect(str(coded_db), read_only=True)
    try:
        found = con.execute(
            "SELECT DISTINCT passage_id FROM code_scores ORDER BY passage_id LIMIT 12"
        ).fetchall()
    finally:
        con.close()
    return [r[0] for r in found]


@pytest.fixture(scope="module")
def two_coders(coded_db: Path, passages: list[str], tmp_path_factory) -> Path:
    """The coded database with coders ann and ben imported (ann also on an 11th passage,
    cat on the 12th alone)."""
    folder = tmp_path_factory.mktemp("two")
    db = folder / "agree.duckdb"
    shutil.copy(coded_db, db)
    ann = ["passage_id,code"] + [
        f"{passages[i]},{code}" for code, marks in A.items() for i, m in enumerate(marks) if m
    ]
    ann.append(f"{passages[10]},feeling")
    (folder / "ann.csv").write_text("\n".join(ann) + "\n", encoding="utf-8")
    ben = [
        json.dumps({"passage_id": passages[i], "codes": [c for c in B if B[c][i]], "coder": "ben"})
        for i in range(10)
    ]
    (folder / "ben.jsonl").write_text("\n".join(ben) + "\n", encoding="utf-8")
    (folder / "cat.csv").write_text(f"passage_id,code\n{passages[11]},being\n", encoding="utf-8")
    for args in (["ann.csv", "--coder", "ann"], ["ben.jsonl"], ["cat.csv", "--coder", "cat"]):
        result = invoke(["import-codings", str(folder / args[0]), *args[1:], "--db", str(db)])
        assert result.exit_code == 0, result.output
    return db


def invoke(args: list[str], input: str | None = None):
    return CliRunner().invoke(main, args, input=input)


def test_agreement_of_two_coders_matches_hand_computed_values(two_coders: Path) -> None:
    result = invoke(
        ["agreement", "--coder-a", "ann", "--coder-b", "ben", "--format", "json",
         "--db", str(two_coders)]
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert set(report) == {
        "coder_a", "coder_b", "n_passages", "per_code", "krippendorff_alpha", "mean_kappa"
    }  # fmt: skip
    assert report["n_passages"] == 10  # ann's 11th passage is not shared
    assert report["per_code"] == {
        "doing": {"kappa": 0.1667, "percent_agreement": 0.6, "both": 4, "only_a": 2, "only_b": 2,
                  "neither": 2},
        "relating": {"kappa": 0.4, "percent_agreement": 0.7, "both": 3, "only_a": 1, "only_b": 2,
                     "neither": 4},
    }  # fmt: skip
    assert report["krippendorff_alpha"] == round(6 / 19, 4)
    assert report["mean_kappa"] == pytest.approx((0.4 + 1 / 6) / 2, abs=1e-4)


def test_agreement_table_output(two_coders: Path) -> None:
    result = invoke(["agreement", "--coder-a", "ann", "--coder-b", "ben", "--db", str(two_coders)])
    assert result.exit_code == 0, result.output
    assert result.output == (
        "A: ann\n"
        "B: ben\n"
        "Passages both coded: 10\n"
        "code      kappa  agreement  both  only_a  only_b  neither\n"
        "--------  -----  ---------  ----  ------  ------  -------\n"
        "doing     0.167  60.0%      4     2       2       2      \n"
        "relating  0.400  70.0%      3     1       2       4      \n"
        "(2 rows)\n"
        "Mean kappa: 0.283\n"
        "Krippendorff's alpha: 0.316\n"
    )


def test_agreement_on_one_code(two_coders: Path) -> None:
    con = duckdb.connect(str(two_coders), read_only=True)
    try:
        report = agreement(con, "ben", "ann", code="relating")
    finally:
        con.close()
    (relating,) = report.per_code
    assert (relating.both, relating.only_a, relating.only_b, relating.neither) == (3, 2, 1, 4)
    assert relating.kappa == 0.4
    assert report.krippendorff_alpha == round(14 / 33, 4)
    assert report.mean_kappa == 0.4


def test_agreement_with_the_model(two_coders: Path, passages: list[str]) -> None:
    con = duckdb.connect(str(two_coders), read_only=True)
    try:
        report = agreement(con, "model", "ann")
        (model_id,) = con.execute("SELECT model_id FROM runs").fetchone()
        model = set(
            con.execute("SELECT passage_id, code FROM codings WHERE source = 'model'").fetchall()
        )
        explicit = agreement(con, f"model:{model_id}", "ann")
    finally:
        con.close()
    assert report == explicit
    assert report.coder_a.label == f"model {model_id}"
    shared = passages[:11]  # every passage ann coded was scored by the model
    assert report.n_passages == 11
    ann = {(passages[i], c) for c, marks in A.items() for i, m in enumerate(marks) if m}
    ann.add((passages[10], "feeling"))
    model = {(p, c) for p, c in model if p in shared}
    codes = sorted({c for _, c in ann | model})
    assert [c.code for c in report.per_code] == codes
    for c in report.per_code:
        a = {p for p, code in model if code == c.code}
        b = {p for p, code in ann if code == c.code}
        assert (c.both, c.only_a, c.only_b) == (len(a & b), len(a - b), len(b - a))
        assert c.neither == 11 - len(a | b)
        assert c.percent_agreement == round((c.both + c.neither) / 11, 4)


def _review(db: Path, coder: str, decisions: list[tuple[str, str, str]]) -> None:
    """Take review decisions (passage_id, code, accept|reject) as `coder`."""
    con = duckdb.connect(str(db))
    try:
        offered = {(x.passage_id, x.code): x for x in suggestions(con, coder)}
        for passage, code, decision in decisions:
            record_decision(con, offered[(passage, code)], decision, coder)
    finally:
        con.close()


def test_agreement_on_a_partially_reviewed_passage_compares_only_the_decided_pairs(
    coded_db: Path, tmp_path: Path
) -> None:
    db = tmp_path / "partial.duckdb"
    shutil.copy(coded_db, db)
    con = duckdb.connect(str(db), read_only=True)
    try:
        passage, (x, y, *_) = con.execute(
            "SELECT passage_id, list(code ORDER BY code) FROM codings WHERE source = 'model' "
            "GROUP BY passage_id HAVING count(*) >= 2 ORDER BY passage_id LIMIT 1"
        ).fetchone()
    finally:
        con.close()
    # The model applied x, y (and maybe more) to the passage; dev rejects x only.
    _review(db, "dev", [(passage, x, "reject")])
    con = duckdb.connect(str(db), read_only=True)
    try:
        report = agreement(con, "model", "dev")
    finally:
        con.close()
    # One pair both decided: (passage, x), model yes, dev no. The model's y (and others) on
    # the same passage are not compared: dev did not decide them.
    assert report.n_passages == 1
    assert [(c.code, c.both, c.only_a, c.only_b, c.neither) for c in report.per_code] == [
        (x, 0, 1, 0, 0)
    ]
    # One unit, two values that differ: kappa 0 (po = 0, pe = 1*0 + 0*1 = 0); alpha needs
    # variation beyond one unit: 2 values, 1 True, 1 False: 1 - (2-1) * 2 / (2*1*1) = 0.
    assert (report.per_code[0].kappa, report.krippendorff_alpha) == (0.0, 0.0)

    # dev now accepts y: two pairs, (x: model yes, dev no) and (y: both yes).
    _review(db, "dev", [(passage, y, "accept")])
    con = duckdb.connect(str(db), read_only=True)
    try:
        report = agreement(con, "model", "dev")
    finally:
        con.close()
    assert report.n_passages == 1
    assert [(c.code, c.both, c.only_a, c.only_b, c.neither) for c in report.per_code] == [
        (x, 0, 1, 0, 0), (y, 1, 0, 0, 0)
    ]  # fmt: skip
    # kappa(y) = 1 (both constant and equal); mean (0 + 1) / 2. alpha over two units
    # [T, F], [T, T]: 4 values, 3 True, 1 False, observed disagreement 2, expected
    # (16 - 9 - 1) / 3 = 2: alpha = 1 - 2/2 = 0.
    assert [c.kappa for c in report.per_code] == [0.0, 1.0]
    assert (report.mean_kappa, report.krippendorff_alpha) == (0.5, 0.0)


def test_agreement_of_an_importer_and_a_reviewer(two_coders: Path, passages: list[str],
                                                tmp_path: Path) -> None:  # fmt: skip
    db = tmp_path / "mixed.duckdb"
    shutil.copy(two_coders, db)
    # dev accepts relating on passage 0 (ann: relating) and rejects doing on passage 1 (ann: not
    # doing): two pairs, on two passages, both decided by ann's full import and by dev.
    _review(db, "dev", [(passages[0], "relating", "accept"), (passages[1], "doing", "reject")])
    con = duckdb.connect(str(db), read_only=True)
    try:
        report = agreement(con, "ann", "dev")
        json_report = report.to_json()
    finally:
        con.close()
    assert json_report["n_passages"] == 2
    # doing: neither applied it on the one pair both decided: no variation, left out.
    assert json_report["per_code"] == {
        "relating": {"kappa": 1.0, "percent_agreement": 1.0, "both": 1, "only_a": 0,
                     "only_b": 0, "neither": 0},
    }  # fmt: skip
    # A second reviewer of the same passage but another code shares no pair with dev.
    _review(db, "eve", [(passages[0], "doing", "reject")])
    con = duckdb.connect(str(db), read_only=True)
    try:
        with pytest.raises(AgreementError) as caught:
            agreement(con, "dev", "eve")
    finally:
        con.close()
    assert str(caught.value) == (
        "dev and eve share 1 passages but decided no code of them both; review the same codes "
        "of those passages, or import full codings"
    )


def test_agreement_after_review(two_coders: Path, tmp_path: Path) -> None:
    db = tmp_path / "reviewed.duckdb"
    shutil.copy(two_coders, db)
    result = invoke(
        ["review", "--coder", "dev", "--limit", "3", "--db", str(db)], input="a\nr\na\n"
    )
    assert result.exit_code == 0, result.output
    con = duckdb.connect(str(db), read_only=True)
    try:
        decided = con.execute(
            "SELECT r.passage_id, r.code, r.decision = 'accept', "
            "EXISTS (SELECT 1 FROM codings c WHERE c.source = 'model' "
            "AND c.passage_id = r.passage_id AND c.code = r.code) "
            "FROM review_decisions r WHERE coder = 'dev'"
        ).fetchall()
    finally:
        con.close()
    result = invoke(
        ["agreement", "--coder-a", "dev", "--coder-b", "model", "--format", "json", "--db", str(db)]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["n_passages"] == len({p for p, *_ in decided})
    # Only the three decided pairs are compared: per code, their counts.
    expected = {}
    for _, code, dev, model in decided:
        counts = expected.setdefault(code, {"both": 0, "only_a": 0, "only_b": 0, "neither": 0})
        key = {(True, True): "both", (True, False): "only_a", (False, True): "only_b",
               (False, False): "neither"}[(dev, model)]  # fmt: skip
        counts[key] += 1
    expected = {c: n for c, n in expected.items() if n["both"] + n["only_a"] + n["only_b"]}
    assert {
        c: {k: v[k] for k in ("both", "only_a", "only_b", "neither")}
        for c, v in report["per_code"].items()
    } == expected


def test_agreement_refusals(two_coders: Path, tmp_path: Path) -> None:
    def error(*args: str) -> str:
        result = invoke(["agreement", *args, "--db", str(two_coders)])
        assert result.exit_code == 1
        return result.output

    assert error("--coder-a", "ann", "--coder-b", "cat") == (
        "Error: ann (11 passages) and cat (1 passages) share no coded passage; "
        "review or import codings of the same passages first\n"
    )
    assert error("--coder-a", "ann", "--coder-b", "zoe") == (
        "Error: coder 'zoe' has no codings or review decisions here; coders: model, ann, ben, cat\n"
    )
    assert error("--coder-a", "ann", "--coder-b", "ann") == (
        "Error: --coder-a and --coder-b are both ann; name two coders\n"
    )
    assert error("--coder-a", "model:other", "--coder-b", "ann").startswith(
        "Error: model 'other' has scored no passage here; models: "
    )
    missing = tmp_path / "none.duckdb"
    result = invoke(["agreement", "--coder-a", "a", "--coder-b", "b", "--db", str(missing)])
    assert result.output == f"Error: {missing} does not exist yet; run `narratives run` first\n"


def test_export_training_pools_coders_with_votes_where_they_split(
    two_coders: Path, passages: list[str], tmp_path: Path
) -> None:
    out = tmp_path / "pooled.jsonl"
    result = invoke(
        ["export-training", "--coder", "ann", "--coder", "ben", "--out", str(out),
         "--db", str(two_coders)]
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    lines = {row["id"]: row for row in map(json.loads, out.read_text().splitlines())}
    assert set(lines) == set(passages[:10])  # ann's 11th passage: ben did not code it
    for i, pid in enumerate(passages[:10]):
        both = [c for c in ("doing", "relating") if A[c][i] and B[c][i]]
        split = {c: 0.5 for c in ("doing", "relating") if A[c][i] != B[c][i]}
        assert sorted(lines[pid]["codes"]) == both
        assert lines[pid].get("votes", {}) == split
    # They split on passages 0, 3, 4 and 5 (see A and B); 3, 4 and 5 keep no code.
    assert result.output == (
        f"Wrote 10 examples (3 with no code) to {out}\n"
        '  decided in full by all of ann, ben; they split on 4, written with "votes"\n'
    )
    # What it wrote trains: fine-tuning reads the votes (the trainer checks them per line)
    from narratives.codebook import load_codebook
    from narratives.examples import load_examples
    from narratives.settings import Settings

    examples, _ = load_examples(out, load_codebook(Settings.from_env().codebook))
    assert sum(bool(e.votes) for e in examples) == 4

    alone = invoke(
        ["export-training", "--coder", "ann", "--coder", "cat", "--out", str(tmp_path / "x"),
         "--db", str(two_coders)]
    )  # fmt: skip
    assert alone.exit_code == 1
    assert "coders ann, cat decided no passage in full in common" in alone.output
