"""The extism binding end to end: the real CLI, real children, the real SDK and runtime.

The plugin is wat/extism_spin.wat, compiled like every WAT in the repository; it imports the
Extism kernel that libextism_sys.so embeds. `run` measures it held (the SDK's C calls through
a PyDLL handle) and released (through CDLL, as the SDK's cffi does), and `race` shares one
Plugin between threads, each thread's output held to its own input's answer. The packages
come from the `embedded` extra (make test installs it); without it these tests skip.
"""

from __future__ import annotations

import importlib.metadata as md
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from gvlbench import wat
from tests.conftest import WAT, gvlbench, one_line_error, released_beats_held
from tests.unit.test_engines import sbom_version

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("extism") is None,
    reason="extism is not installed (the `embedded` extra: make test installs it)",
)
QUICK = ("--rounds", "3", "--progress-repeats", "3", "--no-phases")


def _engine_keys(doc: dict) -> None:
    """A plugin's results name extism and the wasmtime inside it, not wasmtime-py's."""
    meta = doc["metadata"]
    assert meta["binding"] == "extism"
    assert meta["engine"] == f"extism (wasmtime {sbom_version('extism_sys', 'wasmtime')})"
    assert meta["engine_version"] == md.version("extism-sys")
    assert meta["engine_library"].endswith("extism_sys/libextism_sys.so")
    assert "wasmtime_version" not in meta


def _progress(doc: dict) -> dict[str, float]:
    """Each mode's median sibling progress."""
    rows = {
        p["mode"]: sorted(s["ratio"] for s in p["samples"]) for p in doc["gvlbench"]["progress"]
    }
    return {mode: ratios[len(ratios) // 2] for mode, ratios in rows.items()}


def test_run_on_a_plugin_measures_held_and_released(tmp_path: Path) -> None:
    """Held keeps the GIL for the whole C call, so a sibling thread stands still during it;
    released lets it run. The window is the foreign call itself, so the hand-offs around it
    (a switch interval each) do not count."""
    out = tmp_path / "run.json"
    cli = gvlbench("run", "extism_spin", "--threads", "2", *QUICK, "--json", str(out))
    assert cli.returncode == 0, cli.stdout + cli.stderr
    doc = json.loads(out.read_text())
    _engine_keys(doc)
    cells = {(b["metadata"]["mode"], b["metadata"]["threads"]) for b in doc["benchmarks"]}
    assert cells == {(m, t) for m in ("held", "released") for t in (1, 2)}
    assert "not_applicable" not in doc["gvlbench"] or not doc["gvlbench"]["not_applicable"]
    progress = _progress(doc)
    assert set(progress) == {"held", "released"}
    assert progress["held"] < 0.1, progress
    assert "calls Wasm through the extism binding: extism (wasmtime" in cli.stdout
    released_beats_held(doc)  # last: it may skip, saying why, on a busy machine


def test_the_per_call_cost_is_the_cheap_function_paired_held_against_released(
    tmp_path: Path,
) -> None:
    out = tmp_path / "noop.json"
    cli = gvlbench("run", "extism_noop", "--threads", "1", "--rounds", "3",
                   "--progress-repeats", "0", "--no-phases", "--json", str(out))  # fmt: skip
    assert cli.returncode == 0, cli.stdout + cli.stderr
    (paired,) = json.loads(out.read_text())["gvlbench"]["speedup"]
    assert set(paired["cells"]) == {"held/1", "released/1"}
    assert len(paired["cells"]["held/1"]) == len(paired["cells"]["released/1"]) >= 3


def test_a_shared_plugin_hands_threads_each_others_output(tmp_path: Path) -> None:
    """Plugin.call is four C calls, each taking the plugin's lock alone: another thread's
    call lands between them, held or released, and the output read is the other's. A plugin
    per thread never does; the Python guard turns the race into refusals."""
    out = tmp_path / "race.json"
    cli = gvlbench("race", "--scenario", "extism_spin", "--matrix", "--threads", "4",
                   "--trials", "1", "--duration", "1", "--json", str(out))  # fmt: skip
    assert cli.returncode == 0, cli.stdout + cli.stderr
    doc = json.loads(out.read_text())
    _engine_keys(doc)
    trials = {t["config"]: t for t in doc["gvlbench"]["race"]}
    assert set(trials) == {"shared, released", "shared, held", "per-thread, released",
                           "shared, released, guard"}  # fmt: skip
    for config in ("shared, released", "shared, held"):
        t = trials[config]
        assert t["trial_status"] == "wrong" and t["compared"], t
        assert 0 < t["wrong"] <= t["calls"] and "(reference " in t["wrong_example"]
    own = trials["per-thread, released"]
    assert (own["trial_status"], own["wrong"], own["compared"]) == ("survived", 0, True)
    assert own["calls"] > 0
    guard = trials["shared, released, guard"]
    assert guard["wrong"] == 0 and guard["refused"] > 0
    (na,) = doc["gvlbench"]["not_applicable"]
    assert na["what"] == "shared, released, native guard" and "extism" in na["reason"]
    assert "wrong results, e.g." in cli.stdout


def test_a_shared_plugin_hands_a_failing_caller_another_requests_error(tmp_path: Path) -> None:
    """Plugin.call reads a failure's error text in a C call of its own, after the call, from
    a buffer the plugin's next call frees: on a shared Plugin, held or released, a caller
    raises another request's error (that request's data) or reads freed memory. Each thread's
    error is held to its own input's; a Plugin per thread, or the guard, gives none wrong."""
    out = tmp_path / "race.json"
    cli = gvlbench("race", "--scenario", "extism_refuse", "--matrix", "--threads", "4",
                   "--trials", "1", "--duration", "1", "--json", str(out))  # fmt: skip
    assert cli.returncode == 0, cli.stdout + cli.stderr
    trials = {t["config"]: t for t in json.loads(out.read_text())["gvlbench"]["race"]}
    for config in ("shared, released", "shared, held"):
        t = trials[config]
        assert t["trial_status"] == "wrong" and t["compared"] and 0 < t["wrong"] <= t["calls"]
        # another request's error, or freed memory that decoded: an error, never its own
        assert t["wrong_example"].startswith("error '"), t["wrong_example"]
        assert "(reference error 'gvlbench/thread" in t["wrong_example"]
    for config in ("per-thread, released", "shared, released, guard"):
        t = trials[config]
        assert t["wrong"] == 0 and t["compared"] and t["calls"] > 0, t
        assert set(t["exceptions"]) <= {"StoreInUseError"}, t  # no error read from freed memory


def test_the_standalone_reproducer_shows_the_shared_plugins_error_hand_off() -> None:
    """docs/findings/extism_shared_error.py, for extism's maintainers: nothing of gvlbench,
    exit 1 with what each caller got when the defect shows."""
    script = Path(__file__).parents[2] / "docs" / "findings" / "extism_shared_error.py"
    done = subprocess.run([sys.executable, str(script), "1"], capture_output=True, text=True,
                          timeout=60)  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    assert " own\n" in done.stdout and done.stderr == ""
    assert "another request's error, e.g." in done.stdout or "freed memory" in done.stdout


def test_a_statement_that_calls_extism_is_measured_through_the_extism_binding(
    tmp_path: Path,
) -> None:
    wasm = wat.compile_wat(WAT / "extism_spin.wat").wasm_path
    out = tmp_path / "stmt.json"
    cli = gvlbench("run", "--setup", f"import extism; p = extism.Plugin(open({str(wasm)!r}, "
                   "'rb').read(), wasi=False)", "--stmt", "p.call('spin', b'5000000:x')",
                   "--threads", "1", "--rounds", "3", "--progress-repeats", "3",
                   "--json", str(out))  # fmt: skip
    assert cli.returncode == 0, cli.stdout + cli.stderr
    doc = json.loads(out.read_text())
    _engine_keys(doc)
    assert {b["metadata"]["mode"] for b in doc["benchmarks"]} == {"held", "released"}
    assert set(_progress(doc)) == {"held", "released"}
    assert "calls Wasm through the extism binding" in cli.stdout


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (
            ("calls", "--scenario", "extism_noop"),
            ("calls --scenario extism_noop", "run extism_noop"),
        ),
        (("run", "extism_spin", "--call-path", "lean"), ("--call-path lean", "extism")),
        (("race", "--scenario", "extism_spin", "--call-path", "lean"), ("--call-path lean",)),
    ],
)
def test_what_the_binding_cannot_do_is_one_line(args: tuple[str, ...], needles: tuple) -> None:
    one_line_error(gvlbench(*args), *needles)


@pytest.mark.parametrize(
    ("body", "needles"),
    [
        ("export = 'spin'\nargs = [1]\n", ("key 'args': not for a plugin",)),
        ("export = 'nope'\n", ("no function 'nope'", "echo, noop, refuse, spin")),
    ],
)
def test_a_bad_plugin_spec_is_one_line(spec, body: str, needles: tuple) -> None:
    path = spec(f"form = 'plugin'\nwat = '{WAT / 'extism_spin.wat'}'\n{body}")
    one_line_error(gvlbench("run", str(path), "--threads", "1"), *needles)


def test_the_plugin_as_a_plain_module_names_the_kernel_it_imports(spec) -> None:
    path = spec(f"wat = '{WAT / 'extism_spin.wat'}'\nexport = 'noop'\n")
    one_line_error(gvlbench("run", str(path), "--threads", "1"), "extism:host/env")
