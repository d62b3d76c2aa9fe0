"""The results model: one JSON file that is a pyperf BenchmarkSuite plus gvlbench's own data.

Layout (see docs/results.md):
    {"version": "1.0",                 # pyperf's file format: pyperf's tools read this file
     "metadata": {...},                # common to every benchmark
     "benchmarks": [...],              # one pyperf benchmark per (scenario, mode, threads)
     "gvlbench": {"schema": 1, "command": ..., "progress": [...], "failures": [...],
                  "race": [...], "guard_cost": [...], "verify": [...], "pool": [...],
                  "phases": [...], "profile": [...], "trace": [...],
                  "legal_uses": [...]}}

pyperf ignores the "gvlbench" key; it holds what pyperf cannot (a progress ratio can be 0,
which a pyperf value cannot). Files are written atomically, after every measurement, so a
crash or a kill of the harness never loses what was already measured.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from gvlbench.errors import ResultsFileError
from gvlbench.files import MAX_RESULTS_BYTES, read_input, write_atomic

PYPERF_FORMAT = "1.0"
SCHEMA = 1


@dataclass
class Results:
    metadata: dict[str, Any]
    command: str
    benchmarks: list[dict[str, Any]] = field(default_factory=list)
    progress: list[dict[str, Any]] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)
    race: list[dict[str, Any]] = field(default_factory=list)
    guard_cost: list[dict[str, Any]] = field(default_factory=list)
    verify: list[dict[str, Any]] = field(default_factory=list)
    pool: list[dict[str, Any]] = field(default_factory=list)
    phases: list[dict[str, Any]] = field(default_factory=list)
    profile: list[dict[str, Any]] = field(default_factory=list)
    # run's paired rounds: per child, every (mode/threads) cell's seconds per round
    speedup: list[dict[str, Any]] = field(default_factory=list)
    # `gvlbench trace`: the program, processes, creation sites, Stores, compiles, Engines
    trace: list[dict[str, Any]] = field(default_factory=list)
    # race --designs: each guard design's verdict on each legal use (move, reentry)
    legal_uses: list[dict[str, Any]] = field(default_factory=list)

    def extend(self, other: Results) -> None:
        """Add every row of `other` (benchmarks, failures and each gvlbench section): what
        `report` and the gate's retries use, so merging files loses nothing. The first
        document's metadata wins; later ones fill in keys it lacks."""
        self.metadata = {**other.metadata, **self.metadata}
        for f in fields(self):
            if f.name not in ("metadata", "command"):
                getattr(self, f.name).extend(getattr(other, f.name))

    def add_benchmark(self, bench: dict[str, Any]) -> None:
        self.benchmarks.append(bench)

    def add_progress(self, row: dict[str, Any]) -> None:
        self.progress.append(row)

    def add_failure(self, key: dict[str, Any], outcome: dict[str, Any]) -> None:
        """A measurement whose child crashed, hung or raised: kept, with how it ended."""
        self.failures.append({**key, **outcome})

    def to_json(self) -> dict[str, Any]:
        return {
            "version": PYPERF_FORMAT,
            "metadata": self.metadata,
            "benchmarks": self.benchmarks,
            "gvlbench": {
                "schema": SCHEMA,
                "command": self.command,
                "progress": self.progress,
                "failures": self.failures,
                "race": self.race,
                "guard_cost": self.guard_cost,
                "verify": self.verify,
                "pool": self.pool,
                "phases": self.phases,
                "profile": self.profile,
                "speedup": self.speedup,
                "trace": self.trace,
                "legal_uses": self.legal_uses,
            },
        }

    @classmethod
    def from_json(cls, data: Any, source: str = "<data>") -> Results:
        if not isinstance(data, dict) or data.get("version") != PYPERF_FORMAT:
            raise ResultsFileError(f"{source}: not a gvlbench/pyperf results file (version)")
        ours = data.get("gvlbench")
        if not isinstance(ours, dict) or not isinstance(ours.get("schema"), int):
            raise ResultsFileError(f"{source}: no 'gvlbench' section with a schema version")
        if ours["schema"] > SCHEMA:
            raise ResultsFileError(
                f"{source}: schema {ours['schema']} is newer than this gvlbench reads ({SCHEMA})"
            )
        metadata = data.get("metadata") or {}
        _check_row(metadata, _METADATA, "metadata", source)
        benchmarks = _rows(data, "benchmarks", source)
        _check_pyperf(benchmarks, source)
        sections = {name: _rows(ours, name, source) for name in _ROWS}
        return cls(metadata=dict(metadata), command=str(ours.get("command", "")),
                   benchmarks=benchmarks, **sections)  # fmt: skip


# What every reader of a section may rely on: key -> the types its value may have. The one
# reader checks each row against it, so a hand-edited or foreign file is one clear error, not
# a KeyError deep in a table. Rows may carry more keys (older and newer writers add some).
_NUM, _OPT_NUM, _OPT_STR = (int, float), (int, float, type(None)), (str, type(None))
_METADATA: dict[str, tuple[type, ...]] = {}
_OPTIONAL = {"usable_cpus": (int,), "interpreter": (str,), "call_path": (str,),
             "executor": (str,), "work_size": (int,), "overlap": (list,),
             "overlap_threads": (int,), "runtime": (str,), "control_overlap": (list,),
             "machine": (dict,)}  # fmt: skip
_ROWS: dict[str, dict[str, tuple[type, ...]]] = {
    "progress": {"scenario": (str,), "mode": (str,), "via": (str,), "samples": (list,)},
    "failures": {"scenario": (str,), "kind": (str,), "mode": (str,), "threads": (int,),
                 "description": (str,)},
    "race": {"config": (str,), "trial_status": (str,), "threads": (int,), "calls": (int,),
             "refused": (int,), "exceptions": (dict,), "duration_s": _NUM,
             "after_start_s": _OPT_NUM, "signal": _OPT_STR, "panic": _OPT_STR},
    "guard_cost": {"scenario": (str,), "call_path": (str,), "mode": (str,),
                   "unguarded_ns": (list,), "guarded_ns": (dict, list)},
    "verify": {"check": (str,), "mode": (str,), "status": (str,), "detail": (str,),
               "failed": (int,), "repeat": (int,)},
    "pool": {"scenario": (str,), "executor": (str,), "threads": (int,), "wall_s": (list,),
             "peak_rss_kib": _NUM, "calls": (int,)},
    "phases": {"scenario": (str,), "mode": (str,), "threads": (int,), "call_path": (str,),
               "compile_s": (list,), "instantiate_s": (list,), "call_s": (list,)},
    "profile": {"scenario": (str,), "mode": (str,), "runs": (int,), "plain_s": (list,),
                "hooked_s": (list,), "phases": (dict,)},
    "speedup": {"scenario": (str,), "call_path": (str,), "loops": (int,), "cells": (dict,)},
    "legal_uses": {"design": (str,), "use": (str,), "outcome": (str,), "detail": (str,)},
    "trace": {"kind": (str,)},  # each kind's keys: docs/results.md
}  # fmt: skip
_SAMPLE = {"ratio": _NUM, "call_s": _NUM}
# Lists of numbers by section (a progress sample's own `call_s` is one number, so not here)
_NUMBER_LISTS = {"phases": ("compile_s", "instantiate_s", "call_s"),
                 "profile": ("plain_s", "hooked_s")}  # fmt: skip


def _rows(data: dict[str, Any], key: str, source: str) -> list[dict[str, Any]]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ResultsFileError(f"{source}: {key!r} must be a list of objects")
    for i, row in enumerate(value):
        _check_row(row, _ROWS.get(key, {}), f"{key}[{i}]", source)
        for name in _NUMBER_LISTS.get(key, ()):
            for j, item in enumerate(row[name]):
                _check_value(item, _NUM, f"{key}[{i}].{name}[{j}]", source)
    return value


def _check_numbers(values: Any, where: str, source: str) -> None:
    _check_value(values, (list,), where, source)
    for j, item in enumerate(values):
        _check_value(item, _NUM, f"{where}[{j}]", source)


def _check_row(row: Any, schema: dict[str, tuple[type, ...]], where: str, source: str) -> None:
    if not isinstance(row, dict):
        raise ResultsFileError(f"{source}: {where} must be an object")
    for key, types in schema.items():
        if key not in row:
            raise ResultsFileError(f"{source}: {where} lacks {key!r}")
        _check_value(row[key], types, f"{where}.{key}", source)
    for key, types in _OPTIONAL.items():
        if row.get(key) is not None:
            _check_value(row[key], types, f"{where}.{key}", source)
    numbers = {"samples": _SAMPLE, "wall_s": None, "unguarded_ns": None, "guarded_ns": None,
               "overlap": None, "control_overlap": None}  # fmt: skip
    for key, inner in numbers.items():
        if row.get(key) is None:
            continue
        if isinstance(row[key], dict):  # guarded_ns: one list per guard design
            for name, values in row[key].items():
                _check_numbers(values, f"{where}.{key}.{name}", source)
            continue
        _check_value(row[key], (list,), f"{where}.{key}", source)
        for j, item in enumerate(row[key]):
            if inner is None:
                _check_value(item, _NUM, f"{where}.{key}[{j}]", source)
            else:
                _check_row(item, inner, f"{where}.{key}[{j}]", source)


def _check_value(value: Any, types: tuple[type, ...], where: str, source: str) -> None:
    if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
        names = "/".join("null" if t is type(None) else t.__name__ for t in types)
        raise ResultsFileError(f"{source}: {where} must be {names}, got {value!r:.40}")


def _check_pyperf(benchmarks: list[dict[str, Any]], source: str) -> None:
    """Benchmarks as pyperf itself reads them, with the keys gvlbench's tables need."""
    import pyperf

    for i, bench in enumerate(benchmarks):
        md = bench.get("metadata")
        where = f"benchmarks[{i}].metadata"
        _check_row(md, {"scenario": (str,), "mode": (str,), "threads": (int,)}, where, source)
    if not benchmarks:
        return
    try:
        pyperf.BenchmarkSuite.loads(
            json.dumps({"version": PYPERF_FORMAT, "benchmarks": benchmarks})
        )
    except Exception as exc:  # pyperf's loader raises whatever its parsing meets
        raise ResultsFileError(f"{source}: benchmarks pyperf cannot read: {exc!r:.80}") from None


def runtime_kind(label: str) -> str:
    """python or ruby, from a row's interpreter label ('ruby3.1.2', 'python3.11.7', '' for
    the harness's own Python) or from a kind itself."""
    return "ruby" if label.startswith("ruby") else "python"


def write_results(path: Path, results: Results, extra: dict[str, Any] | None = None) -> None:
    """The one writer: atomically (readers never see half a file). `extra` adds top-level
    keys (the gate's verdicts) that pyperf and `load` ignore."""
    write_atomic(path, json.dumps({**results.to_json(), **(extra or {})}, indent=1) + "\n")


def load(path: Path) -> Results:
    """The one reader of a results file; every way it can be wrong is a ResultsFileError."""
    raw = read_input(path, "the results file", ResultsFileError, MAX_RESULTS_BYTES)
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ResultsFileError(f"{path}: not a text file (not UTF-8)") from None
    except json.JSONDecodeError as exc:
        raise ResultsFileError(f"{path}: not JSON ({exc.msg} at line {exc.lineno})") from None
    except RecursionError:
        raise ResultsFileError(f"{path}: JSON nested too deeply to be a results file") from None
    return Results.from_json(data, str(path))


def pyperf_benchmark(metadata: dict[str, Any], values: list[float], loops: int) -> dict[str, Any]:
    """One pyperf benchmark (values in seconds per loop) built with pyperf's public API, as
    it sits in a results file: the suite's common metadata folded in, so it stands alone."""
    import pyperf

    run = pyperf.Run(values, metadata={**metadata, "unit": "second", "loops": loops},
                     collect_metadata=False)  # fmt: skip
    buf = io.StringIO()
    pyperf.Benchmark([run]).dump(buf)
    suite = json.loads(buf.getvalue())
    bench = suite["benchmarks"][0]
    bench["metadata"] = {**suite.get("metadata", {}), **bench.get("metadata", {})}
    return bench
