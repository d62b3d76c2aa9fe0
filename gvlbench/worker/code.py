"""Python-code targets in a measuring child: `--setup`, `--per-thread-setup`, `--stmt`.

As with `python -m timeit`, the setup runs once per process and the statement is compiled
into a function (names it assigns are its own locals); unlike timeit, a statement that ends
in an expression returns that value, so a race can compare each thread's result with the
reference the statement gave when it ran alone. Per-thread setup runs in the thread that
will run the statement, the first time it does, in that thread's own copy of the setup's
namespace: state it makes is that thread's, as the user meant it.

The lock: the code calls wasmtime-py as the package under test does, so `held` points
wasmtime-py's own binding of `wasmtime_func_call` at the PyDLL handle for the whole process
(binding/invoke.py `use_stock_mode`): every Wasm call the package makes then keeps the GIL,
unmodified, as under a binding that holds the lock (the Ruby gem's default). Patches
(binding/patches.py) are applied before the setup runs, so they see every Store it makes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from gvlbench.binding.guard import StoreInUseError
from gvlbench.errors import CodeError
from gvlbench.protocol import CallTask, Code, CodeProbeTask, Mode
from gvlbench.pycode import STMT_NAME, comparable, compile_part, compile_stmt, describe


class CodeTarget:
    """The user's code, ready to run: set up once here, then per thread on first use."""

    def __init__(self, code: Code, mode: Mode, patches: tuple[str, ...] = ()):
        from gvlbench.binding import patches as binding_patches
        from gvlbench.bindings import driver_for

        self._setup = [compile_part(s, "--setup") for s in code.setup]
        self._per_thread = [compile_part(s, "--per-thread-setup") for s in code.per_thread_setup]
        self._stmt = compile_stmt(code.stmt)
        driver_for(code).use_mode(mode)
        binding_patches.apply(patches, mode)  # after: the native guard's call is per mode
        self._globals: dict[str, Any] = {"__name__": "__gvlbench__", "__builtins__": __builtins__}
        for part in self._setup:
            try:
                exec(part, self._globals)
            except Exception as exc:
                raise CodeError(f"--setup raised {describe(exc)}") from None
        self._local = threading.local()

    def statement(self) -> Callable[[], Any]:
        """This thread's statement as a zero-argument function (its per-thread setup runs now,
        in this thread, the first time the thread asks)."""
        fn = getattr(self._local, "fn", None)
        if fn is None:
            namespace = dict(self._globals)
            for part in self._per_thread:
                try:
                    exec(part, namespace)
                except Exception as exc:
                    raise CodeError(f"--per-thread-setup raised {describe(exc)}") from None
            exec(self._stmt, namespace)
            fn = self._local.fn = namespace[STMT_NAME]
        return fn

    def call(self) -> Any:
        """Run the statement once in this thread (the per-thread state made on first use)."""
        return self.statement()()

    def reference(self) -> Any:
        """The statement run alone, before any other thread: CodeError if it raises."""
        try:
            return self.call()
        except CodeError:
            raise
        except Exception as exc:
            raise CodeError(
                f"--stmt raised {describe(exc)} when run alone, before any thread: that is a "
                "property of the code, not a race"
            ) from None


def target_of(task: CallTask) -> CodeTarget:
    """The task's code, set up in this process under its mode and patches."""
    assert task.code is not None
    return CodeTarget(task.code, task.mode, task.patches)


def probe(task: CodeProbeTask) -> dict[str, Any]:
    """Setup, the statement alone, then once in a fresh thread (its per-thread setup there):
    a CodeError from any of them is the user's to fix, and the harness says so in one line.

    It also finds which door into Wasm the code uses, for the harness to pick its binding:
    the statement's calls into Wasm are counted per binding (each driver wraps its own entry
    point), and every loaded library is asked which engine it carries (engines.py)."""
    target = target_of(task)
    counters = count_binding_calls()
    start = time.perf_counter()
    reference = target.reference()
    alone_s = time.perf_counter() - start
    errors: list[BaseException] = []

    def in_thread() -> None:
        try:
            target.call()
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=in_thread, name="gvlbench-probe")
    thread.start()
    thread.join()
    refused = ""
    if errors:
        exc = errors[0]
        if isinstance(exc, CodeError):
            raise exc
        if not isinstance(exc, StoreInUseError):
            raise CodeError(f"--stmt raised {describe(exc)} in a fresh thread, run alone")
        # a Store guard patch refused the other thread (thread affinity refuses any thread
        # but the Store's maker): what the patch does, not a fault of the code
        refused = str(exc)
    return {"result": repr(reference)[:200], "comparable": comparable(reference),
            "alone_s": alone_s, "refused_in_thread": refused,
            "binding_calls": {name: read() for name, read in counters.items()},
            "engines": loaded_engines()}  # fmt: skip


def count_binding_calls() -> dict[str, Callable[[], int]]:
    """A counter of calls into Wasm for every Python binding whose package this process has
    loaded, by binding name (each driver wraps its own entry point)."""
    from gvlbench import bindings

    counters = {}
    for binding in bindings.all_bindings():
        if binding.runtime == "python" and binding.driver:
            reader = bindings.driver(binding).count_calls()
            if reader is not None:
                counters[binding.name] = reader
    return counters


def loaded_engines() -> list[dict[str, Any]]:
    """Every Wasm engine a library loaded in this process carries: name, version, library."""
    from gvlbench import engines

    return [hit._asdict() for hit in engines.detect()]
