"""The guard designs on every Store entry point, through the real CLI and real children:
the entry-point races and what each design makes of them, the legal uses each refuses, a
real package's statement priced under every design, and the native patch on that package."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gvlbench import native
from tests.conftest import gvlbench, one_line_error
from tests.e2e.test_code import needs_quickjs

pytestmark = pytest.mark.skipif(
    native.compiler() is None and not native.LIBRARY.exists(), reason=native.UNAVAILABLE_NO_CC
)
JS = "(function(){let s=0; for (let i=0;i<20;i++) s+=i; return s})()"
QUICKJS = ("--setup", "from quickjs_rs import Runtime", "--setup", "ctx = Runtime().new_context()",
           "--stmt", f"ctx.eval({JS!r})", "--name", "quickjs")  # fmt: skip


def _rows(path: Path, section: str) -> list[dict]:  # type: ignore[type-arg]
    return json.loads(path.read_text())["gvlbench"][section]


def test_every_design_holds_the_entry_races_that_crash_or_go_wrong_unguarded(
    tmp_path: Path,
) -> None:
    out = tmp_path / "races.json"
    cli = gvlbench("race", "--entry-race", "memory-read-dynamic", "--entry-race", "global-set",
                   "--matrix", "--trials", "1", "--duration", "1", "--json", str(out))  # fmt: skip
    assert cli.returncode == 0, cli.stderr
    trials = _rows(out, "race")
    assert {t["entry"] for t in trials} == {"memory-read-dynamic", "global-set"}
    by = {(t["entry"], t["guard_kind"] or "none"): t for t in trials}
    assert set(by) == {(e, d) for e in ("memory-read-dynamic", "global-set")
                       for d in ("none", "python", "native", "affinity", "mutex")}  # fmt: skip
    # the hazards: a moving memory read while it grows dies at once; a global set during a
    # call is seen by the call (Wasmtime's Store is &mut: neither is possible in safe Rust)
    assert by[("memory-read-dynamic", "none")]["trial_status"] in ("crashed", "wrong")
    assert by[("global-set", "none")]["trial_status"] == "wrong"
    for (entry, design), t in by.items():
        if design == "none":
            continue
        assert t["trial_status"] in ("raised", "survived"), (entry, design, t["trial_status"])
        assert not t.get("wrong"), (entry, design)
        # the refusing designs say no to the intruder; the mutex makes it wait instead
        assert (t["refused"] > 0) == (design != "mutex"), (entry, design, t["refused"])
    assert "memory-read-dynamic: shared, released, mutex guard" in cli.stdout


def test_legal_uses_the_owner_word_admits_a_move_that_affinity_refuses() -> None:
    from gvlbench.harness.legal_uses import LegalUsesExperiment
    from gvlbench.harness.loop import execute

    res = execute(LegalUsesExperiment())
    verdicts = {(u["design"], u["use"]): u["outcome"] for u in res.legal_uses}
    assert not res.failures
    assert verdicts[("native", "move")] == "admitted"
    assert verdicts[("affinity", "move")] == "refused"
    assert all(verdicts[(d, "move")] == "admitted" for d in ("none", "python", "mutex"))
    assert all(verdicts[(d, "reentry")] == "admitted"
               for d in ("none", "python", "native", "affinity", "mutex"))  # fmt: skip


@needs_quickjs
def test_a_real_packages_statement_is_priced_under_every_design(tmp_path: Path) -> None:
    out = tmp_path / "cost.json"
    cli = gvlbench("race", "--guard-cost", *QUICKJS, "--rounds", "3", "--json", str(out))
    assert cli.returncode == 0, cli.stderr
    (row,) = _rows(out, "guard_cost")
    assert row["entry"] == "code" and row["scenario"] == "quickjs"
    assert set(row["guarded_ns"]) == {"python", "native", "affinity", "mutex"}
    # an eval: Wasm calls, each with its type looked up, and linear memory read
    assert row["entries"]["wasmtime_func_call"] > 0
    assert row["entries"]["wasmtime_func_type"] == row["entries"]["wasmtime_func_call"]
    assert row["guarded_stores"] >= 1
    assert "quickjs" in cli.stdout and "calls +" in cli.stdout  # the workload lines


@needs_quickjs
def test_the_native_patch_turns_a_shared_quickjs_context_into_refusals(tmp_path: Path) -> None:
    out = tmp_path / "race.json"
    cli = gvlbench("race", *QUICKJS, "--threads", "4", "--trials", "1", "--duration", "1",
                   "--patch", "store-guard-native", "--expect", "safe",
                   "--json", str(out))  # fmt: skip
    assert cli.returncode == 0, cli.stdout + cli.stderr
    (trial,) = _rows(out, "race")
    assert trial["trial_status"] in ("raised", "survived") and trial["refused"] > 0


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["race", "--entry-race", "nosuch"], ["unknown entry race 'nosuch'", "global-set"]),
        (["race", "--entry-race", "fuel-set", "--mode", "held"], ["drop --mode held"]),
        (["race", "--entry-race", "fuel-set", "--runtime", "ruby"], ["drop --runtime ruby"]),
        (["race", "--guard-cost", "--entry", "nosuch"], ["unknown entry point 'nosuch'"]),
        (["race", "--guard-cost", "--design", "nosuch"], ["unknown guard design 'nosuch'"]),
        (["race", "--designs", "--python", "x"], ["--designs", "drop --python"]),
        (["race", "--stmt", "1", "--patch", "store-guard", "--patch", "store-guard-mutex"],
         ["one Store guard at a time"]),
        (["race", "--entry", "call"], ["--entry chooses what --guard-cost prices"]),
        (["race", "--design", "mutex"], ["--design chooses what --guard-cost prices"]),
        (["race", "--entry-race", "fuel-set", "--guard-cost"], ["--entry-race races", "give one"]),
        (["race", "--entry-race", "fuel-set", "--patch", "store-guard-native"],
         ["drop --patch"]),
        (["race", "--entry-race", "fuel-set", "--call-path", "lean"], ["drop --call-path"]),
        (["race", "--guard", "native", "--patch", "store-guard-affinity"],
         ["both guard the Store"]),
        (["race", "--guard-cost", "--rounds", "1", "--runtime", "ruby"],
         ["--rounds must be at least 2"]),
    ],
)  # fmt: skip
def test_bad_design_options_are_one_line(args: list[str], needles: list[str]) -> None:
    one_line_error(gvlbench(*args), *needles)


HELD_CALLBACK = (
    "--setup", "import time, wasmtime",
    "--setup", "engine = wasmtime.Engine(); store = wasmtime.Store(engine); "
               "linker = wasmtime.Linker(engine)",
    "--setup", "def cb():\n    t = time.perf_counter()\n    while time.perf_counter() - t < 0.02:\n"
               "        pass",
    "--setup", 'linker.define_func("h", "cb", wasmtime.FuncType([], []), cb)\n'
               "run = linker.instantiate(store, wasmtime.Module(engine, '(module (import \"h\" "
               '"cb" (func $c)) (func (export "run") call $c))\')).exports(store)["run"]',
    "--stmt", "run(store)", "--name", "held-callback",
)  # fmt: skip


# --duration: how long the mutex has to meet the hand-off that deadlocks it; a loaded box
# takes longer to, and a deadlock ends the trial 3 s after it (GVLBENCH_DEADLOCK_S). The owner
# word's trial runs its whole duration (a refusal ends nothing): it refuses at the first
# hand-off, a switch interval into the first 20 ms callback, so 5 s is a hundredfold margin.
@pytest.mark.parametrize(("patch", "status", "duration"),
                         [("store-guard-mutex", "deadlocked", "20"),
                          ("store-guard-native", "raised", "5")])  # fmt: skip
def test_the_mutex_deadlocks_a_held_call_where_the_owner_word_refuses(
    tmp_path: Path, patch: str, status: str, duration: str
) -> None:
    """Held (the call keeps the GIL), a second thread waits for the mutex with the GIL while
    the owner's host callback needs the GIL back: the whole process stops. The owner word
    refuses that thread instead. The harness finds the deadlock by the CPU standing still."""
    out = tmp_path / "race.json"
    cli = gvlbench("race", *HELD_CALLBACK, "--mode", "held", "--threads", "2", "--trials", "1",
                   "--duration", duration, "--patch", patch, "--json", str(out),
                   env={"GVLBENCH_DEADLOCK_S": "3"})  # fmt: skip
    assert cli.returncode == 0, cli.stderr
    (trial,) = _rows(out, "race")
    assert trial["trial_status"] == status, trial.get("description")
    if status == "deadlocked":
        assert any("cb" in t for t in trial["stalled_threads"])
