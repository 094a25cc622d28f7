"""The evaluation views (counts checked against the base tables) and the README's schema
section (checked against a freshly migrated database)."""

from __future__ import annotations

import re
import shutil
from collections import Counter
from itertools import combinations
from pathlib import Path

import duckdb
import pytest

from narratives import store, views
from narratives.human import store_human_codings
from tests.conftest import ROOT

NEW_VIEWS = [
    "code_cooccurrence",
    "code_prevalence",
    "final_codings",
    "human_decisions",
    "passages_by_role",
    "wave_change",
]


@pytest.fixture(scope="module")
def coded_db(coded_sample_db: Path) -> Path:
    """data/sample, coded by the real pipeline (this module's own copy)."""
    return coded_sample_db


@pytest.fixture
def con(coded_db, tmp_path):
    """A writable copy of the coded database (tests may add human codings)."""
    copy = tmp_path / "copy.duckdb"
    shutil.copy(coded_db, copy)
    with store.open_store(copy) as c:
        yield c


def rows(con, query: str, params=None) -> list[tuple]:
    return con.execute(query, params or []).fetchall()


def test_every_view_and_column_is_commented():
    con = views.migrated_database()
    found = {
        name: comment
        for name, comment in rows(
            con, "SELECT view_name, comment FROM duckdb_views() WHERE NOT internal"
        )
    }
    assert sorted(found) == sorted([*NEW_VIEWS, "evidence"])
    assert all(comment for comment in found.values())
    assert (
        rows(
            con,
            "SELECT table_name, column_name FROM duckdb_columns() "
            "WHERE NOT internal AND (comment IS NULL OR comment = '')",
        )
        == []
    )
    assert "human" in found["final_codings"] and "model" in found["final_codings"]


def _readme_objects(section: str) -> dict[str, tuple[str, dict[str, tuple[str, str]]]]:
    """{name: (comment, {column: (type, description)})} parsed from the README section."""
    objects: dict[str, tuple[str, dict[str, tuple[str, str]]]] = {}
    for block in re.split(r"^#### ", section, flags=re.M)[1:]:
        name = re.match(r"`(\w+)`", block).group(1)
        paragraphs = block.split("\n\n")
        columns = {
            m.group(1): (m.group(2), m.group(3).replace("\\|", "|"))
            for m in re.finditer(r"^\| `(\w+)` \| ([^|]+) \| (.*) \|$", block, flags=re.M)
        }
        objects[name] = (paragraphs[1].replace("\\|", "|"), columns)
    return objects


def test_readme_schema_section_matches_the_database():
    readme = (ROOT / "README.md").read_text("utf-8")
    section = views.extract_section(readme)
    assert section is not None, "README.md has no '## Schema' section"
    documented = _readme_objects(section)
    live = {
        o.name: (
            " ".join(o.comment.split()),
            {c.name: (c.type, " ".join(c.comment.split())) for c in o.columns},
        )
        for o in views.schema_objects(views.migrated_database())
    }
    fix = "; regenerate it: python -m narratives.views --update README.md"
    assert sorted(documented) == sorted(live), "tables/views differ" + fix
    for name in live:
        assert documented[name][1].keys() == live[name][1].keys(), f"{name}: columns differ{fix}"
        assert documented[name] == live[name], f"{name}: comments or types differ{fix}"


def test_generator_prints_the_readme_section(capsys):
    assert views.main(["--markdown"]) == 0
    printed = capsys.readouterr().out
    assert printed == views.extract_section((ROOT / "README.md").read_text("utf-8"))


def test_update_replaces_only_the_schema_section(tmp_path):
    doc = tmp_path / "README.md"
    doc.write_text("# x\n\n## Before\n\ntext\n\n## Schema\n\nold\n\n## After\n\nmore\n")
    views.main(["--update", str(doc)])
    text = doc.read_text()
    assert text.startswith("# x\n\n## Before\n\ntext\n\n## Schema\n\nEvery table")
    assert text.endswith("\n\n## After\n\nmore\n") and "old" not in text
    assert views.extract_section(text) == views.schema_markdown(
        views.schema_objects(views.migrated_database())
    )


def _expected_prevalence(con) -> dict[tuple, tuple[int, int]]:
    """(place, project, wave, role, code) -> (passages coded, participant passages), from the
    base tables, with model codings only (no human codings yet)."""
    totals = Counter(
        dict(
            ((pl, pr, w, r), n)
            for pl, pr, w, r, n in rows(
                con,
                "SELECT place, project, wave, role, count(*) FROM passages "
                "JOIN documents USING (document_id) WHERE NOT is_interviewer GROUP BY ALL",
            )
        )
    )
    codes = {c for (c,) in rows(con, "SELECT DISTINCT code FROM code_scores")}
    coded = Counter(
        (pl, pr, w, r, code)
        for pl, pr, w, r, code in rows(
            con,
            "SELECT place, project, wave, role, code FROM codings JOIN passages USING "
            "(passage_id) JOIN documents USING (document_id) "
            "WHERE source = 'model' AND NOT is_interviewer",
        )
    )
    return {(*g, c): (coded[(*g, c)], n) for g, n in totals.items() for c in codes}


def test_code_prevalence_counts_model_codings_per_case(con):
    expected = _expected_prevalence(con)
    found = {
        (pl, pr, w, r, c): (k, n, share)
        for pl, pr, w, r, c, k, n, share in rows(con, "SELECT * FROM code_prevalence")
    }
    assert found.keys() == expected.keys()
    for key, (k, n) in expected.items():
        assert found[key] == (k, n, pytest.approx(k / n))
    # Kelsham's baseline interview has one participant: 19 of its passages are hers.
    kelsham = {
        n for (pl, _, w, *_), (_, n, _) in found.items() if pl == "Kelsham" and w == "baseline"
    }
    assert kelsham == {
        rows(
            con,
            "SELECT count(*) FROM passages WHERE speaker = 'Grace Adeyemi' AND "
            "document_id IN (SELECT document_id FROM documents WHERE path LIKE "
            "'%kelsham_baseline_enabler.md')",
        )[0][0]
    }


def _two_coded_passages(con) -> list[tuple[str, list[str]]]:
    """Two participant passages the model applied at least two codes to, with those codes."""
    return rows(
        con,
        "SELECT passage_id, list(code ORDER BY code) FROM codings WHERE source = 'model' "
        "GROUP BY passage_id HAVING count(*) >= 2 ORDER BY passage_id LIMIT 2",
    )


def _final(con, passage: str) -> list[tuple]:
    return rows(
        con,
        "SELECT code, source FROM final_codings WHERE passage_id = ? ORDER BY code",
        [passage],
    )


def _decide(con, passage, code, decision, coder, new_code=None, minutes=0):
    con.execute(
        "INSERT INTO review_decisions VALUES (?, ?, ?, ?, ?, 'm', "
        "now()::TIMESTAMP + to_minutes(?::BIGINT))",
        [passage, code, decision, new_code, coder, minutes],
    )


def test_a_rejected_review_decision_drops_one_code_and_keeps_the_others(con):
    (passage, model_codes), _ = _two_coded_passages(con)
    rejected, *kept = model_codes
    before = _prevalence_of(con, passage)
    _decide(con, passage, rejected, "reject", "Coder A")
    # Only the rejected pair is decided; the model's other codes of the passage still count.
    assert _final(con, passage) == [(code, "model") for code in kept]
    assert rows(
        con, "SELECT code, coder, applied, how FROM human_decisions WHERE passage_id = ?", [passage]
    ) == [(rejected, "Coder A", False, "review")]
    after = _prevalence_of(con, passage)
    assert after[rejected] == before[rejected] - 1
    assert {c: n for c, n in after.items() if c != rejected} == {
        c: n for c, n in before.items() if c != rejected
    }


def test_accept_and_change_decide_their_pairs_only(con):
    (passage, model_codes), _ = _two_coded_passages(con)
    first, second, *rest = model_codes
    new = next(c for c in ["feeling", "being", "doing", "relating"] if c not in model_codes)
    con.execute(
        "INSERT INTO codings (passage_id, code, score, source, coder, created_at) "
        "VALUES (?, ?, 1.0, 'human', 'Coder A', now()), (?, ?, 1.0, 'human', 'Coder A', now())",
        [passage, first, passage, new],
    )
    _decide(con, passage, first, "accept", "Coder A")
    _decide(con, passage, second, "change", "Coder A", new_code=new)
    # first: accepted (human); second: changed to `new` (gone, `new` human); rest: the model's.
    expected = [(first, "human"), (new, "human"), *[(c, "model") for c in rest]]
    assert _final(con, passage) == sorted(expected)
    assert rows(
        con,
        "SELECT code, applied FROM human_decisions WHERE passage_id = ? ORDER BY code",
        [passage],
    ) == sorted([(first, True), (second, False), (new, True)])


def test_an_imported_coding_decides_every_code_of_the_passage(con):
    (passage, model_codes), (other, other_codes) = _two_coded_passages(con)
    human = next(c for c in ["feeling", "being", "doing", "relating"] if c not in model_codes)
    assert store_human_codings(con, [(passage, human), (other, None)], "Coder B") == (1, [])
    codes = [c for (c,) in rows(con, "SELECT DISTINCT code FROM code_scores ORDER BY 1")]
    # Every code is decided: the model's codes of both passages no longer count.
    assert _final(con, passage) == [(human, "human")]
    assert _final(con, other) == []  # imported with no code: nothing applies
    assert rows(
        con,
        "SELECT code, applied, how FROM human_decisions WHERE passage_id = ? ORDER BY code",
        [passage],
    ) == [(c, c == human, "import") for c in codes]
    assert rows(
        con,
        "SELECT passage_id, coder, source_file FROM human_coded_passages ORDER BY passage_id",
    ) == sorted([(passage, "Coder B", None), (other, "Coder B", None)])
    # A later review decision of another coder on one pair overrides that pair only.
    _decide(con, passage, model_codes[0], "accept", "Coder C", minutes=5)
    assert _final(con, passage) == sorted([(human, "human"), (model_codes[0], "human")])


def test_the_latest_decision_on_a_pair_counts(con):
    (passage, model_codes), _ = _two_coded_passages(con)
    code = model_codes[0]
    kept = [(c, "model") for c in model_codes[1:]]
    _decide(con, passage, code, "reject", "Coder A", minutes=1)
    _decide(con, passage, code, "accept", "Coder B", minutes=2)
    assert _final(con, passage) == sorted([(code, "human"), *kept])
    _decide(con, passage, code, "reject", "Coder C", minutes=3)
    assert _final(con, passage) == kept
    # Each coder's own latest decision is in human_decisions, one row per coder.
    assert rows(
        con,
        "SELECT coder, applied FROM human_decisions WHERE passage_id = ? ORDER BY coder",
        [passage],
    ) == [("Coder A", False), ("Coder B", True), ("Coder C", False)]


def test_a_human_coding_without_a_decision_adds_its_code(con):
    (passage, model_codes), _ = _two_coded_passages(con)
    human = next(c for c in ["feeling", "being", "doing", "relating"] if c not in model_codes)
    before = _prevalence_of(con, passage)
    con.execute(
        "INSERT INTO codings (passage_id, code, score, source, coder, created_at) "
        "VALUES (?, ?, 1.0, 'human', 'Coder A', now())",
        [passage, human],
    )
    assert rows(
        con,
        "SELECT code, score, source FROM final_codings WHERE passage_id = ? ORDER BY code",
        [passage],
    ) == sorted(
        [(human, 1.0, "human")]
        + rows(
            con,
            "SELECT code, score, 'model' FROM codings WHERE source = 'model' AND passage_id = ?",
            [passage],
        )
    )
    after = _prevalence_of(con, passage)
    assert after[human] == before[human] + 1
    assert {c: n for c, n in after.items() if c != human} == {
        c: n for c, n in before.items() if c != human
    }


def _prevalence_of(con, passage_id: str) -> dict[str, int]:
    return dict(
        rows(
            con,
            "SELECT code, passages_coded FROM code_prevalence v JOIN documents d "
            "ON v.place = d.place AND v.wave = d.wave AND v.role = d.role "
            "WHERE d.document_id = (SELECT document_id FROM passages WHERE passage_id = ?)",
            [passage_id],
        )
    )


def test_wave_change_orders_waves_by_date_not_name(con):
    # Rename Kelsham's baseline so that its name sorts after 'follow-up': its date still
    # makes it the first wave.
    con.execute(
        "UPDATE documents SET wave = 'wave zero' WHERE place = 'Kelsham' AND wave = 'baseline'"
    )
    found = rows(
        con,
        "SELECT code, wave_number, wave, wave_date::VARCHAR, share, previous_wave, "
        "previous_share, change, change_since_first FROM wave_change WHERE place = 'Kelsham' "
        "ORDER BY code, wave_number",
    )
    shares = _kelsham_shares(con)
    codes = sorted({code for code, _ in shares})
    assert [(c, n, w) for c, n, w, *_ in found] == [
        (c, n, w) for c in codes for n, w in ((1, "wave zero"), (2, "follow-up"))
    ]
    for code, number, wave, date, share, prev_wave, prev_share, change, since in found:
        assert share == pytest.approx(shares[(code, wave)])
        assert date == {"wave zero": "2023-04-05", "follow-up": "2024-03-19"}[wave]
        if number == 1:
            assert (prev_wave, prev_share, change, since) == (None, None, None, 0.0)
        else:
            first = shares[(code, "wave zero")]
            assert (prev_wave, prev_share) == ("wave zero", pytest.approx(first))
            assert change == pytest.approx(share - first) == since


def _kelsham_shares(con) -> dict[tuple[str, str], float]:
    totals = dict(
        rows(
            con,
            "SELECT wave, count(*) FROM passages JOIN documents USING (document_id) "
            "WHERE place = 'Kelsham' AND NOT is_interviewer GROUP BY wave",
        )
    )
    coded = Counter(
        rows(
            con,
            "SELECT code, wave FROM codings JOIN passages USING (passage_id) JOIN "
            "documents USING (document_id) WHERE place = 'Kelsham' AND NOT is_interviewer",
        )
    )
    codes = {c for (c,) in rows(con, "SELECT DISTINCT code FROM code_scores")}
    return {(c, w): coded[(c, w)] / n for c in codes for w, n in totals.items()}


def test_code_cooccurrence_counts_passages_with_both_codes(con):
    by_passage: dict[str, set[str]] = {}
    for passage, code in rows(con, "SELECT passage_id, code FROM codings"):
        by_passage.setdefault(passage, set()).add(code)
    pairs = Counter(p for codes in by_passage.values() for p in combinations(sorted(codes), 2))
    per_code = Counter(c for codes in by_passage.values() for c in codes)
    found = rows(con, "SELECT * FROM code_cooccurrence")
    assert found == [(a, b, n, per_code[a], per_code[b]) for (a, b), n in sorted(pairs.items())]


def test_passages_by_role_gives_the_documents_role_to_its_first_speaker(con):
    found = {r[0]: r[1:] for r in rows(con, "SELECT * FROM passages_by_role")}
    speakers = dict(rows(con, "SELECT speaker, count(*) FROM passages GROUP BY speaker"))
    # The sample's interviewees (manifest role) and the others who speak with them.
    assert found["interviewer"][:3] == (6, 1, speakers["Interviewer"])
    assert found["enabler"][:3] == (2, 1, speakers["Grace Adeyemi"])
    assert found["GP"][:3] == (1, 1, speakers["Dr Priya Nair"])
    assert found["director of public health"][:3] == (2, 1, speakers["Dr Helen Marsh"])
    assert found["voluntary sector lead"][:3] == (1, 1, speakers["Janet Okonkwo"])
    assert found["report"][:3] == (1, 0, speakers[None])
    assert found["participant"][:3] == (
        3,
        3,
        speakers["Marcus Bell"] + speakers["Tom Reid"] + speakers["Dave Hollins"],
    )
    assert found["interviewer"][3] == 0  # interviewer turns are not coded
    assert sum(r[2] for r in found.values()) == rows(con, "SELECT count(*) FROM passages")[0][0]
    coded = rows(con, "SELECT count(DISTINCT passage_id) FROM codings")[0][0]
    assert sum(r[3] for r in found.values()) == coded


def test_the_published_copy_has_the_views_and_their_comments(coded_db):
    from narratives.settings import read_copy_path

    con = duckdb.connect(str(read_copy_path(coded_db)), read_only=True)
    try:
        found = rows(
            con,
            "SELECT view_name FROM duckdb_views() WHERE NOT internal "
            "AND comment IS NOT NULL ORDER BY 1",
        )
        assert [v for (v,) in found] == sorted([*NEW_VIEWS, "evidence"])
    finally:
        con.close()
