"""`gvlbench sweep`: the work size per call at which releasing the lock starts to pay.

A call that does little Wasm work spends most of its time in the binding's Python code, which
holds the GIL in either mode, so threads serialise anyway. The sweep scales a scenario's
work-size argument (its spec's `work_arg`) over log-spaced sizes, and for each (size, call
path) one child times T threads with the lock held and with it released.

Held and released are timed in the same child, in alternating rounds (a round: every thread
makes `loops` calls, the order of the two modes flipped every round), and the gain is the
median of the per-round ratios held / released. The first version timed each mode as its own
pyperf benchmark, one after the other, and on this shared 2-core host, whose speed drifts by up
to 1.8x for seconds at a time, it reported gains of 3.3 for 2 threads (impossible: 2 is the
ceiling). Pairing within rounds cancels the drift.

At each point:
- gain = median over rounds of held wall / released wall (released's throughput over held's);
- verdict = a one-sample t-test (95%, pyperf's t table) on the log of the per-round ratios:
  `faster`, `slower` or `same`;
- it *pays* when the verdict is `faster` and the gain is at least 1 + min_gain.
The crossover is the smallest size that pays and after which every larger size pays too.
Each round also times one lean call alone on its own Store: the Wasm time of one call (plus
the ~0.5 us of the call itself), measured rather than extrapolated.
Each (size, path, mode) is stored as a pyperf benchmark (values: seconds per round, in round
order), so pyperf's tools read the file and the pairs can be re-formed from it.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pyperf._utils import tdist95conf_level

from gvlbench.errors import OptionError
from gvlbench.invoke import CallPath, Mode
from gvlbench.results import Results, write_atomic
from gvlbench.run import common_metadata, prepare_target
from gvlbench.runner import ChildOutcome, run_child, worker_argv
from gvlbench.scenario import Scenario
from gvlbench.worker import PROTOCOL

DEFAULT_SIZES = (3_000, 10_000, 30_000, 100_000, 300_000, 1_000_000, 3_000_000, 10_000_000,
                 30_000_000)  # fmt: skip
MODES = (Mode.HELD, Mode.RELEASED)
ROUNDS = 20
BATCH_S = 0.01


@dataclass(frozen=True)
class SweepOptions:
    scenario: Scenario
    threads: int = 2
    sizes: tuple[int, ...] = DEFAULT_SIZES
    paths: tuple[CallPath, ...] = CallPath.bindings()
    rounds: int = ROUNDS
    min_gain: float = 0.05
    timeout_s: float = 300.0
    output: Path | None = None

    def __post_init__(self) -> None:
        self.scenario.with_work(1)  # SpecError unless the spec has a work_arg
        if self.threads < 2:
            raise OptionError(f"--threads must be at least 2 for a sweep, got {self.threads}")
        if not self.sizes or min(self.sizes) < 1:
            raise OptionError("--sizes must be positive integers")
        if self.min_gain < 0:
            raise OptionError("--min-gain must be 0 or more")
        if self.rounds < 3:
            raise OptionError("--rounds must be at least 3")


def sized(scenario: Scenario, size: int) -> Scenario:
    """The scenario with its work argument set to `size`, named `spin[n=3000]`."""
    return replace(scenario.with_work(size), name=f"{scenario.name}[n={size}]")


def log_sizes(low: int, high: int, per_decade: int = 2) -> tuple[int, ...]:
    """Log-spaced integer sizes from low to high, `per_decade` steps per factor of ten."""
    if low < 1 or high < low:
        raise OptionError(f"bad size range {low}..{high}")
    n = max(1, round(math.log10(high / low) * per_decade))
    return tuple(sorted({round(low * (high / low) ** (i / n)) for i in range(n + 1)}))


# -- the child's side ------------------------------------------------------------------------


def measure_point(task: dict[str, Any]) -> dict[str, Any]:
    """Alternating rounds of T threads held and T threads released, plus one lean call alone."""
    from gvlbench.embed import Target, make_embeddings
    from gvlbench.invoke import use_stock_mode
    from gvlbench.measure import ThreadTeam, batch_ns

    target, path, threads = Target.from_json(task["target"]), CallPath(task["call_path"]), task[
        "threads"]  # fmt: skip
    teams = {}
    for mode in MODES:
        embs = make_embeddings(target, mode, path, threads)
        for emb in embs:
            emb.checked_call()
        teams[mode] = ThreadTeam([e.checked_call for e in embs])
    (alone,) = make_embeddings(target, Mode.RELEASED, CallPath.LEAN, 1)
    alone.checked_call()

    def timed(mode: Mode, loops: int) -> float:
        if path is CallPath.STOCK:
            use_stock_mode(mode)  # wasmtime-py's binding is process-wide: point it each time
        return teams[mode].run(loops) / loops

    loops = 1
    while timed(Mode.RELEASED, loops) * loops < task.get("batch_s", BATCH_S):
        loops *= 2
    alone_loops = max(1, loops // 2)
    held, released, solo = [], [], []
    for r in range(task.get("rounds", ROUNDS)):
        for mode in MODES if r % 2 == 0 else MODES[::-1]:
            (held if mode is Mode.HELD else released).append(timed(mode, loops))
        solo.append(batch_ns(alone.call, alone_loops) * 1e-9)
    for team in teams.values():
        team.close()
    return {"loops": loops, "held_s": held, "released_s": released, "alone_s": solo}


# -- the harness's side ----------------------------------------------------------------------


def plan(opts: SweepOptions) -> list[tuple[int, CallPath]]:
    """Sizes from small to large, each with every call path."""
    return [(size, path) for size in sorted(opts.sizes) for path in opts.paths]


def point_label(scenario: str, size: int, path: CallPath) -> str:
    return f"{scenario} n={size:,}, {path} path"


def execute_sweep(
    opts: SweepOptions,
    on_step: Callable[[str, ChildOutcome | None], None] = lambda label, o: None,
) -> Results:
    """One child per (size, path); the document is rewritten atomically after each."""
    res = Results(metadata=sweep_metadata(opts), command="sweep")
    for size, path in plan(opts):
        sc = sized(opts.scenario, size)
        target, compiled = prepare_target(sc)
        common = {**common_metadata(sc, compiled, path), "work_size": size}
        res.metadata = {**common, **res.metadata}
        label = point_label(opts.scenario.name, size, path)
        on_step(label, None)
        task = {"protocol": PROTOCOL, "kind": "sweep-point", "target": target.to_json(),
                "call_path": str(path), "threads": opts.threads, "rounds": opts.rounds}  # fmt: skip
        outcome = run_child(worker_argv(), task, opts.timeout_s)
        if outcome.ok and outcome.answer:
            for mode in MODES:
                res.add_benchmark(_benchmark(common, sc.name, mode, opts.threads, outcome.answer))
            res.add_benchmark(_alone_benchmark(common, sc.name, outcome.answer))
        else:
            key = {"scenario": sc.name, "kind": "sweep-point", "mode": "both",
                   "threads": opts.threads, "call_path": str(path), "work_size": size}  # fmt: skip
            res.add_failure(key, outcome.to_json())
        if opts.output:
            write_atomic(opts.output, res)
        on_step(label, outcome)
    return res


def sweep_metadata(opts: SweepOptions) -> dict[str, Any]:
    return {
        "scenario": opts.scenario.name,
        "sweep_threads": opts.threads,
        "sweep_sizes": list(opts.sizes),
        "sweep_min_gain": opts.min_gain,
    }


def _bench_dict(md: dict[str, Any], values: list[float], loops: int) -> dict[str, Any]:
    return {"metadata": {**md, "unit": "second", "loops": loops},
            "runs": [{"metadata": {"loops": loops}, "values": values}]}  # fmt: skip


def _benchmark(common: dict[str, Any], name: str, mode: Mode, threads: int,
               answer: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
    path = common["call_path"]
    md = {**common, "name": f"{name}/mode={mode}/threads={threads}/path={path}",
          "mode": str(mode), "threads": threads, "guard": "off"}  # fmt: skip
    return _bench_dict(md, answer[f"{mode}_s"], answer["loops"])


def _alone_benchmark(common: dict[str, Any], name: str, answer: dict[str, Any]) -> dict[str, Any]:
    md = {**common, "name": f"{name}/alone/path={common['call_path']}", "mode": "released",
          "threads": 1, "guard": "off", "alone": "lean"}  # fmt: skip
    return _bench_dict(md, answer["alone_s"], 1)


@dataclass(frozen=True)
class SweepRow:
    path: str
    size: int
    wasm_s: float | None  # one lean call alone at this size (median): its Wasm time
    held_s: float | None  # median wall of a round, per call of each thread
    released_s: float | None
    gain: float | None  # median of per-round held / released
    verdict: str  # faster | same | slower | unsure | failed
    pays: bool


def _values(bench: dict[str, Any]) -> list[float]:
    return [v for run in bench["runs"] for v in run.get("values", [])]


def paired_verdict(ratios: list[float]) -> str:
    """A one-sample t-test (95%) on log(ratio): `faster` when released is significantly
    faster (ratio > 1), `slower`, `same`, or `unsure` with fewer than 3 rounds."""
    if len(ratios) < 3:
        return "unsure"
    logs = [math.log(r) for r in ratios]
    mean, sd = statistics.fmean(logs), statistics.stdev(logs)
    if sd == 0:
        return "same" if mean == 0 else ("faster" if mean > 0 else "slower")
    t = mean / (sd / math.sqrt(len(logs)))
    if abs(t) < tdist95conf_level(len(logs) - 1):
        return "same"
    return "faster" if t > 0 else "slower"


def sweep_rows(res: Results) -> list[SweepRow]:
    min_gain = float(res.metadata.get("sweep_min_gain") or 0.0)
    series: dict[tuple[str, int, str], list[float]] = {}
    for bench in res.benchmarks:
        md = bench["metadata"]
        kind = "alone" if md.get("alone") else md["mode"]
        series[(md["call_path"], int(md["work_size"]), kind)] = _values(bench)
    rows = [SweepRow(f["call_path"], int(f["work_size"]), None, None, None, None, "failed",
                     False) for f in res.failures if f.get("kind") == "sweep-point"]  # fmt: skip
    for path, size in sorted({(p, s) for p, s, _ in series}):
        held, rel = series.get((path, size, "held")), series.get((path, size, "released"))
        alone = series.get((path, size, "alone"))
        wasm = statistics.median(alone) if alone else None
        if not held or not rel or len(held) != len(rel):
            rows.append(SweepRow(path, size, wasm, None, None, None, "failed", False))
            continue
        ratios = [h / r for h, r in zip(held, rel, strict=True)]
        gain, verdict = statistics.median(ratios), paired_verdict(ratios)
        pays = verdict == "faster" and gain >= 1 + min_gain
        rows.append(SweepRow(path, size, wasm, statistics.median(held), statistics.median(rel),
                             gain, verdict, pays))  # fmt: skip
    order = {str(p): i for i, p in enumerate(CallPath)}
    return sorted(rows, key=lambda r: (order.get(r.path, 99), r.size))


def crossover(rows: list[SweepRow], path: str) -> SweepRow | None:
    """The smallest size that pays with every larger size paying too; None if none does."""
    mine = sorted((r for r in rows if r.path == path), key=lambda r: r.size)
    found = None
    for r in reversed(mine):
        if not r.pays:
            break
        found = r
    return found


def paths_in(rows: list[SweepRow]) -> list[str]:
    order = {str(p): i for i, p in enumerate(CallPath)}
    return sorted({r.path for r in rows}, key=lambda p: order.get(p, 99))
