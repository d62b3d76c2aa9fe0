"""Scenario specs: the built-ins load, and every malformed spec names its file and key."""

from __future__ import annotations

import pytest

from gvlbench import scenario
from gvlbench.errors import SpecError, UnknownScenarioError
from tests.conftest import WAT


def test_every_builtin_scenario_loads_and_the_required_ones_exist() -> None:
    names = {s.name for s in scenario.builtin()}
    assert {"spin", "mark", "grow", "callback", "trap"} <= names
    mark = scenario.find("mark")
    assert mark.export == "run" and [i.host for i in mark.imports] == ["mark"]
    assert scenario.find("callback").expect_result == 42
    assert scenario.find("trap").expect_trap == "unreachable"


def test_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(UnknownScenarioError, match=r"known: .*callback.*spin"):
        scenario.find("nope")


def test_with_work_sets_the_work_argument_only() -> None:
    spin = scenario.find("spin")
    assert spin.with_work(7).args == (7,)
    with pytest.raises(SpecError, match="work_arg"):
        scenario.find("trap").with_work(7)


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ("export = 'f'\n", "exactly one of 'wat'"),
        (f"wat = '{WAT}/spin.wat'\n", "missing key 'export'"),
        (f"wat = '{WAT}/spin.wat'\nexport = 3\n", "key 'export': must be a string"),
        (f"wat = '{WAT}/spin.wat'\nexport = 'spin'\nargs = ['x']\n", "key 'args'"),
        (f"wat = '{WAT}/spin.wat'\nexport = 'spin'\nargs = [true]\n", "key 'args'"),
        (f"wat = '{WAT}/spin.wat'\nexport = 'spin'\nargs = [1]\nwork_arg = 1\n", "work_arg"),
        (f"wat = '{WAT}/spin.wat'\nexport = 'spin'\n[expect]\nresult = 'x'\n", "expect.result"),
        (f"wat = '{WAT}/spin.wat'\nexport = 'spin'\n[expect]\nvalue = 1\n", "key 'expect'"),
        (f"wat = '{WAT}/spin.wat'\nexport = 'spin'\nimports = 3\n", "key 'imports'"),
        (f"wat = '{WAT}/spin.wat'\nexport = 'spin'\n[[imports]]\nmodule = 'h'\n", r"imports\[0\]"),
        (f"wat = '{WAT}/spin.wat'\nexport = 'spin'\ndescription = 1\n", "key 'description'"),
    ],
)
def test_invalid_specs_name_file_and_key(spec, body: str, match: str) -> None:
    path = spec(body)
    with pytest.raises(SpecError, match=match) as info:
        scenario.load_spec(path)
    assert str(path) in str(info.value)


def test_spec_hash_changes_with_content(spec) -> None:
    a = scenario.load_spec(spec(f"wat = '{WAT}/spin.wat'\nexport = 'spin'\nargs = [1]\n", name="a"))
    b = scenario.load_spec(spec(f"wat = '{WAT}/spin.wat'\nexport = 'spin'\nargs = [2]\n", name="b"))
    assert a.spec_sha256 != b.spec_sha256
