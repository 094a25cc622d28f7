"""A user's own codebook and coded examples: each mistake found in an audit is refused with
the file, the line, what was found there and what to do."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from narratives.cli import main
from narratives.codebook import Codebook, CodebookError, load_codebook
from narratives.examples import ExamplesError, load_examples

SERVICES = (
    "name: services\nversion: 2\nexclusive: {exclusive}\ncodes:\n"
    "  - id: access\n    definition: how people reach the service\n"
    "  - id: premises\n    definition: the building and its upkeep\n"
    "  - id: funding-gap\n    definition: money that is short or ends\n"
)


def _codebook(tmp_path: Path, exclusive: bool = False) -> Codebook:
    path = tmp_path / "services.yaml"
    path.write_text(SERVICES.format(exclusive=str(exclusive).lower()))
    return load_codebook(path)


def _examples_error(tmp_path: Path, lines: str, codebook: Codebook) -> str:
    path = tmp_path / "coded.jsonl"
    path.write_text(lines)
    with pytest.raises(ExamplesError) as caught:
        load_examples(path, codebook)
    return str(caught.value)


def _loaded(tmp_path: Path, lines: str, codebook: Codebook, name: str = "coded.jsonl"):
    path = tmp_path / name
    path.write_text(lines)
    return load_examples(path, codebook)


def _codebook_error(tmp_path: Path, text: str | bytes) -> str:
    path = tmp_path / "cb.yaml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    with pytest.raises(CodebookError) as caught:
        load_codebook(path)
    return str(caught.value)


# 1. Examples coded with another codebook


def test_examples_for_another_codebook_ask_whether_codebook_was_forgotten(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.delenv("NARRATIVES_CODEBOOK", raising=False)  # the shipped codebook, then
    coded = tmp_path / "theirs.jsonl"
    coded.write_text(
        '{"text": "The grant ends in March.", "codes": ["funding-gap"]}\n'
        '{"text": "The roof leaks.", "codes": ["premises"]}\n'
        '{"text": "We listened to the families.", "codes": ["relating", "access"]}\n'
        '{"text": "Nothing to see.", "codes": []}\n'
    )
    result = CliRunner().invoke(
        main, ["train", "--examples", str(coded), "--out", str(tmp_path / "m")]
    )
    assert result.exit_code == 1
    assert result.output == (
        f"Error: {coded} has 3 unusable line(s):\n"
        "  - line 1: codes not in codebook systems-leadership@1: ['funding-gap'] (add them to "
        "the codebook or correct the line; [] marks a passage where no code applies)\n"
        "  - line 2: codes not in codebook systems-leadership@1: ['premises'] (add them to "
        "the codebook or correct the line; [] marks a passage where no code applies)\n"
        "  - line 3: codes not in codebook systems-leadership@1: ['access'] (add them to "
        "the codebook or correct the line; [] marks a passage where no code applies)\n"
        "most lines with codes (3 of 3) have codes that are not in codebook "
        "systems-leadership@1: the examples may belong to another codebook; did you forget "
        "--codebook FILE?\n"
    )
    assert not (tmp_path / "m").exists()


def test_a_few_unknown_codes_or_typos_do_not_suggest_another_codebook(tmp_path: Path):
    cb = _codebook(tmp_path)
    few = _examples_error(
        tmp_path,
        '{"text": "a", "codes": ["access"]}\n{"text": "b", "codes": ["staffing"]}\n'
        '{"text": "c", "codes": ["premises"]}\n{"text": "d", "codes": []}\n',
        cb,
    )
    assert "another codebook" not in few and few.endswith("no code applies)")
    typos = _examples_error(
        tmp_path,
        '{"text": "a", "codes": ["acess"]}\n{"text": "b", "codes": ["Premises"]}\n',
        cb,
    )
    assert "another codebook" not in typos and typos.endswith("no code applies)")


# 2. "codes" given as a string


def test_codes_as_a_string_are_refused_with_the_list_they_mean(tmp_path: Path):
    error = _examples_error(
        tmp_path,
        '{"text": "a", "codes": "premises"}\n'
        '{"text": "b", "codes": "funding-gap, volunteer_capacity"}\n'
        '{"text": "c", "codes": ""}\n'
        '{"text": "d", "codes": ["access"]}\n',
        _codebook(tmp_path),
    )
    assert error == (
        f"{tmp_path / 'coded.jsonl'} has 3 unusable line(s):\n"
        '  - line 1: "codes" must be a list of code ids, e.g. ["premises"]; found "premises"\n'
        '  - line 2: "codes" must be a list of code ids, e.g. ["funding-gap", '
        '"volunteer_capacity"]; found "funding-gap, volunteer_capacity"\n'
        '  - line 3: "codes" must be a list of code ids, e.g. [] when none applies; found ""'
    )


# 3. Near typos: "did you mean"


def test_a_near_typo_of_a_code_id_is_named(tmp_path: Path):
    error = _examples_error(
        tmp_path,
        '{"text": "a", "codes": ["acess"]}\n'
        '{"text": "b", "codes": ["Premises", "funding_gap", "staffing"]}\n',
        _codebook(tmp_path),
    )
    assert error == (
        f"{tmp_path / 'coded.jsonl'} has 2 unusable line(s):\n"
        "  - line 1: codes not in codebook services@2: ['acess'] (did you mean 'access' for "
        "'acess'? add them to the codebook or correct the line; [] marks a passage where no "
        "code applies)\n"
        "  - line 2: codes not in codebook services@2: ['Premises', 'funding_gap', 'staffing'] "
        "(codes are ids: did you mean 'premises' for 'Premises', 'funding-gap' for "
        "'funding_gap'? add them to the codebook or correct the line; [] marks a passage where "
        "no code applies)"
    )


def test_a_near_typo_of_a_codebook_key_is_named(tmp_path: Path):
    error = _codebook_error(
        tmp_path,
        "name: x\nversion: 1\nexclusiv: true\nnotes: mine\ncodes:\n"
        "  - id: a\n    definiton: one\n    lable: A\n",
    )
    assert error == (
        f"{tmp_path / 'cb.yaml'} is not a valid codebook:\n"
        "  - unknown key 'exclusiv' (did you mean 'exclusive'? allowed: codes, description, "
        "exclusive, name, version)\n"
        "  - unknown key 'notes' (allowed: codes, description, exclusive, name, version)\n"
        "  - code 'a': unknown key 'definiton' (did you mean 'definition'? allowed: "
        "definition, examples, exclude, id, include, label)\n"
        "  - code 'a': unknown key 'lable' (did you mean 'label'? allowed: definition, "
        "examples, exclude, id, include, label)\n"
        "  - code 'a': missing 'definition'"
    )


# 4. YAML syntax: the file, the line, and for a tab what to do


def test_a_tab_in_the_codebook_names_the_line_and_says_to_indent_with_spaces(tmp_path: Path):
    error = _codebook_error(
        tmp_path,
        "name: x\nversion: 1\ncodes:\n  - id: a\n\tdefinition: one\n",
    )
    assert error == (
        f"{tmp_path / 'cb.yaml'} is not valid YAML: line 5, column 1: found a tab: YAML "
        "indents with spaces, not tabs (replace the tab with spaces)"
    )


def test_other_yaml_errors_keep_pyyaml_problem_with_the_file_and_line(tmp_path: Path):
    path = tmp_path / "cb.yaml"
    assert _codebook_error(tmp_path, "name: [unclosed\nversion: 1\n") == (
        f"{path} is not valid YAML: line 2, column 8: expected ',' or ']', but got ':' "
        "(while parsing a flow sequence that starts on line 1)"
    )
    assert _codebook_error(tmp_path, "name: x\ncodes:\n  - id: a\n    definition: Trust: x\n") == (
        f"{path} is not valid YAML: line 4, column 22: mapping values are not allowed here; "
        "a value that holds ': ' needs quotes (definition: \"Trust: kept promises\"), and a "
        "key must line up with the keys above it"
    )
    assert _codebook_error(tmp_path, b"name: x\nversion: 1\ndescription: caf\xe9\n") == (
        f"{path} is not valid YAML: line 3: it is not UTF-8 text (invalid continuation "
        "byte); save the file as UTF-8"
    )


# 5. Duplicate ids: which codes share one


def test_a_duplicate_id_names_the_positions_of_the_codes_that_share_it(tmp_path: Path):
    error = _codebook_error(
        tmp_path,
        "name: x\nversion: 1\ncodes:\n"
        "  - id: a\n    definition: one\n"
        "  - id: b\n    definition: two\n"
        "  - id: a\n    definition: three\n"
        "  - id: a\n    definition: four\n",
    )
    assert error == (
        f"{tmp_path / 'cb.yaml'} is not a valid codebook:\n"
        "  - code 'a': duplicate id (codes #1, #3 and #4 in the 'codes' list share it; give "
        "each code its own id)"
    )


# 6. Exclusive codebooks: no code and several codes are different mistakes


def test_exclusive_codebooks_give_a_hint_for_no_code_and_another_for_several(tmp_path: Path):
    error = _examples_error(
        tmp_path,
        '{"text": "a", "codes": []}\n{"text": "b", "codes": ["premises", "access"]}\n'
        '{"text": "c", "codes": ["access"]}\n',
        _codebook(tmp_path, exclusive=True),
    )
    assert error == (
        f"{tmp_path / 'coded.jsonl'} has 2 unusable line(s):\n"
        "  - line 1: the codebook is exclusive, so exactly one code (found 0; for passages "
        "that fit none, add a code such as 'other')\n"
        "  - line 2: the codebook is exclusive, so exactly one code (found 2; pick one of "
        "['premises', 'access'], or make the codebook `exclusive: false` to allow several "
        "codes per passage)"
    )


# 7. "text" must be a string


def test_text_that_is_not_a_string_is_refused(tmp_path: Path):
    error = _examples_error(
        tmp_path,
        '{"text": 12345, "codes": []}\n{"text": null, "codes": []}\n'
        '{"text": ["a", "b"], "codes": []}\n{"text": "  ", "codes": []}\n'
        '{"text": "fine", "codes": []}\n',
        _codebook(tmp_path),
    )
    assert error == (
        f"{tmp_path / 'coded.jsonl'} has 4 unusable line(s):\n"
        '  - line 1: "text" must be a string, the passage in quotes; found 12345\n'
        '  - line 2: needs a non-empty "text"\n'
        '  - line 3: "text" must be a string, the passage in quotes; found ["a", "b"]\n'
        '  - line 4: needs a non-empty "text"'
    )


def test_examples_that_are_not_utf8_name_the_line(tmp_path: Path):
    path = tmp_path / "coded.jsonl"
    path.write_bytes(b'{"text": "a", "codes": []}\n{"text": "caf\xe9", "codes": []}\n')
    with pytest.raises(ExamplesError) as caught:
        load_examples(path, _codebook(tmp_path))
    assert (
        str(caught.value) == f"{path}: line 2 is not UTF-8 text (byte 0xe9); save the file as UTF-8"
    )


def test_good_examples_still_load(tmp_path: Path):
    rows, sha = _loaded(
        tmp_path,
        '{"text": "The roof leaks.", "codes": ["premises"], "context": "And the hall?"}\n'
        '{"text": "The grant ends.", "codes": ["funding-gap", "access"]}\n',
        _codebook(tmp_path),
    )
    assert [(r.text, r.codes, r.context) for r in rows] == [
        ("The roof leaks.", ("premises",), "And the hall?"),
        ("The grant ends.", ("funding-gap", "access"), ""),
    ]
    assert len(sha) == 64


@pytest.mark.parametrize("exclusive", [False, True])
def test_a_code_given_twice_or_with_spaces_around_it_is_that_code(tmp_path: Path, exclusive: bool):
    rows, _ = _loaded(
        tmp_path,
        '{"text": "The roof leaks.", "codes": ["premises", "premises"]}\n'
        '{"text": "The grant ends.", "codes": [" funding-gap "]}\n',
        _codebook(tmp_path, exclusive),
    )
    assert [r.codes for r in rows] == [("premises",), ("funding-gap",)]


def test_a_json_array_file_loads_and_names_the_line_of_a_bad_item(tmp_path: Path):
    array = (
        '[\n  {"text": "The roof leaks.", "codes": ["premises"]},\n'
        '  {"text": "The grant ends.",\n   "codes": ["funding-gap"]}\n]\n'
    )
    rows, _ = _loaded(tmp_path, array, _codebook(tmp_path), name="coded.json")
    assert [(r.text, r.codes) for r in rows] == [
        ("The roof leaks.", ("premises",)),
        ("The grant ends.", ("funding-gap",)),
    ]
    assert "line 2: codes not in codebook services@2: ['roof']" in _examples_error(
        tmp_path, array.replace('"premises"', '"roof"'), _codebook(tmp_path)
    )
    broken = '[\n  {"text": "The roof leaks.", "codes": ["premises"]}\n  {"text": "x"}\n]\n'
    assert _examples_error(tmp_path, broken, _codebook(tmp_path)).endswith(
        "line 3: not JSON (Expecting ',' delimiter); the file starts with '[', so it is read as "
        "one JSON array (or write one JSON object per line)"
    )
