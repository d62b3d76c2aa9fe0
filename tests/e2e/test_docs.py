"""The docs stay true: every command has help text and a README example (as sqlite-utils
checks its docs), docs/cli.md matches the CLI's --help, and the README stays a short front
door whose links all lead somewhere."""

from __future__ import annotations

import re
import runpy
from pathlib import Path

import click
import pytest

from gvlbench.cli import main
from tests.conftest import REPO, gvlbench

COMMANDS = sorted(main.commands)
README_MAX_CHARS = 12_000
_LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)[^)]*\)")
_FENCED = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)


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


def test_cli_reference_matches_the_help_texts() -> None:
    render = runpy.run_path(str(REPO / "scripts" / "cli_docs.py"))["render"]
    written = (REPO / "docs" / "cli.md").read_text()
    assert written == render(), "docs/cli.md is out of date with the --help texts: run `make docs`"


def test_readme_is_a_short_front_door() -> None:
    size = len((REPO / "README.md").read_text())
    assert size <= README_MAX_CHARS, (
        f"README.md is {size:,} characters (at most {README_MAX_CHARS:,}): move detail to docs/"
    )


def relative_links(page: Path) -> list[str]:
    """The link and image targets of a markdown page that point into the repository."""
    text = _FENCED.sub("", page.read_text())
    targets = (m.group(1) for m in _LINK.finditer(text))
    return [t for t in targets if not re.match(r"[a-z][a-z0-9+.-]*:|#", t)]


def test_the_link_check_sees_links_and_skips_code_urls_and_anchors(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        'See [a](docs/a.md), ![b](img/b.png "title") and [c](c.md#part).\n'
        "[web](https://example.org) [here](#top)\n```\n[code](not/a/link.md)\n```\n"
    )
    assert relative_links(page) == ["docs/a.md", "img/b.png", "c.md#part"]


@pytest.mark.parametrize(
    "page", ["README.md", *sorted(p.relative_to(REPO).as_posix() for p in REPO.glob("docs/*.md"))]
)
def test_every_relative_link_leads_to_a_file(page: str) -> None:
    path = REPO / page
    missing = [
        target
        for target in relative_links(path)
        if not (path.parent / target.split("#", 1)[0]).exists()
    ]
    assert not missing, f"{page} links to files that do not exist: {missing}"
