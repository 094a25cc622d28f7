"""What `evaluate` and `cross-validate` report, with a real linear model on the exclusive test
codebook (tests/data/exclusive): undefined figures as null and n/a, the confusion matrix,
codes with too few examples marked, and a warning when the examples were trained on."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from narratives.cli import main
from narratives.metrics import bootstrap_intervals, exclusive_report, multilabel_report
from narratives.model_card import model_card
from tests.conftest import ROOT

EXCLUSIVE = ROOT / "tests/data/exclusive"
TRAIN, TEST = EXCLUSIVE / "train.jsonl", EXCLUSIVE / "test.jsonl"
CODES = ["money", "staff", "residents"]
UNDEFINED = {"precision": None, "recall": None, "f1": None, "kappa": None, "support": 0}
FEW_NOTE = (
    "* support under 10: too few examples to trust these codes' figures or intervals (an "
    "interval can shrink to a point); code more examples of them"
)


def invoke(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def topics(tmp_path_factory) -> Path:
    """A linear model of the exclusive codebook, trained on its 27 training passages."""
    out = tmp_path_factory.mktemp("models") / "topics"
    result = invoke(
        "train", "--codebook", EXCLUSIVE / "codebook.yaml", "--examples", TRAIN, "--out", out,
        "--method", "linear",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return out


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def table(output: str) -> list[str]:
    return [line.rstrip() for line in output.splitlines()]


def test_a_code_neither_coded_nor_predicted_has_no_figures():
    gold = np.array([[1, 0, 0], [0, 1, 0], [1, 0, 0], [0, 1, 0]], dtype=bool)
    report = multilabel_report(gold, gold, ["a", "b", "c"])
    assert report["per_code"]["c"] == UNDEFINED
    assert report["per_code"]["a"] == {
        "precision": 1.0, "recall": 1.0, "f1": 1.0, "kappa": 1.0, "support": 2,
    }  # fmt: skip
    assert (report["macro_f1"], report["mean_kappa"], report["absent_codes"]) == (1.0, 1.0, ["c"])
    spans = bootstrap_intervals(gold, gold, ["a", "b", "c"], resamples=100)
    assert spans["per_code"]["c"] == {"f1": None, "kappa": None}
    assert spans["per_code"]["a"] == {"f1": [1.0, 1.0], "kappa": [1.0, 1.0]}
    # Coded but never predicted, or predicted but never coded: defined, and 0.
    pred = gold.copy()
    pred[:, 1], pred[0, 2] = False, True
    wrong = multilabel_report(gold, pred, ["a", "b", "c"])["per_code"]
    assert wrong["b"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "kappa": 0.0, "support": 2}
    assert wrong["c"]["f1"] == 0.0 and wrong["c"]["support"] == 0
    # Nothing coded and nothing predicted at all: the averages are over every code, as before.
    empty = multilabel_report(np.zeros((3, 2), bool), np.zeros((3, 2), bool), ["a", "b"])
    assert empty["per_code"] == {"a": UNDEFINED, "b": UNDEFINED}
    assert (empty["macro_f1"], empty["mean_kappa"]) == (0.0, 1.0)


def test_the_confusion_matrix_says_its_rows_are_the_coders_codes():
    report = exclusive_report(["a", "a", "b", "b"], ["a", "b", "b", "b"], ["a", "b", "c"])
    assert report["confusion"] == {
        "labels": ["a", "b", "c"],
        "matrix": [[1, 1, 0], [0, 2, 0], [0, 0, 0]],
        "matrix_rows": "gold",
        "matrix_columns": "predicted",
    }
    assert report["per_code"]["c"] == UNDEFINED and report["absent_codes"] == ["c"]
    assert report["per_code"]["a"]["recall"] == 0.5 and report["per_code"]["b"]["precision"] == (
        pytest.approx(2 / 3, abs=1e-4)
    )


def test_the_model_card_shows_undefined_figures_as_na(topics: Path):
    config = json.loads((topics / "config.json").read_text())
    gold, pred = ["money", "staff", "staff"], ["money", "staff", "money"]
    card = model_card(config, {"calibration_split": exclusive_report(gold, pred, CODES)})
    assert "| money | 0.50 | 1.00 | 0.67 | 0.40 | 1 |" in card
    assert "| residents | n/a | n/a | n/a | n/a | 0 |" in card


def test_evaluate_writes_null_and_prints_na_for_a_code_neither_coded_nor_predicted(
    topics: Path, tmp_path: Path
):
    coded = tmp_path / "coded.jsonl"
    result = invoke("evaluate", "--model", topics, "--examples", TEST, "--predictions", coded)
    assert result.exit_code == 0, result.output
    right = [
        r for r in lines(coded) if r["predicted"] == r["codes"] and r["codes"] != ["residents"]
    ]
    assert len(right) >= 3
    subset = tmp_path / "no-residents.jsonl"
    subset.write_text(
        "".join(json.dumps({"text": r["text"], "codes": r["codes"]}) + "\n" for r in right)
    )
    n = Counter(r["codes"][0] for r in right)
    report = json.loads(
        invoke("evaluate", "--model", topics, "--examples", subset, "--format", "json").stdout
    )
    assert report["per_code"] == {
        "money": {"precision": 1.0, "recall": 1.0, "f1": 1.0, "kappa": 1.0, "support": n["money"]},
        "staff": {"precision": 1.0, "recall": 1.0, "f1": 1.0, "kappa": 1.0, "support": n["staff"]},
        "residents": UNDEFINED,
    }
    assert report["intervals"]["per_code"]["residents"] == {"f1": None, "kappa": None}
    assert report["absent_codes"] == ["residents"] and report["macro_f1"] == 1.0
    result = invoke("evaluate", "--model", topics, "--examples", subset, "--bootstrap", "0")
    assert result.exit_code == 0, result.output
    assert table(result.stdout)[1:7] == [
        "code       precision  recall  f1     kappa  support",
        "---------  ---------  ------  -----  -----  -------",
        f"money      1.0        1.0     1.000  1.000  {n['money']} *",
        f"staff      1.0        1.0     1.000  1.000  {n['staff']} *",
        "residents  n/a        n/a     n/a    n/a    0",
        "(3 rows)",
    ]
    assert (
        "* support under 10: too few examples to trust these codes' figures; code more "
        "examples of them"
    ) in table(result.stdout)
    assert (
        "(left out of macro-F1 and mean kappa: residents, in none of these examples and never "
        "predicted)"
    ) in result.stdout


def test_evaluate_prints_the_confusion_matrix_of_an_exclusive_codebook(
    topics: Path, tmp_path: Path
):
    coded = tmp_path / "coded.jsonl"
    args = ["evaluate", "--model", topics, "--examples", TEST]
    report = json.loads(invoke(*args, "--format", "json", "--predictions", coded).stdout)
    pairs = Counter((r["codes"][0], r["predicted"][0]) for r in lines(coded))
    matrix = [[pairs[gold, predicted] for predicted in CODES] for gold in CODES]
    assert report["confusion"] == {
        "labels": CODES, "matrix": matrix, "matrix_rows": "gold", "matrix_columns": "predicted",
    }  # fmt: skip
    assert [sum(row) for row in matrix] == [report["per_code"][c]["support"] for c in CODES]
    assert [sum(row) for row in matrix] == [2, 5, 2]
    shown = table(invoke(*args).stdout)
    start = shown.index("confusion matrix: a row for the coders' code, a column for the model's")
    assert shown[start + 1 : start + 7] == [
        "coders \\ model  money  staff  residents",
        "--------------  -----  -----  ---------",
        *(
            f"{gold:<14}  {row[0]:<5}  {row[1]:<5}  {row[2]}"
            for gold, row in zip(CODES, matrix, strict=True)
        ),
        "(3 rows)",
    ]
    assert shown[start - 1] == ""  # after the figures and their notes, a paragraph of its own


def test_codes_with_under_ten_examples_are_marked(topics: Path):
    # test.jsonl: money 2, staff 5, residents 2; train.jsonl: money 10, staff 7, residents 10
    shown = table(invoke("evaluate", "--model", topics, "--examples", TEST).stdout)
    rows = {line.split()[0]: line for line in shown[3:6]}
    assert all(rows[c].endswith(f"  {n} *") for c, n in zip(CODES, [2, 5, 2], strict=True))
    assert shown[7] == FEW_NOTE
    shown = table(invoke("evaluate", "--model", topics, "--examples", TRAIN).stdout)
    rows = {line.split()[0]: line for line in shown[3:6]}
    assert rows["money"].endswith("  10") and rows["residents"].endswith("  10")
    assert rows["staff"].endswith("  7 *")
    assert FEW_NOTE in shown


def test_evaluate_warns_when_the_passages_were_trained_on(topics: Path, tmp_path: Path):
    warning = (
        "warning: {k} of {n} passages in {path} were in {whose} training examples: its figures "
        "there are not an estimate for unseen passages (evaluate it on passages it was not "
        "trained on, or see `narratives cross-validate`)\n"
    )
    result = invoke("evaluate", "--model", topics, "--examples", TRAIN, "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["trained_on"] == 27
    assert result.stderr == warning.format(k=27, n=27, path=TRAIN, whose="this model's")
    result = invoke("evaluate", "--model", topics, "--examples", TEST, "--format", "json")
    assert json.loads(result.stdout)["trained_on"] == 0 and "warning" not in result.stderr
    # Some of each, one of them spaced differently: the same passage all the same.
    mixed = tmp_path / "mixed.jsonl"
    trained = lines(TRAIN)[:3]
    trained[0]["text"] = "  " + trained[0]["text"].replace(" ", "   ") + " "
    mixed.write_text("".join(json.dumps(r) + "\n" for r in [*trained, *lines(TEST)]))
    result = invoke("evaluate", "--model", topics, "--examples", mixed, "--bootstrap", "0")
    assert result.exit_code == 0, result.output
    assert result.stderr == warning.format(k=3, n=12, path=mixed, whose="this model's")
    # ... and of a model compared with it; zero-shot is trained on no passages.
    result = invoke(
        "evaluate", "--model", "zero-shot", "--codebook", EXCLUSIVE / "codebook.yaml",
        "--examples", mixed, "--compare", topics, "--format", "json", "--bootstrap", "0",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["trained_on"], report["comparison"]["trained_on"]) == (0, 3)
    assert result.stderr == warning.format(k=3, n=12, path=mixed, whose="the --compare model's")
    # A model folder without its examples' texts: the training file is known by its hash.
    bare = tmp_path / "bare"
    shutil.copytree(topics, bare)
    (bare / "examples.json").unlink()
    result = invoke("evaluate", "--model", bare, "--examples", TRAIN, "--format", "json")
    assert json.loads(result.stdout)["trained_on"] == 27
    assert result.stderr == warning.format(k=27, n=27, path=TRAIN, whose="this model's")
    result = invoke("evaluate", "--model", bare, "--examples", mixed, "--format", "json")
    assert json.loads(result.stdout)["trained_on"] is None  # cannot tell
    assert "warning" not in result.stderr


def test_cross_validation_counts_passages_trained_on_in_another_fold(tmp_path: Path):
    given = lines(TRAIN)
    twice = tmp_path / "twice.jsonl"
    twice.write_text("".join(json.dumps(r) + "\n" for r in [*given, *given[:6]]))
    out = tmp_path / "oof.jsonl"
    result = invoke(
        "cross-validate", "--codebook", EXCLUSIVE / "codebook.yaml", "--examples", twice,
        "--method", "linear", "--k", "3", "--format", "json", "--predictions", out,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    folds: dict[str, set[int]] = {}
    for r in lines(out):
        folds.setdefault(r["text"], set()).add(r["fold"])
    # a line counts when a copy of its text was in another fold, so trained on for its own
    repeated = sum(len(folds[r["text"]] - {r["fold"]}) > 0 for r in lines(out))
    assert report["trained_on"] == repeated > 0  # 6 pairs in 3 folds: not all kept together
    assert report["n"] == 33 and report["confusion"]["matrix_rows"] == "gold"
    assert (
        f"warning: {repeated} of 33 passages in {twice} were coded by a fold's model trained "
        "on the same text (a passage on more than one line): their figures are not an "
        "estimate for unseen passages\n"
    ) in result.stderr
