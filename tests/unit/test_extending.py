"""docs/extending.md stays true: a binding is one module, and nothing outside names it.

The issue behind it: adding a binding used to mean editing about 20 files, with 23
`kind_of(...) == "ruby"` tests spread over 10. Now the planner asks a binding what it can do.
These tests fail when a binding is registered without its documented files, when the doc's
table and the registry disagree, or when code outside gvlbench/bindings/ names a binding.
"""

from __future__ import annotations

import re
from pathlib import Path

from gvlbench import bindings
from gvlbench.bindings import _MODULES

REPO = Path(__file__).resolve().parents[2]
DOC = (REPO / "docs" / "extending.md").read_text()
PACKAGE = REPO / "gvlbench"
BINDINGS_DIR = PACKAGE / "bindings"
# The Ruby worker is a binding's own worker, in its own language
OWN_WORKERS = (PACKAGE / "ruby",)


def _module(name: str) -> str:
    return _MODULES[name].rsplit(".", 1)[1]


def _documented_files() -> list[str]:
    block = DOC.split("<!-- files:", 1)[1].split("```", 2)[1]
    return [line.split()[0] for line in block.strip().splitlines()]


def _outside_bindings() -> list[Path]:
    return [p for p in PACKAGE.rglob("*.py")
            if BINDINGS_DIR not in p.parents
            and not any(w in p.parents for w in OWN_WORKERS)]  # fmt: skip


def test_every_binding_module_is_registered_and_in_the_table() -> None:
    modules = {p.stem for p in BINDINGS_DIR.glob("*.py")} - {"__init__", "base"}
    assert modules == {_module(n) for n in _MODULES}
    rows = re.findall(r"^\| `([a-z-]+)` \| `([a-z_]+)\.py` \|", DOC, re.MULTILINE)
    assert sorted(rows) == sorted((n, _module(n)) for n in _MODULES)
    for binding in bindings.all_bindings():
        assert binding.name in _MODULES and binding.capabilities.forms


def test_each_binding_has_the_files_the_doc_lists() -> None:
    listed = _documented_files()
    assert "gvlbench/bindings/{module}.py" in listed and "tests/**/test_{module}.py" in listed
    for name in _MODULES:
        module = _module(name)
        assert (BINDINGS_DIR / f"{module}.py").is_file()
        tests = list((REPO / "tests").rglob(f"test_{module}.py"))
        assert tests, f"the {name} binding has no tests/**/test_{module}.py"


def test_no_code_outside_the_bindings_names_one() -> None:
    names = "|".join(re.escape(n) for n in _MODULES)
    asks = re.compile(rf'(bindings\.get\(\s*"({names})"|\.name\s*==\s*"({names})"|'
                      rf'"({names})"\s*==\s*\w+\.name)')  # fmt: skip
    imports = re.compile(r"gvlbench\.bindings\.(?!base\b)[a-z_]+|kind_of|\"ruby\"")
    found = []
    for path in _outside_bindings():
        text = path.read_text()
        for pattern in (asks, imports):
            found += [f"{path.relative_to(REPO)}: {m.group(0)}" for m in pattern.finditer(text)]
    assert not found, found


def test_a_binding_lacking_a_feature_gives_its_reason() -> None:
    for binding in bindings.all_bindings():
        for feature in bindings.Feature:
            reason = binding.why_not(feature)
            assert (reason is None) == binding.has(feature)
            assert reason is None or len(reason.split()) >= 5  # a reason, not a bare noun
