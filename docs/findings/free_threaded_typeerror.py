"""On free-threaded CPython, a Wasm call whose host import raised can fail with a TypeError.

Found by `exceptions-concurrent` (gvlbench/worker/checks.py) on CPython 3.13t: besides the
known wrong outcomes of wasmtime-py's module-global LAST_EXCEPTION (another thread's exception,
or a bare WasmtimeError("... python exception")), some calls fail with an error that a GIL
build never gives; reproduced here with nothing but wasmtime-py 50.0.1:

    File ".../wasmtime/_func.py", line 93, in __call__
      with enter_wasm(store) as trap:
    File ".../contextlib.py", line 162, in __exit__
      self.gen.throw(value)
    File ".../wasmtime/_func.py", line 240, in enter_wasm
      maybe_raise_last_exn()
    File ".../wasmtime/_func.py", line 250, in maybe_raise_last_exn
      raise exn
  TypeError: exceptions must derive from BaseException
  (chained "During handling of" the WasmtimeError that wasmtime_func_call returned, line 103)

The cause is wasmtime/_func.py, maybe_raise_last_exn (lines 244-250), which reads the global
twice: a check, then a second read:

    246    if LAST_EXCEPTION is None:
    247        return
    248    exn = LAST_EXCEPTION
    249    LAST_EXCEPTION = None
    250    raise exn

Thread A's callback sets LAST_EXCEPTION (line 214) and its call returns an error; A's line 246
sees an exception; thread B, whose callback also raised, runs its own line 249
(`LAST_EXCEPTION = None`); A's line 248 now reads None, and line 250 is `raise None`. Only
line 249 of some other thread can put None there, so this is the only interleaving that can
give the TypeError. `--forced` makes it happen on purpose, on any build: A is stopped (by a
line trace, wasmtime-py unchanged) just before line 248, B makes one whole call, and A goes on.

Why a GIL build never shows it: a thread holding the GIL gives it up only at an eval-breaker
check (function entry, backward jumps, calls) or in C code that releases it (every ctypes
call). Lines 246-250 compile to LOAD_GLOBAL, POP_JUMP_IF_NOT_NONE, LOAD_GLOBAL, STORE_FAST,
LOAD_CONST, STORE_GLOBAL, LOAD_FAST, RAISE_VARARGS: no such point, so no other Python thread
can run between the check and the read. The wrong outcomes that a GIL build does show come from
the other window, between line 214 (in the callback) and line 246. That window spans the ctypes
callback's return and wasmtime_func_call, which run without the GIL. Measured with a variant of
this script (4 threads x 5,000 calls, an i32 -> i32 import): 3.12 and 3.11 gave 0 TypeErrors in
every run, and so did the free-threaded binary run with PYTHON_GIL=1. A copy of the function
with a no-op Python call between the check and the read (an eval-breaker point) still gave 0 in
5 runs each. A copy with time.sleep(0) there (which releases the GIL) gave 5,811 (3.12) and
6,494 (3.11) of 20,000 calls.

The fix: hand the exception over per thread, as gvlbench's `thread-local-exceptions` patch
(gvlbench/binding/patches.py -> internals.use_thread_local_exceptions) does: the trampoline
stores it in a threading.local, and the re-raise reads that slot once into a local. No other
thread can touch the slot, so it fixes the TypeError along with the wrong-thread and bare-
WasmtimeError outcomes. `--patched` applies the same idea here. Reading the global once
(`exn = LAST_EXCEPTION; if exn is None: return`) removes only the TypeError: threads still
take each other's exceptions. component/_enter.py lines 37-43 have the same check-then-read
on their own global. The gvlbench patch does not cover component calls.

    python docs/findings/free_threaded_typeerror.py             # 3.13t: exit 1, "TypeError N"
    python docs/findings/free_threaded_typeerror.py --patched   # 3.13t: exit 0, all own
    python docs/findings/free_threaded_typeerror.py --forced    # any build: exit 1, 1 TypeError

It prints one line of counts per outcome, e.g. (3.13t)

    3.13.5 gil=False plain: 800 calls in 0.0 s: bare WasmtimeError 283, other thread's 275,
      own 241, TypeError 1 -> TypeError (exit 1)

Four threads, each with its own Store, call an export whose host import raises an exception
carrying the thread's id. The run stops at the first batch in which a TypeError shows, and
after at most 4 s otherwise. Exit 1 if any call got the TypeError and 0 if none did. The other
wrong outcomes belong to the known exceptions-concurrent defect and are counted but do not
change the exit code. Measured (2 cores, shared): 3.13t showed it in 10 of 10 runs (stopped
after 500-4,200 calls and under 0.3 s; a later run under load took 1.9 s); 3.12 and 3.11 in 0
of 5 runs each (about 45,000-90,000 calls a run); 3.13t with PYTHON_GIL=1 in 0 of 3; 3.13t
--patched in 0 of 5, with every call getting its own exception; --forced gave the TypeError on
3.13t, 3.12 and 3.11, and --forced --patched did not.
"""

import collections
import ctypes
import dis
import sys
import threading
import time

import wasmtime
from wasmtime import _func, _linker

PATCHED = "--patched" in sys.argv
FORCED = "--forced" in sys.argv
THREADS, BATCH, SECONDS = 4, 100, 4.0
WAT = '(module (import "host" "f" (func $f)) (func (export "run") (call $f)))'


class HostError(Exception):
    pass


if PATCHED:  # the `thread-local-exceptions` patch, restated: the hand-off kept per thread
    slot = threading.local()

    def trampoline(idx, caller, params, nparams, results, nresults):  # _func.py 188-218
        caller = _func.Caller(caller)
        try:
            func, result_tys, access_caller = _func.FUNCTIONS.get(idx or 0)
            pyparams = [caller] if access_caller else []
            pyparams += [
                _func.Val._from_raw(caller, params[i], owned=False).value for i in range(nparams)
            ]
            pyresults = func(*pyparams)
            if nresults == 0:
                if pyresults is not None:
                    raise wasmtime.WasmtimeError("callback produced results when it shouldn't")
            elif nresults == 1:
                results[0] = _func.Val._convert_to_raw(caller, result_tys[0], pyresults)
            else:
                if len(pyresults) != nresults:
                    raise wasmtime.WasmtimeError("callback produced wrong number of results")
                for i, result in enumerate(pyresults):
                    results[i] = _func.Val._convert_to_raw(caller, result_tys[i], result)
            return 0
        except BaseException as e:
            slot.value = e  # instead of the global LAST_EXCEPTION
            trap = wasmtime.Trap("python exception")._consume()
            return ctypes.cast(trap, ctypes.c_void_p).value
        finally:
            caller._invalidate()

    def maybe_raise_last_exn():
        exn = getattr(slot, "value", None)  # read once, and only this thread's
        if exn is not None:
            slot.value = None
            raise exn

    _func.trampoline = _linker.trampoline = type(_func.trampoline)(trampoline)
    _func.maybe_raise_last_exn = maybe_raise_last_exn


def name(outcome, me):
    if isinstance(outcome, HostError):
        return "own" if outcome.args[0] == me else "other thread's"
    if isinstance(outcome, wasmtime.WasmtimeError):
        return "bare WasmtimeError"
    return type(outcome).__name__ if outcome else "no exception"


def instance(engine, module, me):
    def f():
        raise HostError(me)

    store = wasmtime.Store(engine)
    linker = wasmtime.Linker(engine)
    linker.define_func("host", "f", wasmtime.FuncType([], []), f)
    return store, linker.instantiate(store, module).exports(store)["run"]


def call(store, run):
    try:
        run(store)
    except BaseException as exc:  # every outcome is counted
        return exc
    return None


def stress(engine, module, counts, lock):
    barrier, shown = threading.Barrier(THREADS), threading.Event()
    deadline = time.monotonic() + SECONDS

    def worker():
        me = threading.get_ident()
        store, run = instance(engine, module, me)
        mine = collections.Counter()
        barrier.wait()
        while not shown.is_set() and time.monotonic() < deadline:
            for _ in range(BATCH):
                mine[name(call(store, run), me)] += 1
            if mine["TypeError"]:
                shown.set()
        with lock:
            counts.update(mine)

    threads = [threading.Thread(target=worker) for _ in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def forced(engine, module, counts, lock):
    """Thread A stops where its hand-off is first read into a local (for wasmtime-py: line
    248, after line 246's check) until thread B has made one whole call."""
    code = _func.maybe_raise_last_exn.__code__
    store_ = next(i for i in dis.get_instructions(code) if i.opname == "STORE_FAST")
    pause_line = store_.positions.lineno
    go, done = threading.Event(), threading.Event()

    def local_trace(frame, event, arg):
        if event == "line" and frame.f_lineno == pause_line and not go.is_set():
            go.set()
            done.wait(5)
        return local_trace

    def a():
        me = threading.get_ident()
        store, run = instance(engine, module, me)
        sys.settrace(lambda frame, event, arg: local_trace if frame.f_code is code else None)
        outcome = call(store, run)
        sys.settrace(None)
        with lock:
            counts["A: " + name(outcome, me)] += 1

    def b():
        me = threading.get_ident()
        store, run = instance(engine, module, me)
        go.wait(5)
        outcome = call(store, run)
        done.set()
        with lock:
            counts["B: " + name(outcome, me)] += 1

    threads = [threading.Thread(target=a), threading.Thread(target=b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def main():
    engine = wasmtime.Engine()
    module = wasmtime.Module(engine, WAT)
    counts, lock = collections.Counter(), threading.Lock()
    start = time.perf_counter()
    (forced if FORCED else stress)(engine, module, counts, lock)
    took = time.perf_counter() - start
    typeerrors = sum(n for k, n in counts.items() if k.endswith("TypeError"))
    mode = ("patched" if PATCHED else "plain") + (" forced" if FORCED else "")
    gil = getattr(sys, "_is_gil_enabled", lambda: True)()
    seen = ", ".join(f"{k} {n}" for k, n in counts.most_common())
    verdict = "TypeError (exit 1)" if typeerrors else "no TypeError (exit 0)"
    print(
        f"{sys.version.split()[0]} gil={gil} {mode}: {sum(counts.values())} calls in "
        f"{took:.1f} s: {seen} -> {verdict}"
    )
    return 1 if typeerrors else 0


if __name__ == "__main__":
    sys.exit(main())
