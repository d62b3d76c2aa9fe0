"""Known defects belong to one binding: wasmtime-py's do not excuse the Ruby worker's."""

from __future__ import annotations

from pathlib import Path

import pytest

from gvlbench.answers import CheckAnswer
from gvlbench.binding.invoke import Mode
from gvlbench.bindings.ruby_ffi import RubyRuntime
from gvlbench.errors import ConfigError
from gvlbench.harness.interpreter import Interpreter
from gvlbench.harness.runner import ChildOutcome
from gvlbench.harness.verify import KnownDefect, VerifyOptions, _judge, load_known
from tests.conftest import REPO

FAILED = ChildOutcome(
    "ok", 0, 0.1, answer=CheckAnswer(check="trap", repeat=5, failed=2, failures=["wrong"], notes=[])
)
RUBY = RubyRuntime("/usr/bin/ruby", "3.1.2", "1.15.5")


def test_a_python_defect_is_xfail_for_python_and_a_finding_for_ruby() -> None:
    opts = VerifyOptions(known=(KnownDefect("trap", ("held", "released"), "py only"),))
    assert _judge(opts, "trap", Mode.HELD, FAILED).status == "XFAIL"
    ruby = _judge(opts, "trap", Mode.HELD, FAILED, RUBY)
    assert ruby.status == "FAIL" and ruby.runtime == "ruby" and ruby.interpreter == "ruby3.1.2"


def test_a_defect_can_name_the_ruby_runtime(tmp_path: Path) -> None:
    path = tmp_path / "known.toml"
    path.write_text('[[defect]]\ncheck = "trap"\nsummary = "s"\nruntimes = ["ruby"]\n')
    (known,) = load_known(path)
    assert known.runtimes == ("ruby",)
    opts = VerifyOptions(known=(known,))
    assert _judge(opts, "trap", Mode.RELEASED, FAILED, RUBY).status == "XFAIL"
    assert _judge(opts, "trap", Mode.RELEASED, FAILED).status == "FAIL"


def test_an_unknown_runtime_in_the_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "known.toml"
    path.write_text('[[defect]]\ncheck = "trap"\nsummary = "s"\nruntimes = ["perl"]\n')
    with pytest.raises(ConfigError, match="runtimes"):
        load_known(path)


def _python(wasmtime: str) -> Interpreter:
    return Interpreter(f"/venv{wasmtime}/bin/python", "3.11.7", "enabled", default=False,
                       wasmtime=wasmtime)  # fmt: skip


def test_a_defect_of_some_releases_excuses_only_those(tmp_path: Path) -> None:
    """The free-list Slab of wasmtime-py 46 to 49: stores-concurrent failing under a venv
    that pins 46.0.1 is the known defect; the same failure on 50.0.1 is a finding."""
    path = tmp_path / "known.toml"
    path.write_text('[[defect]]\ncheck = "trap"\nsummary = "s"\nwasmtime = [46, 49]\n')
    (known,) = load_known(path)
    assert known.releases == (46, 49)
    opts = VerifyOptions(known=(known,))
    status = {v: _judge(opts, "trap", Mode.HELD, FAILED, _python(v)).status
              for v in ("46.0.1", "49.0.0", "50.0.1", "51.0.0")}  # fmt: skip
    assert status == {"46.0.1": "XFAIL", "49.0.0": "XFAIL", "50.0.1": "FAIL", "51.0.0": "FAIL"}


@pytest.mark.parametrize("value", ['"46"', "[49, 46]", "[46]", '["46", "49"]', "[true, 49]"])
def test_a_release_range_that_is_not_two_majors_low_first_is_refused(
    tmp_path: Path, value: str
) -> None:
    path = tmp_path / "known.toml"
    path.write_text(f'[[defect]]\ncheck = "trap"\nsummary = "s"\nwasmtime = {value}\n')
    with pytest.raises(ConfigError, match=r"wasmtime must be \[low, high\]"):
        load_known(path)


def test_the_committed_file_names_the_slab_defect_for_46_to_49_alone() -> None:
    known = {k.check: k for k in load_known(REPO / "known-defects.toml") if k.releases}
    assert set(known) == {"stores-concurrent", "linkers-concurrent"}
    assert all(k.releases == (46, 49) and "#342" in k.upstream for k in known.values())


def test_a_release_range_is_wasmtime_pys_alone(tmp_path: Path) -> None:
    """The Ruby worker has no wasmtime-py: a range on a Ruby defect would excuse any release."""
    path = tmp_path / "known.toml"
    path.write_text('[[defect]]\ncheck = "trap"\nsummary = "s"\nruntimes = ["ruby"]\n'
                    "wasmtime = [46, 49]\n")  # fmt: skip
    with pytest.raises(ConfigError, match=r'runtimes = \["python"\] alone'):
        load_known(path)
