"""Known defects belong to one binding: wasmtime-py's do not excuse the Ruby worker's."""

from __future__ import annotations

from pathlib import Path

import pytest

from gvlbench.answers import CheckAnswer
from gvlbench.binding.invoke import Mode
from gvlbench.bindings.ruby_ffi import RubyRuntime
from gvlbench.errors import ConfigError
from gvlbench.harness.runner import ChildOutcome
from gvlbench.harness.verify import KnownDefect, VerifyOptions, _judge, load_known

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
