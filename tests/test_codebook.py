"""Codebook files: the shipped one is valid; broken ones give every problem at once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from narratives.codebook import CodebookError, load_codebook
from tests.conftest import ROOT


def test_shipped_codebook_has_the_six_dimensions():
    cb = load_codebook(ROOT / "data/codebooks/systems-leadership.yaml")
    assert cb.ids == ["feeling", "perceiving", "thinking", "relating", "being", "doing"]
    assert cb.name == "systems-leadership" and not cb.exclusive
    assert all(c.definition and c.include and c.exclude and len(c.examples) >= 5 for c in cb.codes)


def test_invalid_codebook_lists_every_problem(tmp_path: Path):
    path = tmp_path / "cb.yaml"
    path.write_text(
        "name: x\nversion: 2\ncolour: red\ncodes:\n"
        "  - id: a\n    definition: one\n"
        "  - id: a\n    definition: two\n"
        "  - id: b\n    defintion: typo\n"
    )
    with pytest.raises(CodebookError) as caught:
        load_codebook(path)
    assert str(caught.value) == (
        f"{path} is not a valid codebook:\n"
        "  - unknown key 'colour' (allowed: codes, description, exclusive, name, version)\n"
        "  - code 'a': duplicate id (codes #1 and #2 in the 'codes' list share it; give each "
        "code its own id)\n"
        "  - code 'b': unknown key 'defintion' (did you mean 'definition'? "
        "allowed: definition, examples, exclude, id, include, label)\n"
        "  - code 'b': missing 'definition'"
    )


def test_exclusive_codebook_and_hash(tmp_path: Path):
    path = tmp_path / "cb.yaml"
    path.write_text("name: t\nversion: 1\nexclusive: true\ncodes:\n  - id: a\n    definition: d\n")
    cb = load_codebook(path)
    assert cb.exclusive and cb.ref == "t@1" and len(cb.sha256) == 64


def test_not_yaml(tmp_path: Path):
    path = tmp_path / "cb.yaml"
    path.write_text("name: [unclosed\n")
    with pytest.raises(CodebookError, match="is not valid YAML"):
        load_codebook(path)


def _codebook_cli(args: list[str]):
    from click.testing import CliRunner

    from narratives.cli import main

    return CliRunner().invoke(main, ["codebook", *args])


def test_the_codebook_command_counts_coded_examples_by_code_and_names_thin_spots(tmp_path: Path):
    book = tmp_path / "cb.yaml"
    book.write_text(
        "name: t\nversion: 2\ncodes:\n"
        "  - id: trust\n    definition: builds trust between people\n"
        "    include: keeping promises\n    examples: [We kept our word.]\n"
        "  - id: risk\n    definition: takes a personal risk\n"
        "  - id: data\n    definition: uses evidence to decide\n"
    )
    coded = tmp_path / "coded.jsonl"
    coded.write_text(
        '{"text": "We kept every promise we made.", "codes": ["trust"]}\n'
        '{"text": "I put my job on the line.", "codes": ["risk", "trust"], "context": "Why?"}\n'
        '{"text": "The board met in May.", "codes": [], "votes": {"trust": 0.33}}\n'
    )
    result = _codebook_cli([str(book), "--examples", str(coded), "--format", "json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert (summary["name"], summary["version"], summary["exclusive"]) == ("t", "2", False)
    by_code = {c["id"]: c for c in summary["codes"]}
    assert {c: by_code[c]["examples"] for c in by_code} == {"trust": 2, "risk": 1, "data": 0}
    assert by_code["trust"]["exemplars"] == 1 and by_code["trust"]["include"]
    assert not by_code["risk"]["include"] and by_code["data"]["definition_words"] == 4
    assert summary["examples"] == {"n": 3, "no_code": 1, "with_votes": 1, "with_context": 1}
    notes = "\n".join(summary["notes"])
    assert "'data' has no coded example" in notes and "'risk' has 1 coded example" in notes
    assert "3 examples: compare `--method linear`" in notes

    table = _codebook_cli([str(book), "--examples", str(coded)])
    assert table.exit_code == 0
    assert "t, version 2, multi-label" in table.output
    assert "3 examples, 1 with no code, 1 with votes, 1 with context" in table.output


def test_the_codebook_command_refuses_a_broken_codebook_or_examples_with_every_problem(
    tmp_path: Path,
):
    book = tmp_path / "cb.yaml"
    book.write_text("name: t\nversion: 1\ncodes:\n  - id: a\n  - id: a\n    definition: d\n")
    result = _codebook_cli([str(book)])
    assert result.exit_code == 1
    assert "code 'a': missing 'definition'" in result.output
    assert "code 'a': duplicate id" in result.output

    book.write_text("name: t\nversion: 1\ncodes:\n  - id: a\n    definition: d\n")
    coded = tmp_path / "coded.jsonl"
    coded.write_text('{"text": "x", "codes": ["a"]}\n{"text": "y", "codes": ["b"]}\n')
    result = _codebook_cli([str(book), "--examples", str(coded)])
    assert result.exit_code == 1
    assert "line 2: codes not in codebook t@1: ['b']" in result.output


def test_ids_may_be_any_one_line_name_but_not_the_same_name_twice(tmp_path: Path):
    path = tmp_path / "cb.yaml"
    path.write_text(
        "name: x\nversion: 1\ncodes:\n"
        "  - id: Trust\n    definition: one\n"
        "  - id: A1.2\n    definition: two\n"
        "  - id: 7\n    definition: three\n"
    )
    assert load_codebook(path).ids == ["Trust", "A1.2", "7"]
    path.write_text(
        "name: x\nversion: 1\ncodes:\n"
        "  - id: Trust\n    definition: one\n"
        "  - id: trust\n    definition: two\n"
        '  - id: "tab\\there"\n    definition: three\n'
        "  - id: [a, b]\n    definition: four\n"
        "  - id:\n    definition: five\n"
    )
    with pytest.raises(CodebookError) as caught:
        load_codebook(path)
    assert str(caught.value).splitlines()[1:] == [
        "  - code 'trust': duplicate id (codes #1 and #2 in the 'codes' list differ only in "
        "case; give each code its own id)",
        "  - code 'tab\there': id must be one line of text, without tabs or line breaks",
        "  - code #4: id must be a single name, e.g. 'trust'",
        "  - code #5: missing 'id'",
    ]
