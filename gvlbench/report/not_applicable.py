"""The rows a command did not measure because its binding cannot give them, with why.

A binding that cannot hold the lock (a compiled extension calling its own engine) has no
`held` row, and no patch or guard reaches its Store. Those rows are listed here as `N/A`, each
with the binding's own reason (bindings/), never shown as measured rows that changed nothing.
The line above the tables names the binding and the engine the code ran, from the results'
metadata (harness/code.py), since a compiled extension's engine is not the harness's.
"""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from rich.table import Table

from gvlbench.results import Results


def table(results: Results) -> Table | None:
    """One row per thing not measured: what, under which binding and runtime, and why."""
    rows = results.not_applicable
    if not rows:
        return None
    out = Table(title="Not applicable here", title_justify="left")
    for header in ("what", "binding", "runtime", "why not"):  # a reason wraps, at 70
        out.add_column(header, overflow="fold", max_width=70 if header == "why not" else None)
    seen = set()
    for row in rows:
        cells = (row["what"], row["binding"], row.get("interpreter") or "-", row["reason"])
        if cells not in seen:
            seen.add(cells)
            out.add_row(*(escape(str(c)) for c in cells), style="dim")
    return out


def binding_line(metadata: dict[str, Any]) -> str | None:
    """'calls Wasm through the native binding: wasmtime 37.0.3 (in _wasm.abi3.so)', or None
    for a file that does not say (a scenario's, written for wasmtime-py)."""
    binding = metadata.get("binding")
    if not binding:
        return None
    line = f"calls Wasm through the {binding} binding"
    if metadata.get("engine"):
        library = str(metadata.get("engine_library", "")).rsplit("/", 1)[-1]
        line += f": {metadata['engine']} {metadata.get('engine_version', 'unknown')}"
        line += f" (in {library})" if library else ""
    if metadata.get("other_engines"):
        line += f"; also loaded: {metadata['other_engines']}"
    return escape(line)
