"""The README documents every command, and its SQL examples run on the sample database."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from narratives.cli import main
from tests.conftest import ROOT

README = (ROOT / "README.md").read_text()


def command_names(group: click.Group, prefix: str = "narratives") -> list[str]:
    names = []
    for name, command in group.commands.items():
        names.append(f"{prefix} {name}")
        if isinstance(command, click.Group):
            names.extend(command_names(command, f"{prefix} {name}"))
    return names


@pytest.mark.parametrize("command", command_names(main))
def test_every_command_is_in_the_readme(command: str):
    assert re.search(rf"^\s+{re.escape(command)}\b", README, re.M), (
        f"{command} has no README example"
    )


SQL_EXAMPLES = [
    shlex.split(line.strip())[2]
    for line in README.splitlines()
    if line.startswith("    narratives sql ") and "--format" not in line
]


@pytest.fixture(scope="module")
def coded_db(coded_sample_db: Path) -> Path:
    return coded_sample_db


@pytest.mark.parametrize("query", SQL_EXAMPLES)
def test_readme_sql_examples_run(query: str, coded_db: Path):
    result = CliRunner().invoke(main, ["sql", "--db", str(coded_db), query])
    assert result.exit_code == 0, result.output
    assert result.output.rstrip().endswith("rows)") and "(0 rows)" not in result.output
