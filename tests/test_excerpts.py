"""Excerpts and pseudonyms on the sample corpus: exact text and citations, balance across
documents and speakers, near-duplicates collapsed, no names in the default output."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import re
import shutil
from pathlib import Path

import duckdb
import numpy as np
import pytest
from click.testing import CliRunner

from narratives import excerpts as ex
from narratives import store
from narratives.cli import main
from narratives.pseudonymise import Pseudonymiser, people_from, pseudonymiser_for
from narratives.settings import Settings, read_copy_path
from tests.conftest import ROOT

SAMPLE = ROOT / "data" / "sample"
VTT_TITLE = (
    "Kelsham Connected - follow-up conversation with the enabler and the voluntary sector "
    "lead (Teams)"
)
PDF_TITLE = "Northmoor Good Food - Systems Leadership project report"
MARCUS = "I'm Marcus Bell, I'm the chief executive of Kelsham Community Network"
PDF_PASSAGE = "Trust between the statutory and voluntary sectors grew"
MIXED = "It's been mixed, honestly."
MIXED_COPY = "It's been mixed, to be honest."

# Every person of the corpus below and their pseudonym, worked out by hand from the manifest
# (place, role, date) and the order in which people speak.
PSEUDONYMS = {
    "dr helen marsh": "[Director of public health, Ashby Vale]",
    "tom reid": "[Participant 2, Ashby Vale]",
    "grace adeyemi": "[Enabler, Kelsham]",
    "marcus bell": "[Participant 2, Kelsham]",
    "dr priya nair": "[GP, Northmoor]",
    "sunita rao": "[Participant 2, Northmoor]",  # named only in the manifest's participants
    "janet okonkwo": "[Voluntary sector lead, Northmoor]",
    "dave hollins": "[Participant 4, Northmoor]",
}
NAME_PARTS = sorted({w.capitalize() for name in PSEUDONYMS for w in name.split() if w != "dr"})


@pytest.fixture(scope="module")
def coded_db(tmp_path_factory) -> Path:
    """data/sample plus a second copy of Kelsham's baseline interview (one answer reworded),
    a manifest column `participants`, and four human codings; coded by the real pipeline."""
    from flows.pipeline import pipeline

    folder = tmp_path_factory.mktemp("corpus")
    for f in SAMPLE.iterdir():
        if f.name != "manifest.csv":
            shutil.copy(f, folder / f.name)
    original = (SAMPLE / "kelsham_baseline_enabler.md").read_text("utf-8")
    assert original.count(MIXED) == 1
    (folder / "kelsham_baseline_copy.md").write_text(original.replace(MIXED, MIXED_COPY), "utf-8")
    with open(SAMPLE / "manifest.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    copy = dict(next(r for r in rows if r["file"] == "kelsham_baseline_enabler.md"))
    copy.update(file="kelsham_baseline_copy.md", title=copy["title"] + " (second copy)")
    rows.append(copy)
    for r in rows:
        r["participants"] = "Sunita Rao" if r["file"] == "northmoor_baseline_gp.srt" else ""
    with open(folder / "manifest.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)

    db = tmp_path_factory.mktemp("db") / "t.duckdb"
    pipeline(paths=[str(folder)], manifest=str(folder / "manifest.csv"), db=str(db))
    with store.open_store(db) as con:
        for start, code in [
            (MARCUS, "relating"),
            (PDF_PASSAGE, "being"),
            (MIXED, "feeling"),
            (MIXED_COPY, "feeling"),
        ]:
            (passage,) = con.execute(
                "SELECT passage_id FROM passages WHERE starts_with(text, ?)", [start]
            ).fetchall()
            con.execute(
                "INSERT INTO codings (passage_id, code, score, source, coder, created_at) "
                "VALUES (?, ?, 1.0, 'human', 'Coder A', now())",
                [passage[0], code],
            )
        store.publish(con, db)
    return db


@pytest.fixture(scope="module")
def settings(coded_db) -> Settings:
    return Settings.from_env(db=coded_db)


def read(coded_db, query: str, params=None) -> list[tuple]:
    con = duckdb.connect(str(read_copy_path(coded_db)), read_only=True)
    try:
        return con.execute(query, params or []).fetchall()
    finally:
        con.close()


def test_a_recording_passage_is_quoted_exactly_with_its_citation(settings, coded_db):
    (chosen,) = ex.select_excerpts(
        settings, "relating", place="Kelsham", wave="follow-up", limit=1, real_names=True
    )
    exact = read(
        coded_db,
        "SELECT substr(d.text, p.start_char + 1, p.end_char - p.start_char) FROM passages p "
        "JOIN documents d USING (document_id) WHERE p.passage_id = ?",
        [chosen.passage_id],
    )[0][0]
    assert chosen.text == exact and chosen.text.startswith(MARCUS)
    assert chosen.citation == f'Kelsham, enabler, "{VTT_TITLE}", Marcus Bell, 00:00:20'
    assert (chosen.code, chosen.score, chosen.source) == ("relating", 1.0, "human")
    assert (chosen.place, chosen.wave, chosen.role, chosen.speaker) == (
        "Kelsham",
        "follow-up",
        "enabler",
        "Marcus Bell",
    )

    (hidden,) = ex.select_excerpts(settings, "relating", place="Kelsham", wave="follow-up", limit=1)
    assert hidden.passage_id == chosen.passage_id
    assert hidden.citation == f'Kelsham, enabler, "{VTT_TITLE}", [Participant 2, Kelsham], 00:00:20'
    assert hidden.text == chosen.text.replace("Marcus Bell", "[Participant 2, Kelsham]")


def test_a_pdf_passage_is_cited_by_page(settings):
    (chosen,) = ex.select_excerpts(settings, "being", place="Northmoor", role="report", limit=1)
    assert chosen.text.startswith(PDF_PASSAGE)
    assert chosen.citation == f'Northmoor, report, "{PDF_TITLE}", p. 2'
    assert chosen.speaker is None and chosen.page == 2


def _busiest_code(coded_db) -> str:
    return read(
        coded_db,
        "SELECT code FROM final_codings GROUP BY code ORDER BY count(*) DESC, code LIMIT 1",
    )[0][0]


def test_no_document_or_speaker_takes_more_than_its_share(settings, coded_db):
    code = _busiest_code(coded_db)
    chosen = ex.select_excerpts(settings, code, limit=6)
    assert len(chosen) == 6
    assert [e.score for e in chosen] == sorted((e.score for e in chosen), reverse=True)
    per_document: dict[str, int] = {}
    per_speaker: dict[str | None, int] = {}
    for e in chosen:
        per_document[e.document_id] = per_document.get(e.document_id, 0) + 1
        per_speaker[e.speaker or e.document_id] = per_speaker.get(e.speaker or e.document_id, 0) + 1
    assert max(per_document.values()) <= 2 and max(per_speaker.values()) <= 2

    one_each = ex.select_excerpts(settings, code, limit=5, per_document=1)
    assert len({e.document_id for e in one_each}) == len(one_each) == 5

    # Without a cap the strongest document would take more than its share.
    uncapped = ex.select_excerpts(settings, code, limit=6, per_document=6, per_speaker=6)
    top = max(per_document, key=per_document.get)
    assert sum(e.document_id == top for e in uncapped) >= per_document[top]


def test_a_file_loaded_twice_gives_each_excerpt_once(settings, coded_db):
    copies = read(
        coded_db,
        "SELECT document_id FROM documents WHERE path LIKE '%kelsham_baseline_%' ORDER BY path",
    )
    assert len(copies) == 2
    for (code,) in read(coded_db, "SELECT DISTINCT code FROM final_codings ORDER BY 1"):
        candidates = read(
            coded_db,
            "SELECT p.text FROM final_codings f JOIN passages p USING (passage_id) "
            "JOIN documents d USING (document_id) WHERE f.code = ? AND d.place = 'Kelsham' "
            "AND d.wave = 'baseline'",
            [code],
        )
        chosen = ex.select_excerpts(
            settings,
            code,
            place="Kelsham",
            wave="baseline",
            limit=100,
            per_document=100,
            per_speaker=100,
        )
        texts = [e.text for e in chosen]
        assert len(texts) == len(set(texts))
        assert len(chosen) <= len({t for (t,) in candidates}) < len(candidates)


def test_a_reworded_copy_is_collapsed_by_embedding_similarity(settings, coded_db):
    from narratives.embed import text_key

    texts = [
        t
        for (t,) in read(
            coded_db,
            "SELECT text FROM passages WHERE starts_with(text, ?) "
            "OR starts_with(text, ?) ORDER BY text",
            [MIXED, MIXED_COPY],
        )
    ]
    assert len(texts) == 2 and texts[0] != texts[1]
    vectors = [
        np.asarray(
            read(coded_db, "SELECT embedding FROM embeddings WHERE text_key = ?", [text_key(t)])[0][
                0
            ]
        )
        for t in texts
    ]
    cosine = float(
        vectors[0] @ vectors[1] / np.linalg.norm(vectors[0]) / np.linalg.norm(vectors[1])
    )
    assert 0.92 <= cosine < 0.9999

    def mixed(**kw) -> list[str]:
        chosen = ex.select_excerpts(
            settings,
            "feeling",
            place="Kelsham",
            wave="baseline",
            limit=2,
            per_document=2,
            per_speaker=2,
            **kw,
        )
        return [e.text for e in chosen]

    # The two human codings (score 1.0) come first; only one of the pair is kept.
    assert len([t for t in mixed() if t in texts]) == 1
    assert sorted(mixed(duplicate_cosine=1.01)) == texts


def test_pseudonyms_are_role_based_and_consistent(coded_db):
    con = duckdb.connect(str(read_copy_path(coded_db)), read_only=True)
    try:
        names = pseudonymiser_for(con)
    finally:
        con.close()
    assert {" ".join(p.names[0].lower().split()): p.pseudonym for p in names.people} == PSEUDONYMS
    text = "Thanks, Grace. Dr Marsh asked Tom Reid; Janet's team met Sunita and Mr Hollins in May."
    assert names.apply(text) == (
        "Thanks, [Enabler, Kelsham]. [Director of public health, Ashby Vale] asked "
        "[Participant 2, Ashby Vale]; [Voluntary sector lead, Northmoor]'s team met "
        "[Participant 2, Northmoor] and [Participant 4, Northmoor] in May."
    )
    assert names.speaker("Interviewer") == "Interviewer"


def test_a_shared_first_name_goes_to_the_person_in_the_document():
    from narratives.pseudonymise import _Appearance

    names = Pseudonymiser(
        people_from(
            [
                _Appearance("Sam Hill", "d1", "Kelsham", "enabler"),
                _Appearance("Sam Cole", "d2", "Northmoor", None),
            ]
        )
    )
    assert names.apply("Sam said", "d2") == "[Participant 1, Northmoor] said"
    assert names.apply("Sam said", "d1") == "[Enabler, Kelsham] said"
    assert names.apply("Sam Cole and Sam Hill, sample text") == (
        "[Participant 1, Northmoor] and [Enabler, Kelsham], sample text"
    )


def test_no_name_appears_in_the_default_output(settings, coded_db):
    everything = []
    for (code,) in read(coded_db, "SELECT DISTINCT code FROM final_codings ORDER BY 1"):
        chosen = ex.select_excerpts(settings, code, limit=200, per_document=200, per_speaker=200)
        everything += [
            ex.to_markdown(chosen),
            ex.to_csv(chosen),
            ex.to_json(chosen),
            ex.to_html(chosen),
        ]
        real = ex.select_excerpts(
            settings, code, limit=200, per_document=200, per_speaker=200, real_names=True
        )
        assert [e.passage_id for e in real] == [e.passage_id for e in chosen]
        for r, e in zip(real, chosen, strict=True):
            if r.speaker and r.speaker != "Interviewer":
                assert e.speaker == PSEUDONYMS[r.speaker.lower()]
    output = "\n".join(everything)
    assert "[Enabler, Kelsham]" in output
    found = [part for part in NAME_PARTS if re.search(rf"\b{part}\b", output)]
    assert found == []


@pytest.fixture(scope="module")
def marcus(settings) -> ex.Excerpt:
    return ex.select_excerpts(settings, "relating", place="Kelsham", wave="follow-up", limit=1)[0]


def test_markdown_is_a_quote_and_a_citation(marcus):
    lines = marcus.text.splitlines()
    one = ex.to_markdown([marcus])
    assert one == (
        "\n".join("> " + line for line in lines)
        + f'\n\n— Kelsham, enabler, "{VTT_TITLE}", [Participant 2, Kelsham], 00:00:20\n'
    )
    assert ex.to_markdown([marcus, marcus]) == one + "\n" + one


def test_csv_and_json_carry_text_and_citation(marcus):
    (row,) = list(csv.DictReader(io.StringIO(ex.to_csv([marcus]))))
    assert list(row) == list(ex.CSV_COLUMNS)
    assert (row["text"], row["citation"], row["code"]) == (marcus.text, marcus.citation, "relating")
    (obj,) = json.loads(ex.to_json([marcus]))
    for key in (
        "text",
        "code",
        "score",
        "document_id",
        "citation",
        "place",
        "wave",
        "role",
        "speaker",
        "passage_id",
    ):
        assert obj[key] == getattr(marcus, key)


def test_html_is_one_escaped_page(marcus):
    tricky = dataclasses.replace(marcus, text='<script>alert("x")</script> & more')
    page = ex.to_html([tricky], "Excerpts: relating")
    assert page.startswith("<!DOCTYPE html>") and page.endswith("</html>\n")
    assert (
        "<script>" not in page
        and "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; more" in page
    )
    assert "http" not in page and "<link" not in page
    assert "[Participant 2, Kelsham], 00:00:20</footer>" in page


def test_docx_has_a_paragraph_per_excerpt_and_an_italic_citation(marcus, tmp_path):
    from docx import Document

    out = tmp_path / "x.docx"
    ex.write_docx([marcus], out, "Excerpts: relating")
    paragraphs = Document(str(out)).paragraphs
    assert [p.text for p in paragraphs] == ["Excerpts: relating", marcus.text, marcus.citation]
    assert all(run.italic for run in paragraphs[2].runs)


def test_cli_prints_markdown(coded_db, marcus):
    result = CliRunner().invoke(
        main,
        [
            "excerpts",
            "--code",
            "relating",
            "--place",
            "Kelsham",
            "--wave",
            "follow-up",
            "--limit",
            "1",
            "--db",
            str(coded_db),
        ],
    )
    assert result.exit_code == 0, result.output
    assert result.output == ex.to_markdown([marcus])


def test_cli_writes_json_and_docx_files(coded_db, tmp_path):
    out = tmp_path / "e.json"
    args = ["excerpts", "--code", "being", "--limit", "4", "--db", str(coded_db)]
    result = CliRunner().invoke(main, [*args, "--format", "json", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert result.output == f"Wrote 4 excerpts to {out}\n"
    assert len(json.loads(out.read_text("utf-8"))) == 4
    result = CliRunner().invoke(main, [*args, "--format", "docx"])
    assert result.exit_code == 1
    assert result.output == "Error: docx is a binary format: give --out FILE.docx\n"


@pytest.mark.parametrize(
    "args,message",
    [
        (
            ["--code", "courage"],
            "no passages are coded 'courage'; codes in use: being, doing, "
            "feeling, perceiving, relating, thinking",
        ),
        (
            ["--code", "being", "--wave", "final"],
            "no documents have wave 'final'; waves are: baseline, follow-up",
        ),
    ],
)
def test_cli_says_what_exists_when_a_filter_matches_nothing(coded_db, args, message):
    result = CliRunner().invoke(main, ["excerpts", *args, "--db", str(coded_db)])
    assert result.exit_code == 1
    assert result.output == f"Error: {message}\n"
