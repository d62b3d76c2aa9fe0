"""The guard designs side by side: the answer to "every user would pay for it", in one table.

Reads what `race --designs` measured into one document: the guard cost rows (every entry
point, every path), the entry-point races (unguarded and under each design) and the legal
uses (move, re-entry). For each design: what it costs the lean accessors, the lean call, the
stock path and ruby-ffi (the range of its shares over those rows), what it costs a real
workload (measured whole, and modelled as its Store entries times their cost), which races it
prevents, and which legal uses it refuses.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from gvlbench.designs import GUARDS
from gvlbench.report.guard_cost import GuardCost, GuardCostRow, guard_cost_rows
from gvlbench.report.race import RaceRow, summarize
from gvlbench.results import Results, runtime_kind

CALL = "wasmtime_func_call"


@dataclass(frozen=True)
class Share:
    """A design's cost over a group of rows: the range of its shares and of its ns."""

    rows: int
    low: float
    high: float
    low_ns: float
    high_ns: float

    @classmethod
    def of(cls, costs: list[GuardCost]) -> Share | None:
        measured = [c for c in costs if not c.unavailable]
        if not measured:
            return None
        return cls(len(measured), min(c.share for c in measured), max(c.share for c in measured),
                   min(c.cost_ns for c in measured), max(c.cost_ns for c in measured))  # fmt: skip


@dataclass(frozen=True)
class Workload:
    """One statement under one design: measured whole, and modelled from its entries."""

    name: str
    unguarded_ns: float
    cost: GuardCost | None
    entries: dict[str, int]
    modelled_ns: dict[str, float]  # runtime -> its entries times their per-entry cost


@dataclass(frozen=True)
class DesignRow:
    design: str
    costs: dict[str, Share | None]  # group -> share range (see GROUPS)
    workloads: list[Workload] = field(default_factory=list)
    prevented: list[str] = field(default_factory=list)  # races it turned into no crash, no wrong
    not_prevented: list[str] = field(default_factory=list)
    refuses: list[str] = field(default_factory=list)  # legal uses it refused (or failed)


# (group, which guard-cost rows it takes)
GROUPS = {
    "lean accessors": lambda r: r.entry not in ("call", "code") and r.call_path == "lean",
    "lean call": lambda r: r.entry == "call" and r.call_path == "lean",
    # memory.read/write on the stock path price the patch's C copy against wasmtime-py's
    # Python copy, not a guard: their rows are in the cost table, not in this summary
    "stock": lambda r: (
        r.call_path == "stock" and r.entry not in ("code", "memory.read", "memory.write")
    ),
    "ruby-ffi": lambda r: r.call_path == "ruby-ffi",
}


def design_rows(results: Results) -> list[DesignRow]:
    """`none` (the hazards) and every design measured, in designs.GUARDS order."""
    costs = guard_cost_rows(results)
    races = [r for r in summarize([t for t in results.race if t.get("entry")])]
    seen = {g.guard for r in costs for g in r.guards} | {u["design"] for u in results.legal_uses}
    rows = [_row("none", costs, races, results)]
    rows += [_row(d, costs, races, results) for d in GUARDS if d in seen]
    return rows


def _row(design: str, costs: list[GuardCostRow], races: list[RaceRow],
         results: Results) -> DesignRow:  # fmt: skip
    shares: dict[str, Share | None] = {}
    for group, takes in GROUPS.items():
        picked = [r.guard(design) for r in costs if takes(r)]
        shares[group] = Share.of([c for c in picked if c is not None])
    workloads = [_workload(r, design, costs) for r in costs if r.entry == "code"]
    prevented, not_prevented = _races(design, races)
    refuses = sorted({u["use"] for u in results.legal_uses
                      if u["design"] == design and u["outcome"] != "admitted"})  # fmt: skip
    return DesignRow(design, shares, workloads, prevented, not_prevented, refuses)


def _race_of(row: RaceRow) -> tuple[str, str]:
    """('memory-read-dynamic', 'native') from the row's configuration label."""
    race, _, config = row.config.partition(": ")
    labels = (("python", ", guard"), ("native", ", native guard"),
              ("affinity", ", affinity guard"), ("mutex", ", mutex guard"))  # fmt: skip
    for design, label in labels:
        if config.endswith(label) or f"{label}," in config:
            return race, design
    return race, "none"


def _races(design: str, races: list[RaceRow]) -> tuple[list[str], list[str]]:
    """For `none`: the races that crashed or went wrong (the hazards). For a design: the
    hazards it held (no crash, no wrong, no hang) and those it did not."""
    by_race: dict[str, dict[str, RaceRow]] = {}
    for row in races:
        race, d = _race_of(row)
        by_race.setdefault(race, {})[d] = row
    hazards = [race for race, rows in by_race.items()
               if "none" in rows and (rows["none"].crashed or rows["none"].wrong)]  # fmt: skip
    if design == "none":  # (the hazards seen, the races that showed none)
        return hazards, [r for r in by_race if r not in hazards]
    held, failed = [], []
    for race in hazards:
        row = by_race[race].get(design)
        if row is None:
            continue
        if row.crashed or row.wrong or row.hung or row.failed:
            failed.append(race)
        else:  # held; with '*' when only by keeping every intruder out (its check never ran)
            held.append(race + ("*" if row.intruder_ops == 0 else ""))
    return held, failed


def _workload(row: GuardCostRow, design: str, costs: list[GuardCostRow]) -> Workload:
    entries = row.entries or {}
    modelled = {runtime: _modelled(entries, design, costs, path)
                for runtime, path in _model_paths(costs)}  # fmt: skip
    return Workload(row.scenario, row.unguarded_ns, row.guard(design) if design != "none" else None,
                    entries, {k: v for k, v in modelled.items() if v is not None})  # fmt: skip


def _model_paths(costs: list[GuardCostRow]) -> list[tuple[str, str]]:
    """(runtime, path) whose per-entry cost models a statement: the raw path for the
    harness's Python (the C guard alone, as a native binding would pay it), and each other
    runtime's own path (it has one: Ruby's ruby-ffi)."""
    paths = {"python": "raw"}
    for row in costs:
        language = runtime_kind(row.runtime)
        paths.setdefault(language, row.call_path)
    return [(lang, path) for lang, path in paths.items()
            if any(r.call_path == path for r in costs)]  # fmt: skip


def _modelled(entries: dict[str, int], design: str, costs: list[GuardCostRow],
              path: str) -> float | None:  # fmt: skip
    """The statement's entries times what `design` costs one entry on `path` (raw: the C
    alone, as a native binding pays it; ruby-ffi: Ruby's): a call's cost for each Wasm call,
    the median accessor's for every other entry."""
    if design == "none" or not entries:
        return None

    def median_cost(rows: list[GuardCostRow]) -> float | None:
        found = [g.cost_ns for r in rows if (g := r.guard(design)) and not g.unavailable]
        return statistics.median(found) if found else None

    on_path = [r for r in costs if r.call_path == path]
    call = median_cost([r for r in on_path if r.entry == "call" and r.mode == "released"])
    other = median_cost([r for r in on_path if r.entry not in ("call", "code")])
    if call is None or other is None:
        return None
    calls = entries.get(CALL, 0)
    return calls * call + (sum(entries.values()) - calls) * other


def describe_entries(entries: dict[str, int]) -> str:
    """'13 calls + 24 other entries (13 func_type, 7 memory_data_size, 4 memory_data)'."""
    calls = entries.get(CALL, 0)
    others = sorted(((n, k.removeprefix("wasmtime_")) for k, n in entries.items() if k != CALL),
                    reverse=True)  # fmt: skip
    listed = ", ".join(f"{n} {name}" for n, name in others)
    return f"{calls} calls + {sum(n for n, _ in others)} other entries ({listed})"
