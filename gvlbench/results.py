"""The results model: one JSON file that is a pyperf BenchmarkSuite plus gvlbench's own data.

Layout (see docs/results.md):
    {"version": "1.0",                 # pyperf's file format: pyperf's tools read this file
     "metadata": {...},                # common to every benchmark
     "benchmarks": [...],              # one pyperf benchmark per (scenario, mode, threads)
     "gvlbench": {"schema": 1, "command": ..., "progress": [...], "failures": [...], ...}}

The `gvlbench` object holds one list of rows per section, each declared once in SECTIONS
(its name, what a row holds, the keys every row has and their types): the `Results`
attributes, the writer, the reader and its checks, and the list in docs/results.md all come
from that declaration, so adding a section is one `Section(...)` line.

pyperf ignores the "gvlbench" key; it holds what pyperf cannot (a progress ratio can be 0,
which a pyperf value cannot). Files are written atomically, after every measurement, so a
crash or a kill of the harness never loses what was already measured.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gvlbench.errors import ResultsFileError
from gvlbench.files import MAX_RESULTS_BYTES, read_input, write_atomic
from gvlbench.modes import Cell, cell_key, cell_of

PYPERF_FORMAT = "1.0"
SCHEMA = 1

Row = dict[str, Any]
Types = tuple[type, ...]
Schema = Mapping[str, Types]
_NUM, _OPT_NUM, _OPT_STR = (int, float), (int, float, type(None)), (str, type(None))


@dataclass(frozen=True)
class Section:
    """One list of rows in the file's `gvlbench` object, declared once: `Results` gets an
    attribute of its name, `to_json` writes it, `from_json` reads and checks it, and
    docs/results.md lists it (scripts/results_docs.py) from this declaration alone.

    `keys` are what every row has, with the types their values may have (rows may carry
    more: older and newer writers add some); `numbers` are keys whose lists hold numbers
    only; `cells` are keys whose object maps a "mode/threads" cell to its numbers, read into
    `(Mode, threads)` tuples (modes.Cell) and written back by the same codec."""

    name: str
    by: str  # the commands that write it
    holds: str  # what one row is, in words
    keys: Schema
    numbers: tuple[str, ...] = ()
    cells: tuple[str, ...] = ()


SECTIONS: tuple[Section, ...] = (
    Section("progress", "run", "a sibling thread's progress during calls, per mode",
            {"scenario": (str,), "mode": (str,), "via": (str,), "samples": (list,)}),
    Section("failures", "every command", "a measurement whose child did not answer normally",
            {"scenario": (str,), "kind": (str,), "mode": (str,), "threads": (int,),
             "description": (str,)}),
    Section("race", "race", "one trial of threads sharing a Store (or another object)",
            {"config": (str,), "trial_status": (str,), "threads": (int,), "calls": (int,),
             "refused": (int,), "exceptions": (dict,), "duration_s": _NUM,
             "after_start_s": _OPT_NUM, "signal": _OPT_STR, "panic": _OPT_STR}),
    Section("guard_cost", "race --guard-cost", "a guard design's cost per operation, "
            "paired batches", {"scenario": (str,), "call_path": (str,), "mode": (str,),
                               "unguarded_ns": (list,), "guarded_ns": (dict, list)},
            numbers=("unguarded_ns",)),
    Section("verify", "verify", "one correctness check in one mode",
            {"check": (str,), "mode": (str,), "status": (str,), "detail": (str,),
             "failed": (int,), "repeat": (int,)}),
    Section("pool", "run --mode processes", "threads or a process pool on one job",
            {"scenario": (str,), "executor": (str,), "threads": (int,), "wall_s": (list,),
             "peak_rss_kib": _NUM, "calls": (int,)}, numbers=("wall_s",)),
    Section("phases", "run", "compile, instantiate and call timed apart",
            {"scenario": (str,), "mode": (str,), "threads": (int,), "call_path": (str,),
             "compile_s": (list,), "instantiate_s": (list,), "call_s": (list,)},
            numbers=("compile_s", "instantiate_s", "call_s")),
    Section("profile", "profile", "where a statement's time goes, per mode",
            {"scenario": (str,), "mode": (str,), "runs": (int,), "plain_s": (list,),
             "hooked_s": (list,), "phases": (dict,)}, numbers=("plain_s", "hooked_s")),
    Section("speedup", "run", "one paired child: every (mode, threads) cell's seconds per round",
            {"scenario": (str,), "call_path": (str,), "loops": (int,), "cells": (dict,)},
            cells=("cells",)),
    Section("trace", "trace", "one thing a trace found, its `kind` first (keys per kind below)",
            {"kind": (str,)}),
    Section("legal_uses", "race --designs", "a guard design's verdict on a legal use",
            {"design": (str,), "use": (str,), "outcome": (str,), "detail": (str,)}),
    Section("not_applicable", "run, race, profile", "a row a binding cannot give, with why",
            {"scenario": (str,), "what": (str,), "binding": (str,), "reason": (str,)}),
    Section("timeline", "run, race, profile with --timeline", "a summary of a timeline: one "
            "thread's states and lock waits (`thread`), a caller's sibling against its progress "
            "(`sibling`), the timeline's own cost in one cell (`overhead`)",
            {"kind": (str,), "scenario": (str,), "mode": (str,)}),
)  # fmt: skip


def section_names() -> tuple[str, ...]:
    return tuple(s.name for s in SECTIONS)


class Results:
    """A results document: pyperf's metadata and benchmarks, the command that wrote it, and
    one list of rows per section of SECTIONS (an attribute each: `results.race`)."""

    def __init__(
        self,
        metadata: dict[str, Any],
        command: str,
        benchmarks: list[Row] | None = None,
        **sections: list[Row],
    ) -> None:
        names = section_names()
        unknown = [name for name in sections if name not in names]
        if unknown:
            raise TypeError(f"no results section {unknown[0]!r} (sections: {names})")
        self.metadata = metadata
        self.command = command
        self.benchmarks: list[Row] = benchmarks if benchmarks is not None else []
        for name in names:
            setattr(self, name, sections.get(name, []))

    def __getattr__(self, name: str) -> list[Row]:
        """Only reached for a name that is no attribute: every section is set in __init__.
        (It also tells a type checker what a section attribute holds.)"""
        raise AttributeError(f"Results has no section or attribute {name!r}")

    def sections(self) -> dict[str, list[Row]]:
        """Every section's rows, by name, in declaration order."""
        return {name: getattr(self, name) for name in section_names()}

    def replaced(self, **changes: Any) -> Results:
        """A new document with some parts (metadata, command, benchmarks, sections) replaced
        and the others shared."""
        parts = {"metadata": self.metadata, "command": self.command,
                 "benchmarks": self.benchmarks, **self.sections(), **changes}  # fmt: skip
        return Results(**parts)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Results):
            return NotImplemented
        return (self.metadata, self.command, self.benchmarks, self.sections()) == (
            other.metadata, other.command, other.benchmarks, other.sections())  # fmt: skip

    __hash__ = None  # type: ignore[assignment]  (mutable, as the dataclass it replaced)

    def __repr__(self) -> str:
        counts = ", ".join(f"{n}={len(rows)}" for n, rows in self.sections().items() if rows)
        return f"Results(command={self.command!r}, benchmarks={len(self.benchmarks)}, {counts})"

    def extend(self, other: Results) -> None:
        """Add every row of `other` (benchmarks, failures and each gvlbench section): what
        `report` and the gate's retries use, so merging files loses nothing. The first
        document's metadata wins; later ones fill in keys it lacks."""
        self.metadata = {**other.metadata, **self.metadata}
        self.benchmarks.extend(other.benchmarks)
        for name, rows in other.sections().items():
            getattr(self, name).extend(rows)

    def add_benchmark(self, bench: dict[str, Any]) -> None:
        self.benchmarks.append(bench)

    def add_progress(self, row: dict[str, Any]) -> None:
        self.progress.append(row)

    def add_failure(self, key: dict[str, Any], outcome: dict[str, Any]) -> None:
        """A measurement whose child crashed, hung or raised: kept, with how it ended."""
        self.failures.append({**key, **outcome})

    def to_json(self) -> dict[str, Any]:
        ours: dict[str, Any] = {"schema": SCHEMA, "command": self.command}
        for section in SECTIONS:
            ours[section.name] = [_write_row(section, row) for row in getattr(self, section.name)]
        return {"version": PYPERF_FORMAT, "metadata": self.metadata,
                "benchmarks": self.benchmarks, "gvlbench": ours}  # fmt: skip

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
        _check_row(metadata, {}, "metadata", source)
        benchmarks = _rows(data, "benchmarks", source)
        _check_pyperf(benchmarks, source)
        sections = {s.name: _read_rows(ours, s, source) for s in SECTIONS}
        return cls(metadata=dict(metadata), command=str(ours.get("command", "")),
                   benchmarks=benchmarks, **sections)  # fmt: skip


def _write_row(section: Section, row: Row) -> Row:
    """A row as the file holds it: its cells spelled "mode/threads"."""
    if not section.cells:
        return row
    return {k: ({cell_key(*c): v for c, v in value.items()} if k in section.cells else value)
            for k, value in row.items()}  # fmt: skip


def _read_rows(data: dict[str, Any], section: Section, source: str) -> list[Row]:
    """A section's rows, checked against its declaration, cells read as tuples."""
    rows = _rows(data, section.name, source, section.keys)
    for i, row in enumerate(rows):
        for name in section.numbers:
            _check_numbers(row[name], f"{section.name}[{i}].{name}", source)
    if not section.cells:
        return rows
    return [{**row, **{name: _read_cells(row[name], f"{section.name}[{i}].{name}", source)
                       for name in section.cells}}
            for i, row in enumerate(rows)]  # fmt: skip


def _read_cells(value: dict[str, Any], where: str, source: str) -> dict[Cell, Any]:
    cells = {}
    for key, numbers in value.items():
        try:
            cell = cell_of(key)
        except ValueError as exc:
            raise ResultsFileError(f"{source}: {where}: {exc}") from None
        _check_numbers(numbers, f"{where}[{key!r}]", source)
        cells[cell] = numbers
    return cells


# What every row (and the metadata) may carry, checked wherever it appears: a report may read
# them from any section.
_OPTIONAL = {"usable_cpus": (int,), "interpreter": (str,), "call_path": (str,),
             "executor": (str,), "work_size": (int,), "overlap": (list,),
             "overlap_threads": (int,), "runtime": (str,), "control_overlap": (list,),
             "machine": (dict,)}  # fmt: skip
_SAMPLE = {"ratio": _NUM, "call_s": _NUM}


def _rows(data: dict[str, Any], key: str, source: str, schema: Schema | None = None
          ) -> list[Row]:  # fmt: skip
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ResultsFileError(f"{source}: {key!r} must be a list of objects")
    for i, row in enumerate(value):
        _check_row(row, schema or {}, f"{key}[{i}]", source)
    return value


def _check_numbers(values: Any, where: str, source: str) -> None:
    _check_value(values, (list,), where, source)
    for j, item in enumerate(values):
        _check_value(item, _NUM, f"{where}[{j}]", source)


def _check_row(row: Any, schema: Schema, where: str, source: str) -> None:
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


def _check_value(value: Any, types: Types, where: str, source: str) -> None:
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
    """The runtime's language, from a row's interpreter label ('ruby3.1.2' is ruby,
    'python3.11.7' python; '' is the harness's own Python) or from a language itself."""
    m = re.match(r"[a-z]+", label)
    return m.group(0) if m else "python"


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
