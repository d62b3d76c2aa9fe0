"""Compile, instantiate and call apart: one row per (scenario, interpreter, call path, mode,
threads), with each phase's median and its share of the three together."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any

from gvlbench.modes import of_row

PHASES = ("compile", "instantiate", "call")

CAPTION = (
    "median per thread, from the moment the threads were released together until its own "
    "work was done (waiting for the lock included); compile: wasmtime.Module from the bytes; "
    "instantiate: Store, limits, WASI and linking; call: one checked call on the fresh "
    "instance; (%): each phase's share of compile + instantiate + call"
)
COMMAND_NOTE = (
    "A WASI command runs once per instance: `run`'s speedup rows time instantiate + call "
    "(what an embedder pays per request); this table splits them."
)


@dataclass(frozen=True)
class PhasesRow:
    scenario: str
    mode: str
    threads: int
    status: str  # ok, or how the child ended
    compile_s: float | None = None  # medians per thread
    instantiate_s: float | None = None
    call_s: float | None = None
    compile_share: float | None = None  # of compile + instantiate + call
    instantiate_share: float | None = None
    call_share: float | None = None
    samples: int = 0  # per phase: threads x rounds
    interpreter: str = ""
    call_path: str = ""
    wasi_command: bool = False


def _key(row: dict[str, Any]) -> tuple[str, str, str, str, int]:
    return (row["scenario"], row.get("interpreter", ""), row.get("call_path", ""),
            of_row(row), int(row["threads"]))  # fmt: skip


def phases_rows(res: Any) -> list[PhasesRow]:
    """Rows of the same key (from merged files) pool their samples; failures are rows too."""
    rows = [
        PhasesRow(f["scenario"], of_row(f), int(f["threads"]), f["description"],
                  interpreter=f.get("interpreter", ""), call_path=f.get("call_path", ""),
                  wasi_command=bool(f.get("wasi_command")))
        for f in res.failures
        if f.get("kind") == "phases"
    ]  # fmt: skip
    merged: dict[tuple[str, str, str, str, int], dict[str, Any]] = {}
    for p in res.phases:
        into = merged.setdefault(_key(p), {f"{ph}_s": [] for ph in PHASES})
        into["wasi_command"] = into.get("wasi_command", False) or bool(p.get("wasi_command"))
        for ph in PHASES:
            into[f"{ph}_s"] += p[f"{ph}_s"]
    for (scenario, interp, path, mode, threads), p in merged.items():
        if not all(p[f"{ph}_s"] for ph in PHASES):
            continue
        medians = [statistics.median(p[f"{ph}_s"]) for ph in PHASES]
        total = sum(medians)
        shares = [m / total if total > 0 else None for m in medians]
        rows.append(
            PhasesRow(scenario, mode, threads, "ok", *medians, *shares,
                      samples=min(len(p[f"{ph}_s"]) for ph in PHASES), interpreter=interp,
                      call_path=path, wasi_command=p["wasi_command"])
        )  # fmt: skip
    return sorted(rows, key=lambda r: (r.scenario, r.interpreter, r.call_path, r.mode, r.threads))


def caption(rows: list[PhasesRow]) -> str:
    """The table's caption; with the WASI command note when any row is one."""
    return f"{CAPTION}. {COMMAND_NOTE}" if any(r.wasi_command for r in rows) else CAPTION
