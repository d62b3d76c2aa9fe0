"""`gvlbench calls`: what one call costs along each call path, held and released, in one run.

Four paths, cheapest first (see invoke.py): `floor` (a bare ctypes call into the library),
`raw` (wasmtime_func_call with prepared buffers, nothing checked), `lean` (raw plus the error
and trap checks and the result conversion: the least a correct binding can do) and `stock`
(wasmtime-py's Func.__call__). The verdicts are ratios: lean/raw (what correctness costs) and
stock/lean (what the generic binding costs on top).

These are sub-microsecond differences on a shared 2-core host whose speed drifts by up to 1.8x
for seconds at a time. Timed as separate pyperf benchmarks, one after the other, lean/raw came
out anywhere from 1.0 to 1.9 in a single run. So, as for the guard's cost, one child per call
times all four paths in both modes in interleaved batches (each batch ~10 ms, the order
rotated every round; the stock path's process-wide binding is pointed at the batch's mode
before each batch) and every ratio, released/held included, is the median of per-round
ratios: both sides of each ratio come from the same few milliseconds. Each series is still
stored as a pyperf benchmark (values: seconds per call), so pyperf's tools read the file.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gvlbench import scenario as scenario_mod
from gvlbench.invoke import CallPath, Mode
from gvlbench.measure import batch_ns, loops_for
from gvlbench.results import Results, write_atomic
from gvlbench.run import common_metadata, prepare_target
from gvlbench.runner import ChildOutcome, run_child, worker_argv
from gvlbench.worker import PROTOCOL

PATHS = (CallPath.FLOOR, CallPath.RAW, CallPath.LEAN, CallPath.STOCK)
DEFAULT_SCENARIOS = ("nop", "add")
ROUNDS = 40
BATCH_S = 0.01
# the bar for the lean path: within this factor of raw ...
LEAN_OVER_RAW_MAX = 1.3
# ... and at least this many times faster than Func.__call__
STOCK_OVER_LEAN_MIN = 5.0


@dataclass(frozen=True)
class CallsOptions:
    scenarios: tuple[str, ...] = DEFAULT_SCENARIOS
    modes: tuple[Mode, ...] = (Mode.HELD, Mode.RELEASED)
    rounds: int = ROUNDS
    timeout_s: float = 300.0
    output: Path | None = None


# -- the child's side ------------------------------------------------------------------------


def measure(task: dict[str, Any]) -> dict[str, Any]:
    """Every (path, mode)'s batches, interleaved in rotating order, in this one process."""
    from gvlbench.embed import Target, make_embeddings
    from gvlbench.invoke import use_stock_mode

    target = Target.from_json(task["target"])
    paths = [CallPath(p) for p in task.get("paths", [str(p) for p in PATHS])]
    modes = [Mode(m) for m in task.get("modes", [str(m) for m in Mode])]
    calls: dict[tuple[CallPath, Mode], Callable[[], Any]] = {}
    for path in paths:
        for mode in modes:
            (emb,) = make_embeddings(target, mode, path, 1)
            emb.checked_call()  # once, outside the timing: the expectation holds on this Store
            calls[(path, mode)] = emb.call

    def batch(key: tuple[CallPath, Mode], loops: int) -> float:
        if key[0] is CallPath.STOCK:
            use_stock_mode(key[1])  # wasmtime-py's binding is process-wide: point it each time
        return batch_ns(calls[key], loops)

    keys = list(calls)
    loops = {}
    for key in keys:
        if key[0] is CallPath.STOCK:
            use_stock_mode(key[1])
        loops[key] = loops_for(calls[key], task.get("batch_s", BATCH_S))
        batch(key, loops[key])  # warm-up
    samples: dict[tuple[CallPath, Mode], list[float]] = {k: [] for k in keys}
    for r in range(task.get("rounds", ROUNDS)):
        for key in keys[r % len(keys) :] + keys[: r % len(keys)]:
            samples[key].append(batch(key, loops[key]))
    return {"series": [{"path": str(p), "mode": str(m), "loops": loops[(p, m)],
                        "ns": samples[(p, m)]} for p, m in keys]}  # fmt: skip


# -- the harness's side ----------------------------------------------------------------------


def plan(opts: CallsOptions) -> list[str]:
    return list(opts.scenarios)


def execute_calls(
    opts: CallsOptions,
    on_step: Callable[[str, ChildOutcome | None], None] = lambda label, o: None,
) -> Results:
    """One child per call, every (path, mode) of it interleaved; each series becomes a pyperf
    benchmark in one document, rewritten atomically after every child."""
    res = Results(metadata={"scenario": ",".join(opts.scenarios)}, command="calls")
    for name in plan(opts):
        scen = scenario_mod.find(name)
        target, compiled = prepare_target(scen)
        common = common_metadata(scen, compiled, CallPath.STOCK)
        res.metadata = {**common, **res.metadata}
        label = f"{name}: {', '.join(str(p) for p in PATHS)} x {', '.join(map(str, opts.modes))}"
        on_step(label, None)
        task = {"protocol": PROTOCOL, "kind": "calls", "target": target.to_json(),
                "rounds": opts.rounds, "paths": [str(p) for p in PATHS],
                "modes": [str(m) for m in opts.modes]}  # fmt: skip
        outcome = run_child(worker_argv(), task, opts.timeout_s)
        if outcome.ok and outcome.answer:
            for series in outcome.answer["series"]:
                res.add_benchmark(_benchmark(common, name, series))
        else:
            for mode in opts.modes:
                res.add_failure({"scenario": name, "kind": "calls", "mode": str(mode),
                                 "threads": 1}, outcome.to_json())  # fmt: skip
        if opts.output:
            write_atomic(opts.output, res)
        on_step(label, outcome)
    return res


def _benchmark(common: dict[str, Any], name: str, series: dict[str, Any]) -> dict[str, Any]:
    """A pyperf benchmark of one (path, mode): values are seconds per call, one per batch, in
    round order (so two series of one child pair up by index)."""
    path, mode, loops = series["path"], series["mode"], series["loops"]
    md = {**common, "name": f"{name}/mode={mode}/threads=1/path={path}", "unit": "second",
          "mode": mode, "threads": 1, "call_path": path, "loops": loops,
          "guard": "off"}  # fmt: skip
    values = [ns * 1e-9 for ns in series["ns"]]
    return {"metadata": md, "runs": [{"metadata": {"loops": loops}, "values": values}]}


@dataclass(frozen=True)
class CallRow:
    scenario: str
    path: str
    mode: str
    status: str
    median_s: float | None = None
    mad_s: float | None = None
    values: int = 0
    over_raw: float | None = None  # median of per-round ratios: this path / raw
    over_lean: float | None = None  # median of per-round ratios: this path / lean
    over_held: float | None = None  # median of per-round ratios: this mode / held, same path


def _values(bench: dict[str, Any]) -> list[float]:
    return [v for run in bench["runs"] for v in run.get("values", [])]


def _paired(a: list[float], b: list[float] | None) -> float | None:
    if not b or len(a) != len(b):
        return None
    return statistics.median(x / y for x, y in zip(a, b, strict=True))


def call_rows(res: Results) -> list[CallRow]:
    """One row per (scenario, path, mode), failures included, in PATHS order."""
    values: dict[tuple[str, str, str], list[float]] = {}
    for bench in res.benchmarks:
        md = bench["metadata"]
        values[(md["scenario"], md["call_path"], md["mode"])] = _values(bench)
    rows = [
        CallRow(f["scenario"], str(p), f["mode"], f["description"])
        for f in res.failures
        if f.get("kind") == "calls"
        for p in PATHS
    ]
    for (scen, path, mode), vals in values.items():
        med = statistics.median(vals)
        mad = statistics.median(abs(v - med) for v in vals)
        raw = values.get((scen, str(CallPath.RAW), mode))
        lean = values.get((scen, str(CallPath.LEAN), mode))
        held = values.get((scen, path, str(Mode.HELD)))
        rows.append(CallRow(scen, path, mode, "ok", med, mad, len(vals), _paired(vals, raw),
                            _paired(vals, lean), _paired(vals, held)))  # fmt: skip
    order = {str(p): i for i, p in enumerate(PATHS)}
    return sorted(rows, key=lambda r: (r.scenario, order.get(r.path, 99), r.mode))


@dataclass(frozen=True)
class CallsVerdict:
    """The issue's two bars, over every scenario and mode measured (worst case)."""

    lean_over_raw: float | None
    stock_over_lean: float | None

    @property
    def lean_ok(self) -> bool:
        return self.lean_over_raw is not None and self.lean_over_raw <= LEAN_OVER_RAW_MAX

    @property
    def stock_ok(self) -> bool:
        return self.stock_over_lean is not None and self.stock_over_lean >= STOCK_OVER_LEAN_MIN


def verdict(rows: list[CallRow]) -> CallsVerdict:
    """Worst lean/raw and worst (smallest) stock/lean over every scenario and mode."""
    ok = [r for r in rows if r.status == "ok"]
    lean = [r.over_raw for r in ok if r.path == CallPath.LEAN and r.over_raw is not None]
    stock = [r.over_lean for r in ok if r.path == CallPath.STOCK and r.over_lean is not None]
    return CallsVerdict(max(lean) if lean else None, min(stock) if stock else None)
