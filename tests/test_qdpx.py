"""REFI-QDA exchange: the exported project's structure (REFI-QDA Project schema, March 2019),
byte-identical re-exports, and imports that place every coding on the right passage."""

from __future__ import annotations

import re
import shutil
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from narratives.cli import main
from narratives.codebook import load_codebook
from narratives.qdpx import NS, export_qdpx, guid, import_qdpx
from narratives.settings import Settings
from narratives.store import open_store
from tests.conftest import ROOT

CODEBOOK = load_codebook(ROOT / "data/codebooks/systems-leadership.yaml")
GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
# Child order of the schema's sequences (Project-mrt2019.xsd).
PROJECT_ORDER = ["Users", "CodeBook", "Variables", "Cases", "Sources", "Notes", "Links", "Sets",
                 "Graphs", "Description", "NoteRef"]  # fmt: skip
TEXT_SOURCE_ORDER = ["Description", "PlainTextContent", "PlainTextSelection", "Coding", "NoteRef",
                     "VariableValue"]  # fmt: skip


def q(tag: str) -> str:
    return f"{{{NS}}}{tag}"


def local(el: ET.Element) -> str:
    return el.tag.rsplit("}", 1)[-1]


@pytest.fixture(scope="module")
def coded_db(coded_sample_db: Path) -> Path:
    """data/sample, coded by the real pipeline (this module's own copy)."""
    return coded_sample_db


@pytest.fixture(scope="module")
def con(coded_db):
    con = duckdb.connect(str(Settings.from_env(db=coded_db).read_db), read_only=True)
    yield con
    con.close()


@pytest.fixture(scope="module")
def exported(con, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("qdpx") / "evidence.qdpx"
    export_qdpx(con, out, CODEBOOK)
    return out


@pytest.fixture(scope="module")
def project(exported) -> tuple[ET.Element, dict[str, bytes]]:
    with zipfile.ZipFile(exported) as z:
        members = {n: z.read(n) for n in z.namelist()}
    return ET.fromstring(members["project.qde"]), members


@pytest.fixture
def db_copy(coded_db, tmp_path) -> Path:
    """A private copy of the coded database (no published copy next to it yet)."""
    copy = tmp_path / "copy.duckdb"
    shutil.copy(coded_db, copy)
    return copy


def model_codings(con) -> set[tuple[str, str]]:
    return set(
        con.execute("SELECT passage_id, code FROM codings WHERE source = 'model'").fetchall()
    )


# ----------------------------------------------------------------------------- export


def test_project_root_users_and_schema_order(project, con):
    root, _ = project
    assert root.tag == q("Project")
    assert all(el.tag.startswith(f"{{{NS}}}") for el in root.iter())
    assert root.get("name") == "narratives"
    assert root.get("origin").startswith("narratives ")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", root.get("creationDateTime"))
    children = [local(c) for c in root]
    assert children == ["Users", "CodeBook", "Variables", "Cases", "Sources"]
    assert children == sorted(children, key=PROJECT_ORDER.index)
    (model_id,) = con.execute(
        "SELECT DISTINCT model_id FROM codings WHERE source = 'model'"
    ).fetchone()
    users = root.findall(f"{q('Users')}/{q('User')}")
    assert [u.get("name") for u in users] == [f"narratives model {model_id}"]


def test_codebook_holds_the_codebook_codes_with_their_definitions(project):
    root, _ = project
    codes = root.findall(f"{q('CodeBook')}/{q('Codes')}/{q('Code')}")
    assert [c.get("name") for c in codes] == CODEBOOK.ids
    for el, code in zip(codes, CODEBOOK.codes, strict=True):
        assert el.get("isCodable") == "true"
        assert re.fullmatch(r"#[0-9A-Fa-f]{6}", el.get("color"))
        assert el.find(q("Description")).text.startswith(f"{code.label}. {code.definition}")


def test_one_text_source_per_document_with_its_exact_text(project, con):
    root, members = project
    docs = con.execute("SELECT document_id, title, text FROM documents").fetchall()
    sources = root.findall(f"{q('Sources')}/{q('TextSource')}")
    assert len(sources) == len(docs) == 7
    by_guid = {guid("document", d): (title, text) for d, title, text in docs}
    for src in sources:
        title, text = by_guid[src.get("guid")]
        assert src.get("name") == title
        assert src.get("plainTextPath") == f"internal://{src.get('guid')}.txt"
        assert members[f"sources/{src.get('guid')}.txt"].decode("utf-8") == text
        order = [local(c) for c in src]
        assert order == sorted(order, key=TEXT_SOURCE_ORDER.index)
    assert sorted(members) == sorted(["project.qde"] + [f"sources/{g}.txt" for g in by_guid])


def test_selections_select_exactly_the_passage_text(project, con):
    root, members = project
    passages = {
        guid("passage", pid): (doc, text, s, e)
        for pid, doc, text, s, e in con.execute(
            "SELECT passage_id, document_id, text, start_char, end_char FROM passages"
        ).fetchall()
    }
    n = 0
    for src in root.iter(q("TextSource")):
        text = members[f"sources/{src.get('guid')}.txt"].decode("utf-8")
        for sel in src.findall(q("PlainTextSelection")):
            doc, passage_text, s, e = passages[sel.get("guid")]
            assert guid("document", doc) == src.get("guid")
            start, end = int(sel.get("startPosition")), int(sel.get("endPosition"))
            assert (start, end) == (s, e)
            assert text[start:end] == passage_text
            n += 1
    coded = con.execute(
        "SELECT count(DISTINCT passage_id) FROM codings WHERE source = 'model'"
    ).fetchone()[0]
    assert n == coded


def test_every_coding_is_exported_and_every_reference_resolves(project, con):
    root, _ = project
    codes = {c.get("guid"): c.get("name") for c in root.iter(q("Code"))}
    users = {u.get("guid") for u in root.iter(q("User"))}
    guid_to_passage = {
        guid("passage", pid): pid
        for (pid,) in con.execute("SELECT passage_id FROM passages").fetchall()
    }
    exported = set()
    for sel in root.iter(q("PlainTextSelection")):
        assert sel.get("creatingUser") in users
        for coding in sel.findall(q("Coding")):
            assert coding.get("creatingUser") in users
            (ref,) = coding.findall(q("CodeRef"))
            assert ref.get("targetGUID") in codes
            exported.add((guid_to_passage[sel.get("guid")], codes[ref.get("targetGUID")]))
    assert exported == model_codings(con)
    assert len(list(root.iter(q("Coding")))) == len(exported)


def test_guids_are_well_formed_and_unique(project):
    root, _ = project
    guids = [el.get("guid") for el in root.iter() if el.get("guid") is not None]
    assert all(GUID.match(g) for g in guids)
    assert len(guids) == len(set(guids))
    targets = {el.get("targetGUID") for el in root.iter() if el.get("targetGUID")}
    assert targets <= set(guids)


def test_case_attributes_are_variables_and_places_are_cases(project, con):
    root, _ = project
    variables = {v.get("guid"): v.get("name") for v in root.iter(q("Variable"))}
    assert sorted(variables.values()) == ["date", "place", "project", "role", "wave"]
    ((document_id,),) = con.execute(
        "SELECT document_id FROM documents WHERE path LIKE '%northmoor_baseline_gp.srt'"
    ).fetchall()  # ids follow the file's absolute path: look it up, never hard-code it
    doc = guid("document", document_id)
    (src,) = [s for s in root.iter(q("TextSource")) if s.get("guid") == doc]
    values = {}
    for vv in src.findall(q("VariableValue")):
        name = variables[vv.find(q("VariableRef")).get("targetGUID")]
        values[name] = vv[1].text
    assert values == {"place": "Northmoor", "project": "Northmoor Good Food", "wave": "baseline",
                      "date": "2023-05-18", "role": "GP"}  # fmt: skip
    cases = {c.get("name"): len(c.findall(q("SourceRef"))) for c in root.iter(q("Case"))}
    assert cases == {"Ashby Vale": 2, "Kelsham": 2, "Northmoor": 3}


def test_a_re_export_is_byte_identical(con, exported, tmp_path):
    again = tmp_path / "again.qdpx"
    export_qdpx(con, again, CODEBOOK)
    assert again.read_bytes() == exported.read_bytes()


# ----------------------------------------------------------------------------- round trip


def test_round_trip_keeps_every_coding(db_copy, tmp_path):
    file = tmp_path / "evidence.qdpx"
    runner = CliRunner()
    result = runner.invoke(main, ["export", "qdpx", str(file), "--db", str(db_copy)])
    assert result.exit_code == 0, result.output
    con = duckdb.connect(str(db_copy), read_only=True)
    expected = model_codings(con)
    (model_id,) = con.execute(
        "SELECT DISTINCT model_id FROM codings WHERE source = 'model'"
    ).fetchone()
    con.close()
    passages = len({p for p, _ in expected})
    assert result.output == (
        f"Wrote {file}: 7 sources, {passages} coded passages, {len(expected)} codings, 6 codes, "
        f"by narratives model {model_id}.\n"
    )
    args = ["import-qdpx", str(file), "--coder", "roundtrip", "--db", str(db_copy)]
    for _ in range(2):  # a second import replaces, never duplicates
        result = runner.invoke(main, args)
        assert result.exit_code == 0, result.output
        assert result.output == (
            f"Imported {len(expected)} codings of {passages} passages from 7 of 7 sources "
            "(coder roundtrip).\n"
        )
        # read from the published copy: the import published it
        con = duckdb.connect(str(Settings.from_env(db=db_copy).read_db), read_only=True)
        rows = con.execute(
            "SELECT passage_id, code, score FROM codings WHERE source = 'human' AND coder = ?",
            ["roundtrip"],
        ).fetchall()
        # Each passage of the project is recorded as coded in full by the coder, once.
        full = con.execute(
            "SELECT passage_id, source_file FROM human_coded_passages WHERE coder = 'roundtrip'"
        ).fetchall()
        con.close()
        assert sorted(full) == sorted((p, str(file)) for p in {p for p, _ in expected})
        assert {(p, c) for p, c, _ in rows} == expected
        assert len(rows) == len(expected) and {s for _, _, s in rows} == {1.0}


def test_without_coder_the_models_own_codings_are_skipped(db_copy, exported):
    result = CliRunner().invoke(main, ["import-qdpx", str(exported), "--db", str(db_copy)])
    assert result.exit_code == 0, result.output
    con = duckdb.connect(str(db_copy), read_only=True)
    n = len(model_codings(con))
    assert con.execute("SELECT count(*) FROM codings WHERE source = 'human'").fetchone() == (0,)
    con.close()
    assert result.output == (
        "Imported 0 codings of 0 passages from 7 of 7 sources (coder none).\n"
        f"  {n} codings by the narratives model skipped (give --coder)\n"
    )


# ----------------------------------------------------------------------------- other tools


def _project_from_elsewhere(path: Path, title: str, text: str, selections: list) -> None:
    """A .qdpx as another tool might write it: text with a preface (so offsets differ from
    ours), codes named by label, a user per coder, and things we cannot place."""
    users = '<User guid="{11111111-1111-1111-1111-111111111111}" name="alice"/>'
    codes = (
        '<Code guid="22222222-2222-2222-2222-222222222222" name="Ways of relating" '
        'isCodable="true"/><Code guid="33333333-3333-3333-3333-333333333333" '
        'name="resilience" isCodable="true"/>'
    )
    sels = "".join(
        f'<PlainTextSelection guid="{uuid}" startPosition="{s}" endPosition="{e}" '
        'creatingUser="11111111-1111-1111-1111-111111111111">'
        f'<Coding guid="{uuid.replace("a", "b")}"><CodeRef targetGUID="{code}"/></Coding>'
        "</PlainTextSelection>"
        for uuid, s, e, code in selections
    )
    xml = f"""<?xml version="1.0" encoding="utf-8"?>
<Project xmlns="urn:QDA-XML:project:1.0" name="from NVivo">
<Users>{users}</Users><CodeBook><Codes>{codes}</Codes></CodeBook>
<Sources>
<TextSource guid="44444444-4444-4444-4444-444444444444" name="{title}"
  plainTextPath="internal://44444444-4444-4444-4444-444444444444.txt">{sels}
  <Coding guid="55555555-5555-5555-5555-555555555555"
    creatingUser="11111111-1111-1111-1111-111111111111">
    <CodeRef targetGUID="22222222-2222-2222-2222-222222222222"/></Coding>
</TextSource>
<TextSource guid="66666666-6666-6666-6666-666666666666" name="Unknown interview">
  <PlainTextContent>Nothing we hold.</PlainTextContent>
  <PlainTextSelection guid="77777777-7777-7777-7777-777777777777" startPosition="0"
    endPosition="7" creatingUser="11111111-1111-1111-1111-111111111111">
    <Coding guid="88888888-8888-8888-8888-888888888888">
      <CodeRef targetGUID="22222222-2222-2222-2222-222222222222"/></Coding>
  </PlainTextSelection>
</TextSource>
</Sources></Project>"""
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("project.qde", xml)
        z.writestr("sources/44444444-4444-4444-4444-444444444444.txt", "\ufeff" + text)


def test_import_places_codings_from_another_tool(db_copy, tmp_path):
    con = duckdb.connect(str(db_copy), read_only=True)
    title, text = con.execute(
        "SELECT title, text FROM documents WHERE path LIKE '%kelsham_baseline_enabler.md'"
    ).fetchone()
    (p1, s1, e1), (p2, s2, e2) = con.execute(
        "SELECT passage_id, start_char, end_char FROM passages p JOIN documents d "
        "USING (document_id) WHERE d.title = ? AND NOT is_interviewer ORDER BY seq LIMIT 2",
        [title],
    ).fetchall()
    con.close()
    shift = len("Transcribed by the evaluation team.\n")
    relating, resilience = (
        "22222222-2222-2222-2222-222222222222",
        "33333333-3333-3333-3333-333333333333",
    )
    middle = (s2 + e2) // 2
    file = tmp_path / "nvivo.qdpx"
    _project_from_elsewhere(
        file,
        title,
        "Transcribed by the evaluation team.\n" + text,
        [
            ("aaaaaaaa-0000-0000-0000-000000000001", s1 + shift, e1 + shift, relating),  # exact
            ("aaaaaaaa-0000-0000-0000-000000000002", middle + shift, e2 + shift + 40, relating),
            ("aaaaaaaa-0000-0000-0000-000000000003", s1 + shift, e1 + shift, resilience),
            ("aaaaaaaa-0000-0000-0000-000000000004", 10**6, 10**6 + 5, relating),  # past the end
        ],
    )
    result = CliRunner().invoke(main, ["import-qdpx", str(file), "--db", str(db_copy)])
    assert result.exit_code == 3, result.output
    assert result.output == (
        "Imported 2 codings of 2 passages from 1 of 2 sources (coder alice).\n"
        "  sources matching no stored document: Unknown interview\n"
        "  1 codings on selections that overlap no passage\n"
        "  codings of codes not in the codebook: resilience (1)\n"
        "  1 codings of whole sources (not passages) skipped\n"
    )
    con = duckdb.connect(str(db_copy), read_only=True)
    rows = con.execute(
        "SELECT passage_id, code FROM codings WHERE source = 'human' AND coder = 'alice'"
    ).fetchall()
    con.close()
    assert sorted(rows) == [(p1, "relating"), (p2, "relating")]


def test_import_matches_by_text_when_the_name_differs(db_copy, tmp_path):
    con = duckdb.connect(str(db_copy), read_only=True)
    text, pid, s, e, document_id = con.execute(
        "SELECT d.text, passage_id, start_char, end_char, document_id FROM passages p "
        "JOIN documents d USING (document_id) WHERE d.path LIKE '%northmoor_baseline_gp.srt' "
        "AND NOT is_interviewer ORDER BY seq LIMIT 1"
    ).fetchall()[0]
    con.close()
    file = tmp_path / "renamed.qdpx"
    sel = ("aaaaaaaa-0000-0000-0000-000000000005", s, e, "22222222-2222-2222-2222-222222222222")
    _project_from_elsewhere(file, "Interview 3 (renamed)", text, [sel])
    with open_store(db_copy) as con:
        summary = import_qdpx(con, file, "bob", CODEBOOK)
        rows = con.execute("SELECT passage_id, code FROM codings WHERE coder = 'bob'").fetchall()
    assert summary.matched[0][1:] == (document_id, "text")
    assert rows == [(pid, "relating")]


# ----------------------------------------------------------------------------- refusals


def test_export_refuses_a_coder_with_no_codings(coded_db, tmp_path):
    result = CliRunner().invoke(
        main, ["export", "qdpx", str(tmp_path / "x.qdpx"), "--db", str(coded_db), "--coder", "zoe"]
    )
    assert result.exit_code == 1
    assert result.output == (
        "Error: no codings by zoe in this database; coders are `model`, `model:<model_id>` or "
        "the names used when importing or reviewing\n"
    )


def test_export_of_model_codings_only(con, tmp_path):
    out = tmp_path / "m.qdpx"
    summary = export_qdpx(con, out, CODEBOOK, coders=["model"])
    assert summary.codings == len(model_codings(con))


def test_import_refuses_what_is_not_a_qdpx(db_copy, tmp_path):
    bogus = tmp_path / "notes.qdpx"
    bogus.write_text("not a zip")
    result = CliRunner().invoke(
        main, ["import-qdpx", str(bogus), "--coder", "a", "--db", str(db_copy)]
    )
    assert result.exit_code == 1
    assert result.output == f"Error: {bogus} is not a .qdpx (ZIP) file: File is not a zip file\n"
    empty = tmp_path / "empty.qdpx"
    with zipfile.ZipFile(empty, "w") as z:
        z.writestr("readme.txt", "hello")
    result = CliRunner().invoke(
        main, ["import-qdpx", str(empty), "--coder", "a", "--db", str(db_copy)]
    )
    assert result.output == (
        f"Error: {empty} holds no project.qde; is it a REFI-QDA project export?\n"
    )


def test_import_refuses_the_model_as_coder(db_copy, exported):
    result = CliRunner().invoke(
        main, ["import-qdpx", str(exported), "--coder", "model", "--db", str(db_copy)]
    )
    assert result.exit_code == 1
    assert result.output == "Error: 'model' names the model; choose a person's name for --coder\n"


def test_export_is_a_group_with_qdpx(coded_db):
    result = CliRunner().invoke(main, ["export", "--help"])
    assert result.exit_code == 0
    assert re.search(r"^\s+qdpx\s+Write a REFI-QDA project", result.output, re.M)
