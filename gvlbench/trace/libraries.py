"""Which Wasm engines the traced program ran, and whether trace watched their objects.

Each traced process writes the shared objects it ran code from at its exit (the hook's
`libraries` record); engines.py finds the engine each carries. A library is watched in a
process where the hook patched a class whose objects run its engine (a binding's `library`
pattern). One that is not, in any process, is what trace could not see: the report names it
(its engine, its version) and how to watch it (`--watch module:Class.method`), where it once
told a user with the right environment that it was the wrong one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gvlbench import engines
from gvlbench.trace.model import TraceModel
from gvlbench.trace.points import Watched, watches_library


def rows(model: TraceModel, watched: Sequence[Watched]) -> list[dict[str, Any]]:
    """One `library` row per shared object that carries a Wasm engine, across processes."""
    found: dict[str, dict[str, Any]] = {}
    for proc in model.processes.values():
        names = set(proc.watching)
        for hit in engines.detect(proc.libraries):
            row = found.setdefault(hit.path, {
                "kind": "library", "path": hit.path, "engine": hit.engine,
                "version": hit.version, "evidence": hit.evidence, "pids": [], "watched": False,
            })  # fmt: skip
            if proc.pid not in row["pids"]:
                row["pids"].append(proc.pid)
            row["watched"] = row["watched"] or watches_library(watched, names, hit.path)
    return list(found.values())


def unwatched(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in rows if r.get("kind") == "library" and not r["watched"]]
