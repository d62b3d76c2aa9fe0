"""verify's checks of wasmtime-py's component model (`wasmtime.component`), run in the child.

- component-results: N threads at once, each with its own Store and instance of
  wat/component.wat, each echoing strings of its own and adding numbers of its own: every
  thread gets its own results back. What a Store per thread promises, for components.
- component-exceptions: N threads at once, each with its own Store, whose component's import
  (a Python host function) raises an exception carrying the thread's id: every thread gets
  exactly its own exception back. wasmtime-py hands a component callback's exception over
  through wasmtime/component/_enter.py's module-global LAST_EXCEPTION, a slot of its own
  (the core API's is wasmtime/_func.py's), which the thread-local-exceptions patch keeps per
  thread too.

Both call in the check's mode (the component call's binding pointed as `run` points it) and
have a sabotage, as every check does: a binding that mangles one thread's string, a host
that raises an exception naming nobody.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

import wasmtime
from wasmtime import component as cm

from gvlbench.binding import component_calls
from gvlbench.checklist import check_wat
from gvlbench.protocol import CallPath
from gvlbench.scenario import data_dirs
from gvlbench.worker.checks import (
    CheckContext,
    CheckFailed,
    HostError,
    NotApplicable,
    all_at_once,
    gc_stress,
)

CALLS = 200  # per thread
HANDOFF_S = 1.5


def _linker(ctx: CheckContext, wat: str, host: Any = None) -> tuple[Any, Any, Any]:
    """(engine, component, linker) with the import `host` defined by `host`; the component
    call pointed at the check's mode."""
    if ctx.call_path is not CallPath.STOCK:
        raise NotApplicable("a component has one call path, wasmtime-py's Func.__call__")
    component_calls.use_mode(ctx.mode)
    engine = wasmtime.Engine()
    linker = cm.Linker(engine)
    if host is not None:
        with linker.root() as root:  # the Linker is locked while its root instance lives
            root.add_func("host", host)
    return engine, cm.Component(engine, wasmtime.wat2wasm(wat)), linker


def _instance(loaded: tuple[Any, Any, Any]) -> tuple[wasmtime.Store, Any]:
    """A fresh Store with the component instantiated in it."""
    engine, component, linker = loaded
    store = wasmtime.Store(engine)
    return store, linker.instantiate(store, component)


def _call(store: wasmtime.Store, func: Any, *args: Any) -> Any:
    """One component call as wasmtime-py documents it: the call, then post_return."""
    result = func(store, *args)
    func.post_return(store)
    return result


def check_component_results(ctx: CheckContext) -> None:
    """N threads at once, a Store each: echo(own string) and add(own numbers), CALLS times
    each, every result the thread's own."""
    wat = (data_dirs()[1] / "component.wat").read_text()

    def body(i: int) -> list[str]:
        store, instance = _instance(_linker(ctx, wat))
        echo, add = instance.get_func(store, "echo"), instance.get_func(store, "add")
        wrong = []
        for n in range(CALLS):
            mine = f"thread {i} call {n}"
            got = _call(store, echo, mine, 1000)
            if ctx.sabotage and i == 0:
                got = got[::-1]  # a binding that lifts one thread's strings backwards
            if got != mine:
                wrong.append(f"thread {i}: echo({mine!r}) = {got!r}")
            if (total := _call(store, add, i, n)) != i + n:
                wrong.append(f"thread {i}: add({i}, {n}) = {total!r}")
        return wrong

    with gc_stress():
        wrong = [w for ws in all_at_once(ctx.threads, body) for w in ws]
    ctx.notes.append(f"{ctx.threads * CALLS * 2 - len(wrong)} of {ctx.threads * CALLS * 2} "
                     "component calls right")  # fmt: skip
    if wrong:
        raise CheckFailed(f"{len(wrong)} wrong: " + "; ".join(wrong[:3]))


def check_component_exceptions(ctx: CheckContext) -> None:
    """N threads at once, CALLS calls or more each of run(), whose host import raises
    HostError(the thread's id), under GC stress: every call raises its own thread's. Each
    call is on a fresh Store and instance: a call whose host function raised is a trap, and
    a component instance that trapped refuses every later call ("cannot enter component
    instance")."""
    wat = check_wat("component_host")
    # at least CALLS calls a thread, then on until one goes wrong or HANDOFF_S pass: a
    # hand-off that goes wrong in 1 call of 1,000 (held, here) is still seen every time
    shown, deadline = threading.Event(), time.monotonic() + HANDOFF_S

    def body(i: int) -> Counter[str]:
        me = threading.get_ident()

        def host(store: Any, n: int) -> int:
            raise HostError(0 if ctx.sabotage else me)

        loaded = _linker(ctx, wat, host)
        seen: Counter[str] = Counter()
        n = 0
        while n < CALLS or (not shown.is_set() and time.monotonic() < deadline):
            n += 1
            store, instance = _instance(loaded)  # a trap poisons the instance: one each
            try:
                _call(store, instance.get_func(store, "run"), 1)
                seen["no exception"] += 1
            except HostError as exc:
                seen["its own" if exc.args[0] == me else "another thread's HostError"] += 1
            except Exception as exc:  # e.g. the trap "python exception": none left for it
                last = [ln.strip() for ln in str(exc).splitlines() if ln.strip()][-1:] or [""]
                seen[f"{type(exc).__name__}: {last[0][:60]}"] += 1
            if seen.total() > seen["its own"]:
                shown.set()
        return seen

    with gc_stress():
        seen = sum(all_at_once(ctx.threads, body), Counter())
    total = sum(seen.values())
    ctx.notes.append(f"{seen['its own']} of {total} calls raised their own exception")
    bad = {k: n for k, n in seen.items() if k != "its own"}
    if bad:
        kinds = ", ".join(f"{n}x {k}" for k, n in sorted(bad.items(), key=lambda kv: -kv[1]))
        raise CheckFailed(f"{sum(bad.values())} of {total} calls got the wrong outcome: "
                          f"{kinds} (the hand-off through wasmtime.component._enter."
                          "LAST_EXCEPTION)")  # fmt: skip
