"""wasmtime-py releases other than the harness's own, under `--python`, through the real CLI.

Packages pin the wasmtime-py they were built for, so a `--python` venv may hold any release
of the tested range (internals.TESTED). `make pythons` makes a venv for each end of it,
.venvs/wasmtime46 and .venvs/wasmtime51 (the Makefile reads the ends from TESTED); where one
is absent these tests skip and say so. The declared differences between releases are checked
against the release itself, here and under the harness's own wasmtime.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from gvlbench.binding.internals import TESTED, major
from tests.conftest import QUICK, REPO, WAT, gvlbench, released_beats_held

ENDS = (TESTED[0], TESTED[-1])


def _venv(release: str) -> str:
    path = REPO / ".venvs" / f"wasmtime{major(release)}" / "bin" / "python"
    if not path.exists():
        pytest.skip(f"no .venvs/wasmtime{major(release)} (wasmtime-py {release}): "
                    "`make pythons` makes one for each end of the tested range")  # fmt: skip
    return str(path)


@pytest.fixture(params=ENDS, ids=lambda release: f"wasmtime{major(release)}")
def release(request: pytest.FixtureRequest) -> tuple[str, str]:
    """(the release, the python of its venv)."""
    return request.param, _venv(request.param)


# Run under the interpreter being checked: what gvlbench declares of its wasmtime-py (the
# CHANGES it has, what each feature lacks) beside what the release itself shows, each
# difference looked at in wasmtime-py directly and not through gvlbench
_DECLARED_VS_SEEN = """
import inspect, json, wasmtime, wasmtime._slab, wasmtime.component._types as component
from gvlbench.binding import internals, native_stock
seen = {
    "preopen": "fs_mutable" in inspect.signature(wasmtime.WasiConfig.preopen_dir).parameters,
    "slabs": not hasattr(wasmtime._slab.Slab(), "list"),
    "component items": hasattr(component, "ComponentExtern"),
}
lacking = {f: internals.lacking(f) for f in internals.NEEDS}
stock = "the native guard's stock path"
lacking[stock] = internals.lacking(stock, *native_stock.REPLACED)
print(json.dumps({"version": internals.VERSION, "lacking": lacking, "seen": seen,
                  "declared": {c: internals.has(c) for c in internals.CHANGES}}))
"""


def _declared_vs_seen(python: str) -> dict:
    proc = subprocess.run([python, "-c", _DECLARED_VS_SEEN], capture_output=True, text=True,
                          timeout=120, cwd=REPO)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.mark.parametrize("which", ["harness", *ENDS])
def test_the_declared_differences_are_the_releases_own(which: str) -> None:
    """internals.CHANGES says which form each release has; the release agrees, and lacks
    nothing a feature reaches for."""
    found = _declared_vs_seen(sys.executable if which == "harness" else _venv(which))
    assert found["declared"] == found["seen"], found  # a new CHANGES entry needs a look here
    assert all(not missing for missing in found["lacking"].values()), found["lacking"]
    assert which == "harness" or found["version"] == which


def _quick_run(python: str, *target: str) -> dict:
    cli = gvlbench("run", *target, "--python", python, *QUICK, "--json", "-")
    assert cli.returncode == 0, cli.stderr
    return cli.json()


def test_run_measures_held_and_released(release: tuple[str, str], tmp_path: Path) -> None:
    """The lock's behaviour on that release: held stops a sibling thread, released lets it
    run (not a speed). spin, at a fifth of its work per call: seconds, not tens of them. How
    far it runs released depends on the cores the machine gives it: no threshold here (the
    gate judges that, knowing a busy machine), only that it ran, and more than held."""
    _, python = release
    spec = tmp_path / "spin.toml"
    spec.write_text((REPO / "scenarios" / "spin.toml").read_text()
                    .replace("../wat/spin.wat", str(WAT / "spin.wat"))
                    .replace("100_000_000", "20_000_000"))  # fmt: skip
    doc = _quick_run(python, str(spec), "--threads", "2")
    cells = {(b["metadata"]["mode"], b["metadata"]["threads"]) for b in doc["benchmarks"]}
    assert cells == {(m, t) for m in ("held", "released") for t in (1, 2)}
    assert {b["metadata"]["python_executable"] for b in doc["benchmarks"]} == {python}
    progress = {p["mode"]: p for p in doc["gvlbench"]["progress"]}
    median = {m: sorted(s["ratio"] for s in p["samples"])[1] for m, p in progress.items()}
    assert median["held"] < 0.25, median
    released_beats_held(doc)


def test_a_read_only_preopen_works_in_either_form(release: tuple[str, str], tmp_path: Path) -> None:
    """WasiConfig.preopen_dir took permission enums before 48 and a bool since: a scenario
    with a preopened directory runs on both ends (it raised TypeError on 46 and 47)."""
    _, python = release
    (tmp_path / "dir").mkdir()
    spec = tmp_path / "preopen.toml"
    spec.write_text(f'wat = "{WAT / "wasi_spin.wat"}"\nexport = "_start"\n[wasi]\n'
                    f'args = ["wasi_spin"]\npreopen = [{{ host = "{tmp_path / "dir"}", '
                    'guest = "/d" }]\n[expect]\nexit_code = 0\n')  # fmt: skip
    doc = _quick_run(python, str(spec), "--threads", "1", "--mode", "released")
    assert [b["metadata"]["mode"] for b in doc["benchmarks"]] == ["released"]


def test_race_crashes_a_shared_store_and_the_native_guard_refuses(release: tuple[str, str]) -> None:
    """A shared Store crashes on that release too; the native guard's stock path (which
    re-points wasmtime-py's private bindings) refuses instead, and nothing crashes."""
    _, python = release
    plain = gvlbench("race", "--python", python, "--trials", "2", "--duration", "2",
                     "--json", "-")  # fmt: skip
    assert plain.returncode == 0, plain.stderr
    assert "crashed" in [t["trial_status"] for t in plain.json()["gvlbench"]["race"]]
    guarded = gvlbench("race", "--python", python, "--trials", "1", "--duration", "1",
                       "--patch", "store-guard-native", "--json", "-")  # fmt: skip
    assert guarded.returncode == 0, guarded.stderr
    (trial,) = guarded.json()["gvlbench"]["race"]
    assert trial["trial_status"] == "raised" and trial["refused"] > 0
    assert set(trial["exceptions"]) == {"StoreInUseError"}


SPIN = ('(module (func (export "spin") (param i32) (result i32) (local i32) (loop $l '
        "(local.set 1 (i32.add (local.get 1) (local.get 0))) (local.set 0 (i32.sub "
        "(local.get 0) (i32.const 1))) (br_if $l (local.get 0))) (local.get 1)))")  # fmt: skip


def test_profile_charges_a_statement_to_its_phases(release: tuple[str, str]) -> None:
    """A statement that compiles in its setup and calls Wasm through wasmtime-py's public
    API, on that release (the setup asserts which one runs)."""
    wanted, python = release
    cli = gvlbench(
        "profile", "--python", python, "--mode", "released", "--budget", "0.5", "--rounds", "2",
        "--setup", "import importlib.metadata, wasmtime",
        "--setup", f"assert importlib.metadata.version('wasmtime') == {wanted!r}",
        "--setup", f"engine = wasmtime.Engine(); module = wasmtime.Module(engine, {SPIN!r})",
        "--per-thread-setup", "store = wasmtime.Store(engine); "
                              "spin = wasmtime.Instance(store, module, []).exports(store)['spin']",
        "--stmt", "spin(store, 100000)", "--name", "spin", "--json", "-",
    )  # fmt: skip
    assert cli.returncode == 0, cli.stderr
    (summary,) = cli.json()["summary"]
    phases = {p["phase"]: p for p in summary["phases"]}
    assert phases["wasm"]["calls"] == 1 and phases["wasm"]["steady_s"] > 0
    assert phases["compile"]["setup_s"] > 0 and phases["instantiate"]["setup_s"] > 0


def test_a_component_runs_races_and_is_guarded(release: tuple[str, str]) -> None:
    """wasmtime.component on that release: before 49 a component type lists its exports as
    the types themselves, not as ComponentExtern (every child raised AttributeError on 46).
    A run measures both modes; a shared component instance goes wrong (46 poisons the
    Store, 51 crashes) and the native guard patch refuses the second thread instead."""
    _, python = release
    run = _quick_run(python, "component_echo", "--threads", "1")
    assert not run["gvlbench"]["failures"], run["gvlbench"]["failures"]
    assert {p["mode"] for p in run["gvlbench"]["progress"]} == {"held", "released"}
    race = ("race", "--scenario", "component_echo", "--python", python, "--threads", "4",
            "--duration", "1", "--json", "-")  # fmt: skip
    plain = gvlbench(*race, "--trials", "2")
    assert plain.returncode == 0, plain.stderr
    assert all(t["trial_status"] != "survived" for t in plain.json()["gvlbench"]["race"])
    guarded = gvlbench(*race, "--trials", "1", "--patch", "store-guard-native")
    assert guarded.returncode == 0, guarded.stderr
    (trial,) = guarded.json()["gvlbench"]["race"]
    assert trial["refused"] > 0 and set(trial["exceptions"]) == {"StoreInUseError"}


def test_verify_knows_the_slab_defect_of_46_to_49_alone(release: tuple[str, str]) -> None:
    """The free-list Slab hands a freed slot out twice on 46 to 49 (Store data, callbacks):
    known-defects.toml names those releases, so verify there is XFAIL (or an XPASS notice),
    exit 0; on 51, where the Slab is a dict, the same checks must pass."""
    wanted, python = release
    cli = gvlbench("verify", "--python", python, "--check", "stores-concurrent", "--check",
                   "linkers-concurrent", "--repeat", "3", "--json", "-")  # fmt: skip
    assert cli.returncode == 0, cli.stdout + cli.stderr
    statuses = {row["status"] for row in cli.json()["gvlbench"]["verify"]}
    assert statuses <= ({"XFAIL", "XPASS"} if major(wanted) <= 49 else {"PASS"}), statuses
