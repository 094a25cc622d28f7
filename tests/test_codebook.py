"""Codebook files: the shipped one is valid; broken ones give every problem at once."""

from __future__ import annotations

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
        "  - code 'a': duplicate id\n"
        "  - code 'b': unknown key 'defintion' "
        "(allowed: definition, examples, exclude, id, include, label)\n"
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
