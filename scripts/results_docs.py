"""Render the list of results sections in docs/results.md from their one declaration.

`gvlbench/results.py` declares each section of a results file once (`SECTIONS`): its name,
who writes it, what a row holds and the keys every row has. The table between the markers in
docs/results.md is rendered from that declaration; tests/fast/test_results_sections.py fails
when the page differs, and `make docs` brings it up to date.

    python scripts/results_docs.py           # print the table
    python scripts/results_docs.py --write   # write it into docs/results.md
"""

from __future__ import annotations

import argparse
from pathlib import Path

from gvlbench.results import SECTIONS, Section, Types

REPO = Path(__file__).resolve().parent.parent
RESULTS_MD = REPO / "docs" / "results.md"
BEGIN = (
    "<!-- sections: rendered by scripts/results_docs.py from SECTIONS in gvlbench/results.py "
    "(`make docs`); do not edit by hand -->"
)
END = "<!-- /sections -->"
_NAMES = {int: "integer", float: "number", str: "string", list: "list", dict: "object",
          bool: "boolean", type(None): "null"}  # fmt: skip


def _types(types: Types) -> str:
    names = dict.fromkeys("number" if t in (int, float) and float in types else _NAMES[t]
                          for t in types)  # fmt: skip
    return " or ".join(names)


def _keys(section: Section) -> str:
    keys = []
    for key, types in section.keys.items():
        kind = _types(types)
        if key in section.numbers:
            kind = "list of numbers"
        elif key in section.cells:
            kind = 'object: "mode/threads" -> list of numbers'
        keys.append(f"`{key}` ({kind})")
    return ", ".join(keys)


def render() -> str:
    """The table, markers included: one row per section, in declaration order."""
    lines = [BEGIN, "| section | written by | one row | keys every row has |",
             "| --- | --- | --- | --- |"]  # fmt: skip
    lines += [f"| `{s.name}` | {s.by} | {s.holds} | {_keys(s)} |" for s in SECTIONS]
    return "\n".join([*lines, END])


def written() -> str:
    """The table as docs/results.md holds it now (markers included), or "" without one."""
    text = RESULTS_MD.read_text()
    if BEGIN not in text or END not in text:
        return ""
    return text[text.index(BEGIN) : text.index(END) + len(END)]


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="write it into docs/results.md")
    if not parser.parse_args().write:
        print(render())
        return
    old = written()
    if not old:
        raise SystemExit(f"{RESULTS_MD}: no {BEGIN!r} ... {END!r} block to replace")
    RESULTS_MD.write_text(RESULTS_MD.read_text().replace(old, render()))
    print(f"wrote the sections of {RESULTS_MD.relative_to(REPO)}")


if __name__ == "__main__":
    cli()
