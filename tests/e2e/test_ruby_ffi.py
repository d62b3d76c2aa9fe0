"""`--runtime ruby` end to end: the real Ruby worker, over ruby-ffi, on the same libwasmtime.

They skip, saying why, where Ruby or ruby-ffi is absent (`make test` and .ci/run install
them on Debian); everywhere else they run the Ruby worker for real.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
from pathlib import Path

import pyperf
import pytest

from tests.conftest import QUICK, gvlbench, needs_two_cores, released_beats_held


def _ruby_ready() -> str | None:
    if not shutil.which("ruby"):
        return "ruby is not installed (apt-get install -y ruby ruby-ffi)"
    if subprocess.run(["ruby", "-rffi", "-e", ""], capture_output=True).returncode != 0:
        return "ruby-ffi is not installed (apt-get install -y ruby-ffi)"
    return None


needs_ruby = pytest.mark.skipif(_ruby_ready() is not None, reason=str(_ruby_ready()))


@pytest.fixture(scope="module")
def both_runtimes(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    """`mark` at 1 and 2 threads, both modes, under Python and Ruby in one run."""
    out = tmp_path_factory.mktemp("ruby") / "mark.json"
    cli = gvlbench("run", "mark", "--threads", "2", "--runtime", "python", "--runtime", "ruby",
                   "--json", str(out), *QUICK)  # fmt: skip
    assert cli.returncode == 0, cli.stderr
    return out, cli


@needs_ruby
def test_one_run_measures_both_runtimes_as_an_axis(both_runtimes) -> None:
    out, cli = both_runtimes
    suite = pyperf.BenchmarkSuite.load(str(out))  # pyperf reads the Ruby worker's runs too
    by_runtime: dict[str, list[pyperf.Benchmark]] = {}
    for bench in suite.get_benchmarks():
        by_runtime.setdefault(bench.get_metadata()["runtime"], []).append(bench)
    assert set(by_runtime) == {"python", "ruby"}
    for bench in by_runtime["ruby"]:
        md = bench.get_metadata()
        assert md["lock"] == "GVL" and md["interpreter"].startswith("ruby")
        assert md["ruby_ffi_version"] and md["scenario"] == "mark"
        assert "/ruby=" in bench.get_name()
        assert bench.get_nrun() == 1  # QUICK asks for one worker process per measurement
        assert all(v > 0 for v in bench.get_values())
    assert {b.get_metadata()["lock"] for b in by_runtime["python"]} == {"GIL"}
    assert "runtime" in cli.stdout and "ruby3" in cli.stdout and "python3" in cli.stdout


@needs_ruby
@needs_two_cores
def test_the_gvl_released_overlaps_and_held_serialises(both_runtimes) -> None:
    """The lock's behaviour in Ruby: with `blocking: true` (released) two threads' Wasm runs
    side by side and the sibling Ruby thread keeps counting; attached plainly (held) the calls
    are serialised and the sibling only runs when a host callback re-takes the GVL."""
    out, _ = both_runtimes
    doc = json.loads(out.read_text())
    ruby = {p["mode"]: p for p in doc["gvlbench"]["progress"] if p["runtime"] == "ruby"}
    assert set(ruby) == {"held", "released"} and ruby["held"]["via"] == "host mark"
    median = {m: sorted(s["ratio"] for s in p["samples"])[1] for m, p in ruby.items()}
    overlap = {m: sorted(p["overlap"])[1] for m, p in ruby.items()}
    # Ruby hands the sibling a whole thread quantum at a held call's callback: ~0.25 by
    # design, 0.42 and 0.51 seen on this shared box; released is ~1.0. The limit is the one
    # gate-ci.toml documents for it (ruby_held_progress_max). Held is the lock's property
    # whatever the load; how much released gets is the machine's to give (the gate's to judge).
    assert median["held"] < 0.6 and overlap["held"] < 0.3
    released_beats_held(doc, runtime="ruby")


@needs_ruby
def test_a_shared_store_crashes_ruby_and_the_guard_prevents_it(tmp_path: Path) -> None:
    out = tmp_path / "race.json"
    cli = gvlbench("race", "--shared-store", "--runtime", "ruby", "--trials", "1",
                   "--duration", "5", "--expect", "crash", "--json", str(out))  # fmt: skip
    assert cli.returncode == 0, cli.stdout + cli.stderr
    (trial,) = json.loads(out.read_text())["gvlbench"]["race"]
    assert trial["runtime"] == "ruby" and trial["trial_status"] == "crashed"
    assert trial["signal"] and trial["after_start_s"] is not None

    cli = gvlbench("race", "--shared-store", "--guard", "--runtime", "ruby", "--trials", "1",
                   "--duration", "1", "--expect", "safe", "--json", str(out))  # fmt: skip
    assert cli.returncode == 0, cli.stdout + cli.stderr
    (trial,) = json.loads(out.read_text())["gvlbench"]["race"]
    assert trial["trial_status"] == "raised" and trial["refused"] > 0 and trial["calls"] > 0
    assert set(trial["exceptions"]) == {"StoreInUseError"}
    assert "is in use by thread" in trial["examples"]["StoreInUseError"]


@needs_ruby
def test_the_native_guard_holds_in_ruby_and_prices_beside_the_ruby_guard(tmp_path: Path) -> None:
    """ruby-ffi attaches the shim's guarded call (`blocking: true` when released): a shared
    Store raises StoreInUseError instead of crashing, and its cost sits beside the Ruby guard's."""
    out = tmp_path / "race.json"
    cli = gvlbench("race", "--shared-store", "--guard", "native", "--runtime", "ruby",
                   "--trials", "1", "--duration", "1", "--expect", "safe",
                   "--json", str(out))  # fmt: skip
    assert cli.returncode == 0, cli.stdout + cli.stderr
    (trial,) = json.loads(out.read_text())["gvlbench"]["race"]
    assert trial["runtime"] == "ruby" and trial["guard_kind"] == "native"
    assert trial["trial_status"] == "raised" and trial["refused"] > 0 and trial["calls"] > 0
    assert set(trial["exceptions"]) == {"StoreInUseError"}
    assert 'store "store-0" is in use by thread "gvlbench-' in trial["examples"]["StoreInUseError"]

    cli = gvlbench("race", "--guard-cost", "--runtime", "ruby", "--rounds", "3", "--processes", "1",
                   "--entry", "call", "--entry", "memory.read", "--entry", "global.get",
                   "--json", str(out))  # fmt: skip
    assert cli.returncode == 0, cli.stdout + cli.stderr
    rows = json.loads(out.read_text())["gvlbench"]["guard_cost"]
    assert {(r["runtime"], r["call_path"]) for r in rows} == {("ruby", "ruby-ffi")}
    # the call held and released; Ruby's accessors as ruby-ffi attaches them: the GVL held
    assert sorted((r["scenario"], r["mode"]) for r in rows) == [
        ("add", "held"), ("add", "released"), ("global.get", "held"), ("memory.read", "held"),
        ("nop", "held"), ("nop", "released")]  # fmt: skip
    designs = {"python", "native", "affinity", "mutex"}
    assert all(set(r["guarded_ns"]) == designs for r in rows)


@needs_ruby
def test_the_ruby_worker_answers_bad_tasks_as_data() -> None:
    """The protocol, spoken by the Ruby worker itself: an unknown kind is an error answer."""
    from gvlbench.bindings.ruby_ffi import probe as probe_ruby

    ruby = probe_ruby()
    proc = subprocess.run(ruby.argv(), input=json.dumps({"protocol": 1, "kind": "sweep-point"}),
                          capture_output=True, text=True, env=ruby.env(), timeout=60)  # fmt: skip
    answer = json.loads(proc.stdout.strip().splitlines()[-1])
    assert proc.returncode == 1 and answer["ok"] is False
    assert "does not do" in answer["error"]["message"]


def test_missing_ruby_is_one_line_with_the_install_command(tmp_path: Path) -> None:
    """No Ruby on PATH: exit 2 and one line naming the Debian packages, before anything runs."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    env = {"PATH": str(bin_dir)}  # the harness runs by absolute path; `ruby` is not found
    cli = gvlbench("run", "spin", "--runtime", "ruby", "--threads", "1", env=env)
    assert cli.returncode == 2, cli.stderr
    lines = [ln for ln in cli.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "apt-get install -y ruby ruby-ffi" in lines[0]
    assert "Traceback" not in cli.stderr


@needs_ruby
def test_processes_mode_is_python_only() -> None:
    cli = gvlbench("run", "spin", "--runtime", "ruby", "--mode", "processes", "--threads", "1")
    assert cli.returncode == 2
    assert "Python workers only" in cli.stderr and "Traceback" not in cli.stderr


@needs_ruby
def test_verify_runs_every_check_in_ruby_and_each_can_fail(tmp_path: Path) -> None:
    """The checks, in the Ruby worker, on the modules the harness compiled: all pass against
    the GVL here; sabotaged (a deliberately broken binding or host), every one fails."""
    out = tmp_path / "verify.json"
    cli = gvlbench("verify", "--runtime", "ruby", "--repeat", "1", "--json", str(out))
    assert cli.returncode == 0, cli.stdout + cli.stderr
    rows = json.loads(out.read_text())["gvlbench"]["verify"]
    assert len(rows) == 22 and all(r["runtime"] == "ruby" for r in rows)
    assert all(r["interpreter"].startswith("ruby3") and r["call_path"] == "ruby-ffi" for r in rows)
    assert {r["status"] for r in rows} == {"PASS"}, [r for r in rows if r["status"] != "PASS"]

    cli = gvlbench("verify", "--runtime", "ruby", "--repeat", "1", "--sabotage", "--json", str(out))
    assert cli.returncode == 1
    rows = json.loads(out.read_text())["gvlbench"]["verify"]
    assert {r["status"] for r in rows} == {"FAIL"}
    assert all(r["outcome"]["status"] == "ok" for r in rows), "a check failed, not crashed"


def _ruby_eval(code: str) -> subprocess.CompletedProcess[str]:
    """Run Ruby code with the worker (and so the binding) loaded, as the harness runs it."""
    from gvlbench.bindings.ruby_ffi import probe as probe_ruby

    ruby = probe_ruby()
    return subprocess.run([ruby.executable, "-r", ruby.argv()[1], "-e", code],
                          capture_output=True, text=True, env=ruby.env(), timeout=60)  # fmt: skip


@needs_ruby
@pytest.mark.parametrize("signo", [signal.SIGSEGV, signal.SIGABRT, signal.SIGTERM])
def test_the_ruby_bench_parent_dies_of_its_runs_signal(signo: signal.Signals) -> None:
    """A run child that crashed is passed on as the same signal, not as whatever Ruby's own
    handlers make of it (a SIGSEGV report and abort, a SignalException)."""
    proc = _ruby_eval(f"GvlbenchWorker.die_like({int(signo)})")
    assert proc.returncode == -signo, (proc.returncode, proc.stderr[-500:])


@needs_ruby
def test_the_ruby_binding_refuses_integers_that_do_not_fit() -> None:
    """Signed and unsigned spellings are accepted (as wasmtime-py does); beyond both, an error
    rather than a silent wrap."""
    proc = _ruby_eval("""
      p [GvlbenchWasm::Vals.wrap(2**32 - 1, 32), GvlbenchWasm::Vals.wrap(-2**31, 32),
         GvlbenchWasm::Vals.wrap(2**64 - 1, 64)]
      [2**32, -2**31 - 1, 2**64].each do |v|
        GvlbenchWasm::Vals.wrap(v, v.abs > 2**40 ? 64 : 32)
        puts "accepted #{v}"
      rescue RangeError => e
        puts e.message
      end
    """)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "[-1, -2147483648, -1]",
        "4294967296 does not fit in i32",
        "-2147483649 does not fit in i32",
        "18446744073709551616 does not fit in i64",
    ]


LEAN_REFUSED = [
    ("run", "spin", "--threads", "1"),
    ("race", "--shared-store", "--trials", "1"),
    ("verify", "--check", "trap"),
]


@needs_ruby
@pytest.mark.parametrize("command", LEAN_REFUSED)
def test_a_python_call_path_is_refused_for_ruby(command: tuple[str, ...]) -> None:
    """Ruby has one call path: `--call-path lean` with it is an error, not a mislabelled row."""
    cli = gvlbench(*command, "--runtime", "ruby", "--call-path", "lean")
    assert cli.returncode == 2, cli.stdout + cli.stderr
    lines = [ln for ln in cli.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "not a path of the ruby-ffi binding" in lines[0]
    assert "Python call path" in lines[0]


@needs_ruby
def test_a_ruby_only_file_describes_ruby(tmp_path: Path) -> None:
    """The file's common metadata names the runtime that ran, and each row its call path."""
    out = tmp_path / "spin.json"
    cli = gvlbench("run", "spin", "--threads", "1", "--mode", "released", "--runtime", "ruby",
                   "--json", str(out), *QUICK)  # fmt: skip
    assert cli.returncode == 0, cli.stderr
    doc = json.loads(out.read_text())
    assert doc["metadata"]["runtime"] == "ruby" and doc["metadata"]["lock"] == "GVL"
    assert doc["metadata"]["call_path"] == "ruby-ffi"
    (bench,) = pyperf.BenchmarkSuite.load(str(out)).get_benchmarks()
    assert bench.get_metadata()["call_path"] == "ruby-ffi"


@needs_ruby
def test_the_ruby_binding_frees_the_stores_it_drops() -> None:
    """Each Store with a memory reserves ~4 GiB of address space: a binding that never frees
    them grows by 400 GiB over 100 dropped instances (measured: 1.2 TB after 300)."""
    from gvlbench.harness.verify import check_modules

    grow = check_modules()["GROW"]
    proc = _ruby_eval(f"""
      engine = GvlbenchWasm::Engine.new
      mod = GvlbenchWasm::Module.new(engine, File.binread({json.dumps(grow)}))
      vm_gib = -> {{ File.read("/proc/self/status")[/VmSize:\\s+(\\d+)/, 1].to_f / 2**20 }}
      GvlbenchWasm::Instance.new(engine, mod, {{}}).func("grow1").call("released")
      before = vm_gib.call
      100.times do |i|
        GvlbenchWasm::Instance.new(engine, mod, {{}}).func("grow1").call("released")
        GC.start if (i % 10).zero?
      end
      GC.start
      puts vm_gib.call - before
    """)
    assert proc.returncode == 0, proc.stderr
    assert float(proc.stdout.split()[-1]) < 50, f"{proc.stdout.strip()} GiB more address space"


@needs_ruby
def test_the_exception_check_fails_when_a_binding_re_raises_with_its_own_backtrace() -> None:
    """The sabotage proves the 'no exception' branch; this proves the backtrace branch: a
    binding that re-raises the host's exception from its own frames fails the check."""
    from gvlbench.harness.verify import check_modules

    task = {"mode": "released", "threads": 1, "sabotage": False, "modules": check_modules()}
    proc = _ruby_eval(f"""
      task = JSON.parse({json.dumps(json.dumps(task))})
      run = lambda do
        GvlbenchChecks.check_exception(GvlbenchChecks::Context.new(task))
        puts "PASS"
      rescue GvlbenchChecks::CheckFailed => e
        puts "FAIL #{{e.message}}"
      end
      run.call
      module GvlbenchWasm
        def self.raise_pending!
          pending = Thread.current[PENDING] or return
          Thread.current[PENDING] = nil
          raise pending, pending.message, caller
        end
      end
      run.call
    """)
    assert proc.returncode == 0, proc.stderr
    first, second = proc.stdout.splitlines()
    assert first == "PASS"
    assert second.startswith("FAIL the backtrace does not start at the callback's frame")
