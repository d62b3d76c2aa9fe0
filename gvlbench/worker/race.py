"""The child's side of `gvlbench race`: hammer a Store from N threads for a while.

The trial announces its start before the first thread starts (a thread can crash the process
before the main thread runs again), then counts calls, refusals by the Store guard, and
exceptions per type with one example each. A crash is no answer at all: the harness reads the
child's signal and stderr. A code target (`--stmt`) runs its statement alone first, in this
thread, before any other starts: that result is the reference, and every thread's result that
differs from it (by `==`) is counted as wrong, with one example. A scenario whose binding gives
each caller a call of its own (`distinct_call`: an extism plugin's function, each thread with
its own input) is checked the same way, each thread against its own input's answer alone.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from gvlbench.binding.embed import ExpectationError
from gvlbench.binding.guard import StoreGuard, StoreInUseError, guarded
from gvlbench.designs import NATIVE
from gvlbench.protocol import RaceTask
from gvlbench.pycode import comparable
from gvlbench.worker.code import target_of
from gvlbench.worker.racing import Tally, merged, run_for

_UNCHECKED = object()  # no reference: a module export's result is checked by its spec


def run_trial(task: RaceTask) -> dict[str, Any]:
    """Hammer the target from N threads for `duration_s` (or until the process dies)."""
    references: list[Any] = [_UNCHECKED] * task.threads
    compared = False
    recorder = _recorder(task)
    if task.code is not None:
        code = target_of(task)
        reference = code.reference()  # alone, before any thread starts
        compared = comparable(reference)
        if compared:
            references = [reference] * task.threads
        calls = [code.call] * task.threads  # each thread runs its own per-thread setup
    else:
        calls, answers = _trial_calls(task, recorder)
        if answers is not None:
            references, compared = answers, True
    if recorder is not None and (task.code is not None or task.call_path == "stock"):
        recorder.use_stock(task.mode)  # after any native guard re-pointed wasmtime-py's call
    tallies = [Tally() for _ in calls]
    stop = threading.Event()
    refused = recorder.refused if recorder is not None and not _native(task) else None
    threads = [
        threading.Thread(
            target=_hammer, args=(c, t, stop, r, refused), name=f"gvlbench-{i}", daemon=True
        )
        for i, (c, t, r) in enumerate(zip(calls, tallies, references, strict=True))
    ]
    if recorder is not None:
        recorder.start()
    doc = {"elapsed_s": run_for(threads, stop, task.duration_s), **merged(tallies)}
    if recorder is not None:
        recorder.stop()
        doc["timeline"] = _timeline(task, recorder, threads)
    # a code target's results are compared, and a binding's distinct calls (an extism
    # Plugin's) against their own answers; a binding whose calls check their own (a
    # component's) reports the wrong ones it saw
    if task.code is not None or compared or any(t.wrong for t in tallies):
        wrong = [t.wrong_example for t in tallies if t.wrong_example is not None]
        doc.update(wrong=sum(t.wrong for t in tallies), wrong_example=wrong[0] if wrong else None)
        if task.code is not None or compared:
            doc["compared"] = compared
    return doc


def _recorder(task: RaceTask) -> Any:
    """A timeline's recorder (None: not asked for); a code target's host functions, defined
    by its setup, are timed from the start."""
    if not task.timeline:
        return None
    from gvlbench.binding.timeline import Recorder

    recorder = Recorder()
    if task.code is not None:
        recorder.install_trampoline()
    return recorder


def _native(task: RaceTask) -> bool:
    """Whether the trial's guard is the shim's (it logs its own refusals and waits)."""
    from gvlbench.binding.patches import NATIVE_DESIGNS

    if task.guard and task.guard_kind in NATIVE:
        return True
    return any(p in NATIVE_DESIGNS for p in task.patches)


def _timeline(task: RaceTask, recorder: Any, threads: list[threading.Thread]) -> Any:
    """The trial's threads' states, as a timeline part of one group."""
    from gvlbench.answers import to_wire
    from gvlbench.timeline import Group

    store = f"{task.store} Store" + (f", {task.guard_kind} guard" if task.guard else "")
    patched = f", {'+'.join(task.patches)}" if task.patches else ""
    group = Group("trial", f"{task.mode}, {task.threads} threads, {store}{patched}",
                  str(task.mode), task.threads)  # fmt: skip
    tracks = [recorder.track("trial", t.name, t.native_id or 0, task.mode) for t in threads]
    return to_wire(recorder.part([group], tracks))


def _trial_calls(task: RaceTask, recorder: Any = None
                 ) -> tuple[list[Callable[[], Any]], list[Any] | None]:  # fmt: skip
    """Each thread's call, and each one's answer alone where the binding gives every caller
    a distinct call (None: the calls are alike, and the spec checks them elsewhere). With a
    timeline's recorder, the Stores are made to call through its timed function."""
    from contextlib import nullcontext

    from gvlbench.bindings import driver_for

    target, mode, path, n = task.target, task.mode, task.call_path, task.threads
    driver = driver_for(target)
    with recorder.building(mode) if recorder is not None else nullcontext():
        if task.store == "shared":
            (emb,) = driver.instances(target, mode, path, 1, None)
            owners = [emb] * n
            calls = [emb.call] + [emb.new_call() for _ in range(n - 1)]
        else:
            owners = driver.instances(target, mode, path, n, None)
            calls = [e.call for e in owners]
    answers = None
    if hasattr(owners[0], "distinct_call"):  # alone, each, before any thread starts
        pairs = [e.distinct_call(i) for i, e in enumerate(owners)]
        calls, answers = [c for c, _ in pairs], [a for _, a in pairs]
    if task.guard and task.guard_kind in NATIVE:
        with recorder.building(mode) if recorder is not None else nullcontext():
            return _natively_guarded(owners, calls, task, path), None
    if task.guard:
        guards = {id(e): StoreGuard(f"store-{i}") for i, e in enumerate(_stores(owners))}
        calls = [guarded(c, guards[id(e)]) for c, e in zip(calls, owners, strict=True)]
    return calls, answers


def _natively_guarded(
    owners: list[Any], calls: list[Callable[[], Any]], task: RaceTask, path: Any
) -> list[Callable[[], Any]]:
    """Each thread's call through the native guard of its Store (one guard per Store, of the
    task's design)."""
    from gvlbench.binding import native_guard, native_stock
    from gvlbench.protocol import CallPath

    for i, emb in enumerate(_stores(owners)):  # made here: affinity's owner is this thread
        native_guard.NativeStoreGuard(emb.store, f"store-{i}", task.guard_kind)
    if path == "stock":  # wasmtime-py's own bindings re-pointed: each Store's own calls
        native_stock.use_stock(task.mode)
        return calls
    return [native_stock.prepare(e.store, e.func, task.target.args, task.mode, CallPath(path))
            for e in owners]  # fmt: skip


def _stores(owners: list[Any]) -> list[Any]:
    """Each Embedding once, in order (one Store each)."""
    return list({id(e): e for e in owners}.values())


def _hammer(
    call: Callable[[], Any],
    tally: Tally,
    stop: threading.Event,
    reference: Any = _UNCHECKED,
    refused: Callable[[], None] | None = None,
) -> None:
    while not stop.is_set():
        try:
            result = call()
            tally.calls += 1
            if reference is not _UNCHECKED and not _same(result, reference):
                tally.bad(f"{result!r:.200} (reference {reference!r:.200})")
        except StoreInUseError as exc:
            tally.refusal(exc)
            if refused is not None:  # a timeline's: the Python guard's refusal, as an instant
                refused()
        except ExpectationError as exc:  # a call that checks its own result: it was wrong
            tally.calls += 1
            tally.bad(str(exc))
        except Exception as exc:
            tally.raised(exc)


def _same(result: Any, reference: Any) -> bool:
    """`==`, where a comparison that itself raises counts as different."""
    try:
        return bool(result == reference)
    except Exception:
        return False
