"""Every command has help text and a README example (as sqlite-utils checks its docs)."""

from __future__ import annotations

import click
import pytest

from gvlbench.cli import main
from tests.conftest import REPO, gvlbench

COMMANDS = sorted(main.commands)


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_has_help_and_a_readme_example(name: str) -> None:
    command = main.commands[name]
    assert command.help and len(command.help) > 20, f"{name} needs help text"
    for param in command.params:
        if isinstance(param, click.Option):
            assert param.help, f"{name} {param.opts} needs help text"
    assert f"gvlbench {name}" in (REPO / "README.md").read_text()


def test_help_runs_from_the_real_cli() -> None:
    cli = gvlbench("run", "--help")
    assert cli.returncode == 0 and "--threads" in cli.stdout


def test_readme_gives_the_two_setup_commands_and_ci_runs_the_test_one() -> None:
    readme = (REPO / "README.md").read_text()
    assert "make run" in readme and "make test" in readme
    assert "make test" in (REPO / ".ci" / "run").read_text()
