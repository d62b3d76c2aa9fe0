"""The child's side of the legal-uses job: what a guard design makes of uses that are legal.

A guard that refuses the crash but also refuses legal code has a price no timing shows. Under
one design (its binding patch, applied before any Store exists, as in a package that knows
nothing of it), each use in designs.LEGAL_USES is tried once through wasmtime-py's public API:

- `move`: a Store made on this thread and called here, then called from a
  ThreadPoolExecutor worker (one thread at a time: wasmtime-py's maintainer calls this legal,
  #322), then here again;
- `reentry`: a host callback that calls back into its own Store (a call, then a memory read)
  while the Wasm call that called it is still running, on the same thread.

Each ends admitted (every result right), refused (StoreInUseError: the guard said no) or
failed (anything else, with what was raised).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import wasmtime

from gvlbench.binding import patches
from gvlbench.binding.guard import StoreInUseError
from gvlbench.binding.invoke import use_stock_mode
from gvlbench.designs import LEGAL_USES, PATCHES
from gvlbench.protocol import LegalUsesTask, Mode

WORK_N, WORK_SUM = 100, 99 * 100 // 2


def try_legal_uses(task: LegalUsesTask) -> dict[str, Any]:
    """Every legal use under the task's design, in this process."""
    use_stock_mode(Mode.RELEASED)
    if task.design != "none":
        patches.apply((PATCHES[task.design],), Mode.RELEASED)
    engine = wasmtime.Engine()
    uses = {"move": lambda: _move(engine, task.entries),
            "reentry": lambda: _reentry(engine, task.reenter)}  # fmt: skip
    assert set(uses) == set(LEGAL_USES)
    return {"uses": {name: _outcome(use) for name, use in uses.items()}}


def _outcome(use: Callable[[], str | None]) -> dict[str, str]:
    try:
        wrong = use()
    except StoreInUseError as exc:
        return {"outcome": "refused", "detail": str(exc)}
    except Exception as exc:
        return {"outcome": "failed", "detail": f"{type(exc).__name__}: {exc}"[:300]}
    if wrong:
        return {"outcome": "failed", "detail": wrong}
    return {"outcome": "admitted", "detail": ""}


def _move(engine: wasmtime.Engine, wasm_path: str) -> str | None:
    store = wasmtime.Store(engine)  # made here: thread affinity's owner is this thread
    work = wasmtime.Instance(store, wasmtime.Module.from_file(engine, wasm_path),
                             []).exports(store)["work"]  # fmt: skip
    results = [work(store, WORK_N)]
    with ThreadPoolExecutor(1, thread_name_prefix="gvlbench-pool") as pool:
        results.append(pool.submit(work, store, WORK_N).result())
    results.append(work(store, WORK_N))  # handed back
    return None if results == [WORK_SUM] * 3 else f"work({WORK_N}) gave {results}"


def _reentry(engine: wasmtime.Engine, wasm_path: str) -> str | None:
    store = wasmtime.Store(engine)
    module = wasmtime.Module.from_file(engine, wasm_path)
    seen: list[Any] = []
    box: dict[str, Any] = {}

    def reenter() -> None:
        exports = box["exports"]
        seen.append(exports["inner"](store))  # a call into the Store the call is inside
        seen.append(bytes(exports["memory"].read(store, 0, 7)))

    host = wasmtime.Func(store, wasmtime.FuncType([], []), reenter)
    box["exports"] = wasmtime.Instance(store, module, [host]).exports(store)
    result = box["exports"]["run"](store)
    expected = [5, b"reentry"]
    return None if (result, seen) == (1, expected) else f"run gave {result}, inside {seen}"
