"""verify's plan: the checks of wasmtime-py's own Python code are not the Ruby worker's."""

from __future__ import annotations

import pytest

from gvlbench.bindings.ruby_ffi import RubyRuntime
from gvlbench.checklist import CHECKS, PYTHON_ONLY
from gvlbench.errors import OptionError
from gvlbench.harness.verify import VerifyExperiment, VerifyOptions

RUBY = RubyRuntime("/usr/bin/ruby", "3.1.2", "1.15.5")


def _planned(opts: VerifyOptions) -> list[tuple[str, str]]:
    return [
        (check, str(mode)) for check, mode in (j.context for j in VerifyExperiment(opts).plan())
    ]


def test_a_ruby_runtime_skips_the_python_only_checks_and_python_runs_them() -> None:
    ruby = {c for c, _ in _planned(VerifyOptions(runtimes=(RUBY,)))}
    assert ruby == set(CHECKS) - PYTHON_ONLY and PYTHON_ONLY
    assert {c for c, _ in _planned(VerifyOptions())} == set(CHECKS)


def test_only_python_only_checks_for_ruby_is_an_error_not_an_empty_run() -> None:
    with pytest.raises(OptionError, match="shared-linker: a check of wasmtime-py's own code"):
        VerifyOptions(checks=("shared-linker",), runtimes=(RUBY,))
    mixed = VerifyOptions(checks=("shared-linker", "trap"), runtimes=(RUBY,))
    assert _planned(mixed) == [("trap", "held"), ("trap", "released")]
