"""The correctness checks of `gvlbench verify`, run inside a child process, one per (check, mode).

They are the wasmtime-rb PR's eight specs, made truly concurrent where they involve threads
(its threaded specs join each thread before starting the next), plus three more, plus six
that race wasmtime-py's own Python code with many threads on one Engine (PYTHON_ONLY in
checklist.py: the Ruby worker has no such code). Each check raises `CheckFailed` with what
it saw; the child runs it `repeat` times and reports how many failed. Each has a `sabotage`:
a deliberate break of the binding or the host, used to prove the check can fail
(`gvlbench verify --sabotage`).
"""

from __future__ import annotations

import contextlib
import gc
import struct
import sys
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import wasmtime

from gvlbench.binding import patches
from gvlbench.binding.invoke import CallPath, LeanCall, Mode, use_stock_mode
from gvlbench.binding.measure import run_all
from gvlbench.checklist import check_wat
from gvlbench.protocol import CheckTask


class CheckFailed(AssertionError):
    """The behaviour under test was wrong; the message says what was seen."""


class NotApplicable(Exception):
    """The check has nothing to judge in this mode; the message says why."""


@dataclass
class CheckContext:
    mode: Mode
    call_path: CallPath
    threads: int
    sabotage: bool
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.call_path is CallPath.STOCK:
            use_stock_mode(self.mode)

    def instance(
        self,
        wat: str,
        hosts: dict[str, tuple[list[str], list[str], Callable[..., Any]]] | None = None,
        engine: wasmtime.Engine | None = None,
    ) -> tuple[wasmtime.Store, dict[str, Any]]:
        """A fresh Store and its exports; `hosts` maps "module.name" to (params, results, fn)."""
        engine = engine or wasmtime.Engine()
        store = wasmtime.Store(engine)
        linker = wasmtime.Linker(engine)
        for key, (params, results, fn) in (hosts or {}).items():
            module, name = key.split(".")
            ty = wasmtime.FuncType([_valtype(p) for p in params], [_valtype(r) for r in results])
            linker.define_func(module, name, ty, fn)
        instance = linker.instantiate(store, wasmtime.Module(engine, wasmtime.wat2wasm(wat)))
        exports = instance.exports(store)
        return store, {e: exports[e] for e in _export_names(instance, store)}

    def call(self, store: wasmtime.Store, func: wasmtime.Func, *args: Any) -> Any:
        """One call through the binding under test, in this context's mode and call path."""
        if self.call_path is CallPath.LEAN:
            return LeanCall(store, func, args, self.mode)()
        return func(store, *args)


def _valtype(name: str) -> wasmtime.ValType:
    return getattr(wasmtime.ValType, name)()


def _export_names(instance: wasmtime.Instance, store: wasmtime.Store) -> list[str]:
    return [name for name, _ in instance.exports(store).items()]


@contextlib.contextmanager
def gc_stress() -> Iterator[None]:
    """A tiny gc threshold and a tiny switch interval: collections and thread switches
    everywhere, including inside host callbacks."""
    old_threshold, old_interval = gc.get_threshold(), sys.getswitchinterval()
    gc.set_threshold(10, 1, 1)
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        gc.set_threshold(*old_threshold)
        sys.setswitchinterval(old_interval)


def all_at_once(n: int, body: Callable[[int], Any]) -> list[Any]:
    """Run body(i) in n threads released together by a barrier; re-raise the first error."""
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n
    errors: list[BaseException] = []

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = body(i)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,), name=f"check-{i}") for i in range(n)]
    run_all(threads, errors)
    return results


ARITH = check_wat("arith")


def _f32(x: float) -> float:
    return struct.unpack("f", struct.pack("f", x))[0]


def check_results(ctx: CheckContext) -> None:
    """add(a, b) for every value type, edges included: wrap-around and f32 rounding."""
    store, ex = ctx.instance(ARITH)
    cases = [
        ("add_i32", (2, 3), 5), ("add_i32", (2**31 - 1, 1), -(2**31)), ("add_i32", (-7, 2), -5),
        ("add_i64", (2, 3), 5), ("add_i64", (2**63 - 1, 1), -(2**63)),
        ("add_f32", (1.5, 2.25), 3.75), ("add_f32", (0.1, 0.2), _f32(_f32(0.1) + _f32(0.2))),
        ("add_f64", (2.0, 3.0), 5.0), ("add_f64", (0.1, 0.2), 0.1 + 0.2),
    ]  # fmt: skip
    wrong = []
    for export, args, want in cases:
        got = ctx.call(store, ex[export], *args)
        if ctx.sabotage and isinstance(got, int):
            got += 1  # a binding that converts integers off by one
        if got != want:
            wrong.append(f"{export}{args} = {got!r}, want {want!r}")
    if wrong:
        raise CheckFailed("; ".join(wrong))


MARK = check_wat("mark")

PROGRESS_THRESHOLD = 0.25
# a run-queue share under this barely moves the reading: the check judges it as corrected
QUEUED_MATTERS = 0.2


def check_lock_released(ctx: CheckContext) -> None:
    """A sibling Python thread advances during the call when released, and does not when
    held. 'Advances' means at least a quarter of its rate alone; held, it can only slip in at
    the two host callbacks (a switch interval each, of a ~0.1 s call: about 0.04).

    The rate is of the time the OS could run the sibling: on a busy machine a released
    sibling sits in the run queue, runnable but not run (schedstat's run delay), which is the
    machine's doing, not the lock's. Held, it sleeps on the GIL, but wakes every switch
    interval to ask for it, and on a loaded box each wake queues too: where the queue's share
    is large (QUEUED_MATTERS) and alone decides which side of the threshold the reading falls
    on, the check is N/A (the machine was busy), never a verdict."""
    from gvlbench.binding.measure import Sibling

    released = ctx.mode.parallel
    ctx = _maybe_other_discipline(ctx)
    sibling = Sibling()
    marks: list[tuple[int, float, int | None]] = []
    try:
        queued = _run_queue_ns(sibling.native_id)
        store, ex = ctx.instance(MARK, {"host.mark": (["i32"], [], lambda k: marks.append(
            (sibling.count, time.perf_counter(), queued())))})  # fmt: skip
        ctx.call(store, ex["run"], 1000)
        alone = sibling.rate_alone(0.1)
        marks.clear()
        ctx.call(store, ex["run"], 300_000_000)
    finally:
        sibling.stop()
    (c0, t0, q0), (c1, t1, q1) = marks
    ratio = (c1 - c0) / (t1 - t0) / alone
    machine = 0.0 if q0 is None or q1 is None else min((q1 - q0) / 1e9 / (t1 - t0), 1.0)
    ctx.notes.append(
        f"sibling progress {ratio:.3f}"
        + (f" (not run by the OS {machine:.0%} of the call)" if machine else "")
    )
    if machine > 0.9:
        raise NotApplicable(f"the machine was busy: the OS ran the sibling only {1 - machine:.0%}"
                            " of the call, so the lock's part cannot be told")  # fmt: skip
    ran = ratio / (1 - machine)
    if machine >= QUEUED_MATTERS and (ratio < PROGRESS_THRESHOLD) != (ran < PROGRESS_THRESHOLD):
        # the queue's share decides, and it is not only a released sibling's: a sibling
        # waiting for a held GIL wakes every switch interval, and on a loaded box each wake
        # queues (a sabotaged, held call read 0.155 over the call, 0.31 of the time it ran)
        raise NotApplicable(f"the machine was busy: the sibling advanced {ratio:.3f} of its solo "
                            f"rate over the call and {ran:.3f} of the time the OS ran it, on "
                            f"either side of {PROGRESS_THRESHOLD}, so the lock's part cannot be "
                            "told")  # fmt: skip
    ratio = ran
    if released and ratio < PROGRESS_THRESHOLD:
        raise CheckFailed(f"released, yet the sibling advanced only {ratio:.3f} of its solo rate")
    if not released and ratio >= PROGRESS_THRESHOLD:
        raise CheckFailed(f"held, yet the sibling advanced {ratio:.3f} of its solo rate")


def _run_queue_ns(native_id: int) -> Callable[[], int | None]:
    """A reader of a thread's run delay (ns runnable but not run, from the kernel's
    schedstat), or of None where there is no such file (not Linux)."""
    path = f"/proc/self/task/{native_id}/schedstat"

    def read() -> int | None:
        try:
            with open(path, "rb") as f:
                return int(f.read().split()[1])
        except (OSError, ValueError, IndexError):
            return None

    return read


def _maybe_other_discipline(ctx: CheckContext) -> CheckContext:
    """The sabotage of the lock checks: a binding that takes the other lock discipline than
    the one asked for (the expectation stays the one asked for)."""
    if not ctx.sabotage:
        return ctx
    if not ctx.mode.has_gil:
        raise NotApplicable("the sabotage takes the other lock discipline, and a free-threaded "
                            "build has only one")  # fmt: skip
    other = Mode.RELEASED if ctx.mode is Mode.HELD else Mode.HELD
    return CheckContext(other, ctx.call_path, ctx.threads, False, ctx.notes)


CALLBACK = check_wat("callback")


def check_callback(ctx: CheckContext) -> None:
    """The host import re-enters Python during the call, on the calling thread, and its
    value comes back: host_add(41) == 42."""
    seen: list[int] = []

    def add(x: int) -> int:
        seen.append(threading.get_ident())
        return x + (2 if ctx.sabotage else 1)

    store, ex = ctx.instance(CALLBACK, {"host.add": (["i32"], ["i32"], add)})
    got = ctx.call(store, ex["run"], 1_000_000)
    if got != 42:
        raise CheckFailed(f"run() = {got!r}, want 42")
    if seen != [threading.get_ident()]:
        raise CheckFailed(f"the callback ran {len(seen)} time(s), not once on the caller")


CALLBACKS = check_wat("callbacks")


def check_callbacks_concurrent(ctx: CheckContext) -> None:
    """N threads at once, each with its own Store, each call making 200 callbacks that
    allocate and sometimes collect, under GC stress: every thread gets every answer right."""

    def body(i: int) -> list[str]:
        def add(x: int) -> int:
            junk = [object() for _ in range(8)]  # garbage for the collector
            if x % 50 == 0:
                gc.collect()
            del junk
            return x + (2 if ctx.sabotage and i == 0 else 1)

        store, ex = ctx.instance(CALLBACKS, {"host.add": (["i32"], ["i32"], add)})
        wrong = []
        for _ in range(5):
            got = ctx.call(store, ex["run"], 200)
            if got != 20100:
                wrong.append(f"thread {i}: run(200) = {got}, want 20100")
        return wrong

    with gc_stress():
        wrong = [w for ws in all_at_once(ctx.threads, body) for w in ws]
    if wrong:
        raise CheckFailed("; ".join(wrong[:3]))


RAISING = check_wat("raising")


class HostError(Exception):
    """Raised by the checks' host callbacks; carries who raised it."""


def check_exception(ctx: CheckContext) -> None:
    """A host-callback exception reaches the caller as itself: class, message, traceback."""
    token = f"boom-{time.perf_counter_ns()}"

    def f(x: int) -> int:
        if ctx.sabotage:
            return 0  # a host wrapper that swallows the exception
        raise HostError(token)

    store, ex = ctx.instance(RAISING, {"host.f": (["i32"], ["i32"], f)})
    try:
        got = ctx.call(store, ex["run"], 1)
    except HostError as exc:
        if str(exc) != token:
            raise CheckFailed(f"message {str(exc)!r}, want {token!r}") from None
        frames = []
        tb = exc.__traceback__
        while tb is not None:
            frames.append(tb.tb_frame.f_code.co_name)
            tb = tb.tb_next
        if "f" not in frames:
            raise CheckFailed(f"the traceback lacks the callback's frame: {frames}") from None
        return
    except BaseException as exc:
        raise CheckFailed(f"got {type(exc).__name__}: {exc}, want HostError") from None
    raise CheckFailed(f"no exception; the call returned {got!r}")


WRONG_ARITY = {
    "one result declared, two returned": (["i32"], lambda x: (x, x)),
    "two results declared, one returned": (["i32", "i32"], lambda x: x),
    "no result declared, one returned": ([], lambda x: x),
}


def _arity_module(results: list[str]) -> str:
    return check_wat(f"arity_{len(results)}")


def check_wrong_arity(ctx: CheckContext) -> None:
    """A callback returning the wrong number of results raises a clear error: an exception
    whose message says the results do not match, not a crash and not an unrelated TypeError."""
    unclear = []
    for case, (results, fn) in WRONG_ARITY.items():
        if ctx.sabotage:  # a host that always returns what it declared: no error to report
            fn = (lambda r: lambda x: tuple(x for _ in r) if len(r) > 1 else (x if r else None))(
                results
            )
        store, ex = ctx.instance(_arity_module(results), {"host.f": (["i32"], results, fn)})
        try:
            ctx.call(store, ex["run"], 1)
        except Exception as exc:
            if "result" not in str(exc).lower():
                unclear.append(f"{case}: {type(exc).__name__}: {exc}")
            continue
        unclear.append(f"{case}: no error at all")
    if unclear:
        raise CheckFailed("; ".join(unclear))


TRAP = check_wat("trap")


def check_trap(ctx: CheckContext) -> None:
    """`unreachable` raises a Trap that says so: its code and its message."""
    store, ex = ctx.instance(TRAP)
    try:
        ctx.call(store, ex["nop" if ctx.sabotage else "trap"])
    except wasmtime.Trap as trap:
        if trap.trap_code is not wasmtime.TrapCode.UNREACHABLE:
            raise CheckFailed(f"trap code {trap.trap_code}, want UNREACHABLE") from None
        if "unreachable" not in str(trap):
            raise CheckFailed(f"trap message {str(trap)!r} does not say unreachable") from None
        return
    raise CheckFailed("no trap: the call returned normally")


def check_exceptions_concurrent(ctx: CheckContext) -> None:
    """N threads at once, each raising its own exception (carrying its thread id) from a host
    callback, 200 times, under GC stress: every thread gets exactly its own exception back."""

    def body(i: int) -> list[str]:
        me = threading.get_ident()

        def f(x: int) -> int:
            raise HostError(0 if ctx.sabotage else me)

        store, ex = ctx.instance(RAISING, {"host.f": (["i32"], ["i32"], f)})
        wrong = []
        for _ in range(200):
            try:
                ctx.call(store, ex["run"], 1)
                wrong.append("no exception")
            except HostError as exc:
                if exc.args[0] != me:
                    wrong.append("another thread's exception")
            except BaseException as exc:
                wrong.append(f"{type(exc).__name__}")
        return wrong

    with gc_stress():
        per_thread = all_at_once(ctx.threads, body)
    bad = sum(len(w) for w in per_thread)
    if bad:
        kinds: dict[str, int] = {}
        for w in (w for ws in per_thread for w in ws):
            kinds[w] = kinds.get(w, 0) + 1
        seen = ", ".join(f"{n}x {k}" for k, n in sorted(kinds.items()))
        raise CheckFailed(f"{bad} of {200 * ctx.threads} calls got the wrong outcome: {seen}")


HANDOFF_S = 1.5  # how long the threads raise, unless a TypeError shows first (about 1 call in
# 10,000 shows it on 3.13t with 4 threads on 2 cores: 0.5 s caught it in 0 of 5 repeats)


def check_exception_handoff(ctx: CheckContext) -> None:
    """A host callback's exception reaches its caller as an exception at all: never as
    `TypeError: exceptions must derive from BaseException`. wasmtime-py's
    maybe_raise_last_exn checks the module global LAST_EXCEPTION, then reads it again; a
    thread that clears it in between (its own hand-off) leaves the first to `raise None`.
    No GIL build can switch threads between those bytecodes; a free-threaded one runs them
    at once (docs/findings/free_threaded_typeerror.py). The sabotage forces the interleaving
    with a line trace, which any build reproduces."""
    if ctx.sabotage:
        outcomes = _forced_handoff(ctx)
    else:
        outcomes = _raising_threads(ctx, max(ctx.threads, 4), HANDOFF_S)
    raised_none = outcomes.get("TypeError", 0)
    total = sum(outcomes.values())
    ctx.notes.append(f"{total} calls, {raised_none} TypeError")
    if raised_none:
        raise CheckFailed(f"{raised_none} of {total} calls raised TypeError (raise None): "
                          "another thread cleared wasmtime._func.LAST_EXCEPTION between "
                          "maybe_raise_last_exn's check and its read")  # fmt: skip


def _raising_call(ctx: CheckContext) -> Callable[[], str]:
    """A call on a Store of its own whose import raises: returns the outcome's type name."""

    def f(x: int) -> int:
        raise HostError(threading.get_ident())

    store, ex = ctx.instance(RAISING, {"host.f": (["i32"], ["i32"], f)})

    def call() -> str:
        try:
            ctx.call(store, ex["run"], 1)
        except BaseException as exc:  # every outcome is counted
            return type(exc).__name__
        return "no exception"

    return call


def _raising_threads(ctx: CheckContext, n: int, seconds: float) -> Counter[str]:
    """n threads calling at once until `seconds` pass or one sees a TypeError."""
    shown, deadline = threading.Event(), time.monotonic() + seconds

    def body(i: int) -> Counter[str]:
        call, mine = _raising_call(ctx), Counter[str]()
        while not shown.is_set() and time.monotonic() < deadline:
            for _ in range(100):
                mine[call()] += 1
            if mine["TypeError"]:
                shown.set()
        return mine

    return sum(all_at_once(n, body), Counter())


def _forced_handoff(ctx: CheckContext) -> Counter[str]:
    """Thread A stops where maybe_raise_last_exn first stores a local (after its check) until
    thread B has made one whole call; then A goes on."""
    import dis

    from wasmtime import _func

    code = _func.maybe_raise_last_exn.__code__
    store_fast = next(i for i in dis.get_instructions(code) if i.opname == "STORE_FAST")
    pause = store_fast.positions.lineno if store_fast.positions else None
    go, done = threading.Event(), threading.Event()

    def local(frame: Any, event: str, arg: Any) -> Any:
        if event == "line" and frame.f_lineno == pause and not go.is_set():
            go.set()
            done.wait(5)
        return local

    def body(i: int) -> str:
        call = _raising_call(ctx)
        if i == 0:
            sys.settrace(lambda frame, event, arg: local if frame.f_code is code else None)
            try:
                return call()
            finally:
                sys.settrace(None)
        go.wait(5)
        try:
            return call()
        finally:
            done.set()

    return Counter(all_at_once(2, body))


def check_base_exception(ctx: CheckContext) -> None:
    """KeyboardInterrupt and SystemExit raised in a callback reach the caller as themselves."""
    for exc_type, arg in ((KeyboardInterrupt, "kbd"), (SystemExit, 3)):

        def f(x: int, exc_type: type = exc_type, arg: Any = arg) -> int:
            if ctx.sabotage:
                raise RuntimeError("wrapped")  # a host layer that converts what it catches
            raise exc_type(arg)

        store, ex = ctx.instance(RAISING, {"host.f": (["i32"], ["i32"], f)})
        try:
            ctx.call(store, ex["run"], 1)
        except exc_type as exc:
            if exc.args != (arg,):
                raise CheckFailed(f"{exc_type.__name__} args {exc.args}, want {(arg,)}") from None
            continue
        except BaseException as exc:
            raise CheckFailed(f"got {type(exc).__name__}, want {exc_type.__name__}") from None
        raise CheckFailed(f"no exception, want {exc_type.__name__}")


SPIN = check_wat("spin")


def check_interrupt(ctx: CheckContext) -> None:
    """A Python watchdog thread stops a runaway call with epoch interruption (released).

    Held, the watchdog cannot run at all while the call is in Wasm: the check asserts that
    too (the bounded 'runaway' completes uninterrupted: had the watchdog run during it, the
    epoch would have moved and the call trapped). So held mode needs a watchdog that is not
    Python (or a deadline set before the call)."""
    mode = ctx.mode
    ctx = _maybe_other_discipline(ctx)
    config = wasmtime.Config()
    config.epoch_interruption = True
    engine = wasmtime.Engine(config)
    store, ex = ctx.instance(SPIN, engine=engine)
    store.set_epoch_deadline(1)
    fired: list[float] = []

    def watchdog() -> None:
        time.sleep(0.05)
        fired.append(time.perf_counter())
        engine.increment_epoch()

    t = threading.Thread(target=watchdog, name="watchdog")
    start = time.perf_counter()
    t.start()
    try:
        ctx.call(store, ex["spin"], 600_000_000)  # about 0.2 s of Wasm, 4x the watchdog's delay
        outcome = "returned"
    except wasmtime.Trap as trap:
        outcome = "interrupted" if trap.trap_code is wasmtime.TrapCode.INTERRUPT else str(trap)
    end = time.perf_counter()
    t.join()
    ctx.notes.append(f"{outcome} after {end - start:.2f} s; the watchdog woke "
                     f"{fired[0] - start:.2f} s after the call began")  # fmt: skip
    if mode.parallel and outcome != "interrupted":
        raise CheckFailed(f"{mode}: the watchdog did not stop the call ({outcome})")
    if mode is Mode.HELD and outcome != "returned":
        raise CheckFailed(f"held: a Python watchdog got in during the call ({outcome})")


GROW = check_wat("grow")
LIMIT_PAGES = 4


def check_limits(ctx: CheckContext) -> None:
    """N threads at once, each with its own Store limited to 4 pages, grow 1 page at a time:
    every grow past the limit returns -1, the host's Memory.grow raises, nothing crashes."""

    def body(i: int) -> list[str]:
        store, ex = ctx.instance(GROW)
        if not ctx.sabotage:
            store.set_limits(memory_size=LIMIT_PAGES * 65536)
        got = [ctx.call(store, ex["grow1"]) for _ in range(10)]
        want = [*range(1, LIMIT_PAGES), *[-1] * (10 - LIMIT_PAGES + 1)]
        wrong = [] if got == want else [f"thread {i}: grow results {got}, want {want}"]
        try:
            ex["mem"].grow(store, 1)
            wrong.append(f"thread {i}: the host's Memory.grow passed the limit")
        except wasmtime.WasmtimeError:
            pass
        size = ex["mem"].size(store)
        if size != LIMIT_PAGES:
            wrong.append(f"thread {i}: {size} pages, limit {LIMIT_PAGES}")
        return wrong

    wrong = [w for ws in all_at_once(ctx.threads, body) for w in ws]
    if wrong:
        raise CheckFailed("; ".join(wrong[:3]))


# The binding's own Python code, raced: many threads on ONE Engine (legal to share, as is a
# Module; a Store is not shared, and is not here), each with its own Stores, at once. Under a
# GIL the races are narrow (tiny switch interval, collections everywhere); on a free-threaded
# build wasmtime-py's Python runs on every thread at the same time. Each aims at state the
# threads share in wasmtime-py: the module-global slabs of host callbacks (_func.FUNCTIONS,
# allocated by define_func and Func, freed by finalizers on whichever thread collects) and of
# Store data and externrefs (_value.SLAB), the shared Engine, Module and Linker wrappers, the
# ctypes types each call builds, and the per-Instance lazily built exports.
RACE_THREADS = 8  # at least this many, whatever --threads says: fewer rarely show a race
RACE_S = 0.3  # how long the threads loop, together


def race_threads(ctx: CheckContext) -> int:
    return max(ctx.threads, RACE_THREADS)


Wrong = str | tuple[str, str] | None  # what went wrong: a kind, or (kind, first example)


def race(ctx: CheckContext, what: str, body: Callable[[int, int], Wrong]) -> None:
    """body(i, n) for attempt n of thread i, on race_threads() threads released together by a
    barrier, each looping for RACE_S seconds under GC stress. It returns None when the attempt
    was right, else what was wrong; an exception is wrong too, with the wasmtime-py line it
    was raised at. Fails naming each kind of wrong outcome and how often, of all attempts."""
    threads = race_threads(ctx)

    def loop(i: int) -> tuple[int, list[tuple[str, str]]]:
        n, wrong = 0, []
        deadline = time.perf_counter() + RACE_S
        while time.perf_counter() < deadline:
            try:
                seen = body(i, n)
            except Exception as exc:
                seen = _raised(exc)
            if seen:
                wrong.append((seen, seen) if isinstance(seen, str) else seen)
            n += 1
        return n, wrong

    with gc_stress():
        per_thread = all_at_once(threads, loop)
    attempts = sum(n for n, _ in per_thread)
    kinds: Counter[str] = Counter()
    example: dict[str, str] = {}
    for kind, ex in (w for _, ws in per_thread for w in ws):
        kinds[kind] += 1
        example.setdefault(kind, ex)
    bad = sum(kinds.values())
    ctx.notes.append(f"{attempts - bad} of {attempts} {what} right, {threads} threads")
    if bad:
        seen = "; ".join(f"{n}x {k}" + (f" ({example[k]})" if example[k] != k else "")
                         for k, n in kinds.most_common(3))  # fmt: skip
        more = f"; and {len(kinds) - 3} other kinds" if len(kinds) > 3 else ""
        raise CheckFailed(f"{bad} of {attempts} {what} went wrong: {seen}{more}")


def _raised(exc: Exception) -> tuple[str, str]:
    """An exception as a kind of wrong outcome: its class and the innermost line of
    wasmtime-py it passed through (else the innermost line at all)."""
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if "/wasmtime/" in f.filename.replace("\\", "/")]
    at = (ours or frames)[-1:] or []
    where = "".join(f" at {f.filename.rsplit('/', 1)[-1]}:{f.lineno}" for f in at)
    return f"raised {type(exc).__name__}{where}", f"{type(exc).__name__}: {str(exc)[:80]}"


CONSTANT = check_wat("constant")  # a template: {k}, the constant k() returns; {pad}, data


def check_compile_concurrent(ctx: CheckContext) -> None:
    """Many threads compile modules on one shared Engine at once (wasmtime.Module from text,
    from binary, and Module.deserialize of a serialized one), each module its own constant and
    size: each, instantiated in the thread's own Store and called, returns its own constant."""
    engine = wasmtime.Engine()

    def body(i: int, n: int) -> Wrong:
        k = (i + 1) * 1_000_003 + n * 7  # unique per (thread, attempt)
        made = k + 7 if ctx.sabotage and i == 0 else k  # a compile that hands back another's
        wat = CONSTANT.format(k=made, pad="." * ((i * 131 + n * 17) % 1500))
        how = n % 3
        if how == 0:
            module = wasmtime.Module(engine, wat)
        elif how == 1:
            module = wasmtime.Module(engine, wasmtime.wat2wasm(wat))
        else:
            blob = wasmtime.Module(engine, wasmtime.wat2wasm(wat)).serialize()
            module = wasmtime.Module.deserialize(engine, blob)
        names = [e.name for e in module.exports]
        if names != ["k"]:
            return "a module with the wrong exports", f"{names}, want ['k']"
        store = wasmtime.Store(engine)
        got = ctx.call(store, wasmtime.Instance(store, module, []).exports(store)["k"])
        if got != k:
            way = ("from text", "from binary", "deserialized")[how]
            return f"a module compiled {way} returned another constant", f"{got}, want {k}"
        return None

    race(ctx, "compiles", body)


class StoreTag:
    """A Store's data: one object per Store, truthy (wasmtime-py drops falsy data)."""

    def __init__(self, i: int, n: int):
        self.i, self.n = i, n

    def __repr__(self) -> str:
        return f"StoreTag({self.i}, {self.n})"


def check_stores_concurrent(ctx: CheckContext) -> None:
    """Many threads create Stores on one shared Engine (fuel on) at once, each Store with its
    own data object, and use them: data() is that very object (also for the thread's last few
    Stores, kept while others come and go), get_fuel() what set_fuel() set, and one call burns
    as much fuel as it does alone."""
    config = wasmtime.Config()
    config.consume_fuel = True
    engine = wasmtime.Engine(config)
    module = wasmtime.Module(engine, wasmtime.wat2wasm(SPIN))
    alone = wasmtime.Store(engine)
    alone.set_fuel(1_000_000)
    ctx.call(alone, wasmtime.Instance(alone, module, []).exports(alone)["spin"], 100)
    burn = 1_000_000 - alone.get_fuel()
    kept: dict[int, list[tuple[wasmtime.Store, StoreTag]]] = {}

    def body(i: int, n: int) -> Wrong:
        tag = StoreTag(i, n)
        given = StoreTag(i, n + 1) if ctx.sabotage and i == 0 else tag  # another's data
        store = wasmtime.Store(engine, data=given)
        fuel = 10_000 + n
        store.set_fuel(fuel)
        if store.get_fuel() != fuel:
            return "get_fuel() is not what set_fuel() set", f"{store.get_fuel()}, want {fuel}"
        spin = wasmtime.Instance(store, module, []).exports(store)["spin"]
        ctx.call(store, spin, 100)
        if fuel - store.get_fuel() != burn:
            return "a call burned another amount of fuel", f"{fuel - store.get_fuel()}, want {burn}"
        mine = kept.setdefault(i, [])
        mine.append((store, tag))
        if len(mine) > 4:
            mine.pop(n % 4)  # Stores die out of order, their data freed by finalizers
        for s, t in mine:
            data = s.data()
            if data is not t:
                kind = "another Store's object" if isinstance(data, StoreTag) else repr(data)
                return f"Store.data() returned {kind}", f"{data!r}, want {t!r}"
        if wasmtime.Store(engine).data() is not None:
            return "a Store made without data has data"
        return None

    race(ctx, "Stores", body)
    kept.clear()


def _i32_func_type() -> wasmtime.FuncType:
    return wasmtime.FuncType([wasmtime.ValType.i32()], [wasmtime.ValType.i32()])


def check_linkers_concurrent(ctx: CheckContext) -> None:
    """Many threads, each making a Linker per attempt on one shared Engine, define the import
    host.add as a closure of their own (Linker.define_func, define_func with access_caller, or
    Func in the Store plus Linker.define: each takes a handle in wasmtime-py's global slab of
    callbacks, freed by a finalizer) and instantiate one shared Module: run(10) sums the
    thread's own callback's answers, every callback on the calling thread."""
    engine = wasmtime.Engine()
    module = wasmtime.Module(engine, wasmtime.wat2wasm(CALLBACKS))
    ways = ("define_func", "define_func(access_caller=True)", "Func + define")

    def body(i: int, n: int) -> Wrong:
        k = i * 100_000 + n
        me = threading.get_ident()
        ran: list[int] = []

        def add(x: int) -> int:
            ran.append(threading.get_ident())
            return x + k + (1 if ctx.sabotage and i == 0 else 0)

        store = wasmtime.Store(engine)
        linker = wasmtime.Linker(engine)
        how = n % 3
        if how == 0:
            linker.define_func("host", "add", _i32_func_type(), add)
        elif how == 1:
            linker.define_func("host", "add", _i32_func_type(),
                               lambda caller, x: add(x), access_caller=True)  # fmt: skip
        else:
            linker.define(store, "host", "add", wasmtime.Func(store, _i32_func_type(), add))
        run = linker.instantiate(store, module).exports(store)["run"]
        got = ctx.call(store, run, 10)
        want = 45 + 10 * k
        if got != want:
            return f"run(10) with {ways[how]} got wrong callback answers", f"{got}, want {want}"
        if ran != [me] * 10:
            off = sum(t != me for t in ran)
            return "the callback did not run 10 times on the caller", f"{len(ran)} runs, {off} off"
        return None

    race(ctx, "instantiations through own Linkers", body)


def check_shared_linker(ctx: CheckContext) -> None:
    """One Linker on one Engine, host.add defined once before the threads start, then only
    read by many threads at once: each instantiates the shared Module into its own Stores
    (Linker.instantiate, and an InstancePre the Linker made) or takes host.add from it
    (Linker.get) and calls: every answer is right and every callback runs on its caller."""
    engine = wasmtime.Engine()
    module = wasmtime.Module(engine, wasmtime.wat2wasm(CALLBACKS))
    calls = threading.local()

    def add(x: int) -> int:
        calls.n = getattr(calls, "n", 0) + 1
        return x + (2 if ctx.sabotage else 1)

    linker = wasmtime.Linker(engine)
    linker.define_func("host", "add", _i32_func_type(), add)
    pre = linker.instantiate_pre(module)
    ways = ("Linker.instantiate", "InstancePre.instantiate", "Linker.get")

    def body(i: int, n: int) -> Wrong:
        store = wasmtime.Store(engine)
        how = n % 3
        before = getattr(calls, "n", 0)
        if how == 2:
            func = linker.get(store, "host", "add")
            if not isinstance(func, wasmtime.Func):
                return "Linker.get returned no Func", type(func).__name__
            got, want, ran = ctx.call(store, func, 41), 42, 1
        else:
            instance = linker.instantiate(store, module) if how == 0 else pre.instantiate(store)
            got, want, ran = ctx.call(store, instance.exports(store)["run"], 10), 55, 10
        if got != want:
            return f"a call through {ways[how]} got a wrong answer", f"{got}, want {want}"
        if getattr(calls, "n", 0) - before != ran:
            return f"the callbacks through {ways[how]} did not all run on the caller"
        return None

    race(ctx, "calls through one shared Linker", body)


SIGNATURES = check_wat("signatures")
SIGNATURE_OF = {  # each export of signatures.wat: (params, results), as ValType str()s
    "nothing": ([], []),
    "i32_i32": (["i32"], ["i32"]),
    "i64_i32_i64": (["i64", "i32"], ["i64"]),
    "f32x3_f32": (["f32", "f32", "f32"], ["f32"]),
    "mixed": (["f64", "i64", "i32", "f32"], ["f64", "i32"]),
    "f64_none": (["f64"], []),
}


def _signature(ty: wasmtime.FuncType) -> tuple[list[str], list[str]]:
    return [str(p) for p in ty.params], [str(r) for r in ty.results]


def check_func_types_concurrent(ctx: CheckContext) -> None:
    """Many threads, each with its own instances of one shared Module, ask every export's
    type at once (Func.type(store), its params and results) and the shared Module's own
    export types (Module.exports), and call the two-result export: every answer is the
    declared signature, every call's results right."""
    engine = wasmtime.Engine()
    module = wasmtime.Module(engine, wasmtime.wat2wasm(SIGNATURES))
    mine: dict[int, tuple[wasmtime.Store, Any]] = {}

    def body(i: int, n: int) -> Wrong:
        if n % 8 == 0:  # a fresh Store and instance now and then
            store = wasmtime.Store(engine)
            mine[i] = store, wasmtime.Instance(store, module, []).exports(store)
        store, exports = mine[i]
        for name, want in SIGNATURE_OF.items():
            got = _signature(exports[name].type(store))
            if ctx.sabotage and i == 0:
                got = (got[0][:-1], got[1])  # a binding that drops the last parameter
            if got != want:
                return f"Func.type of {name} is wrong", f"{got}, want {want}"
        declared = {e.name: _signature(e.type) for e in module.exports}  # type: ignore[arg-type]
        if declared != SIGNATURE_OF:
            return "the shared Module's export types are wrong", f"{declared}"
        got = ctx.call(store, exports["mixed"], 1.5, 7, i, 2.5)
        if got != [1.5, i]:
            return "mixed(...) returned wrong results", f"{got}, want [1.5, {i}]"
        return None

    race(ctx, "type lookups", body)
    mine.clear()


EXPORTS = check_wat("exports")
EXPORT_KINDS = {"f0": wasmtime.Func, "mem": wasmtime.Memory, "f1": wasmtime.Func,
                "g": wasmtime.Global, "f2": wasmtime.Func, "tab": wasmtime.Table,
                **{f"f{j}": wasmtime.Func for j in range(3, 8)}}  # fmt: skip


def check_exports_concurrent(ctx: CheckContext) -> None:
    """Many threads, each with its own instances of one shared Module, at once: fresh
    instances build their exports (lazily, on the first Instance.exports call), then every
    lookup by name and by index gives the right export: same object both ways, right kind,
    names in module order; each fN() returns N, g is 77, mem 2 pages, tab 3 entries."""
    engine = wasmtime.Engine()
    module = wasmtime.Module(engine, wasmtime.wat2wasm(EXPORTS))
    names = list(EXPORT_KINDS)
    mine: dict[int, tuple[wasmtime.Store, wasmtime.Instance]] = {}

    def body(i: int, n: int) -> Wrong:
        if n % 4 == 0:
            store = wasmtime.Store(engine)
            mine[i] = store, wasmtime.Instance(store, module, [])
        store, instance = mine[i]
        ex = instance.exports(store)
        if ex is not instance.exports(store):
            return "Instance.exports returned a new mapping the second time"
        by_index = ex.by_index[::-1] if ctx.sabotage and i == 0 else ex.by_index  # misordered
        if list(ex) != names or len(ex) != len(names) or len(by_index) != len(names):
            return "the export names are wrong", f"{list(ex)}, want {names}"
        for j, name in enumerate(names):
            item = ex[name]
            if by_index[j] is not item:
                return f"by_index[{j}] is not exports[{name!r}]"
            if not isinstance(item, EXPORT_KINDS[name]):
                return f"exports[{name!r}] is a {type(item).__name__}"
        for j in (n % 8, (n + 3) % 8):
            got = ctx.call(store, ex[f"f{j}"])
            if got != j:
                return "a function export answered for another", f"f{j}() = {got}"
        if ex["g"].value(store) != 77 or ex["mem"].size(store) != 2 or ex["tab"].size(store) != 3:
            return "a global, memory or table export is wrong"
        if "nosuch" in ex or ex.get("nosuch") is not None:
            return "a name the module does not export was found"
        return None

    race(ctx, "export lookups", body)
    mine.clear()


def check_component_results(ctx: CheckContext) -> None:
    """A Store per thread keeps each thread's component results its own (component_checks)."""
    from gvlbench.worker import component_checks  # it imports this module's helpers

    component_checks.check_component_results(ctx)


def check_component_exceptions(ctx: CheckContext) -> None:
    """A component callback's exception reaches its own caller (component_checks)."""
    from gvlbench.worker import component_checks

    component_checks.check_component_exceptions(ctx)


CHECK_FUNCTIONS: dict[str, Callable[[CheckContext], None]] = {
    "results": check_results,
    "lock-released": check_lock_released,
    "callback": check_callback,
    "callbacks-concurrent": check_callbacks_concurrent,
    "exception": check_exception,
    "wrong-arity": check_wrong_arity,
    "trap": check_trap,
    "exceptions-concurrent": check_exceptions_concurrent,
    "exception-handoff": check_exception_handoff,
    "base-exception": check_base_exception,
    "interrupt": check_interrupt,
    "limits": check_limits,
    "compile-concurrent": check_compile_concurrent,
    "stores-concurrent": check_stores_concurrent,
    "linkers-concurrent": check_linkers_concurrent,
    "shared-linker": check_shared_linker,
    "func-types-concurrent": check_func_types_concurrent,
    "exports-concurrent": check_exports_concurrent,
    "component-results": check_component_results,
    "component-exceptions": check_component_exceptions,
}


def run_check(task: CheckTask) -> dict[str, Any]:
    """The child's side: run one check `repeat` times and count the failures."""
    check = CHECK_FUNCTIONS[task.check]
    patches.apply(task.patches, task.mode)
    failures: list[str] = []
    notes: list[str] = []
    failed = 0
    start = time.perf_counter()
    not_applicable = ""
    for _ in range(task.repeat):
        ctx = CheckContext(task.mode, CallPath(task.call_path), task.threads, task.sabotage)
        try:
            check(ctx)
        except NotApplicable as exc:
            not_applicable = str(exc)
            break
        except CheckFailed as exc:
            failed += 1
            if len(failures) < 5:
                failures.append(str(exc))
        notes = ctx.notes or notes
    return {"check": task.check, "mode": str(task.mode), "repeat": task.repeat,
            "failed": failed, "failures": failures, "notes": notes,
            "elapsed_s": time.perf_counter() - start,
            **({"not_applicable": not_applicable} if not_applicable else {})}  # fmt: skip
