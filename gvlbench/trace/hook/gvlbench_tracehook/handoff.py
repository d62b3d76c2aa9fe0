"""A host callback's exception, followed from the thread that raised it to the one that takes it.

wasmtime-py hands a host callback's exception to its caller through one module global
(`wasmtime._func.LAST_EXCEPTION`; the component model has its own, in
wasmtime/component/_enter.py): the trampoline stores it, and the calling thread's
`maybe_raise_last_exn` takes it once its call trapped. Under threads another thread's call can
take it, or overwrite it first: one call raises another's exception (with that request's data
in its message), the other a bare "python exception". A package that gives each thread its own
Store is not spared: the slot is the process's.

Every host function is wrapped as it is defined (`Func(...)`, `Linker.define_func`; a
component's callbacks pass through `catch_exceptions`), so an exception leaving it carries the
raising thread, the stack that called into Wasm, and the line that raised. Every
`maybe_raise_last_exn` is wrapped to compare: an exception another thread raised is `taken`;
a thread whose own callback raised and which gets nothing back `lost` it. Either is a `handoff`
record with both threads' stacks (the first few per pair of lines; later ones without). Only
the path of a call that trapped is touched: a call that does not pays nothing.

Patches are applied first (gvlbench trace --patch thread-local-exceptions): these wrappers go
around the patched functions, so a suite that is clean under the patch shows it.
"""

from __future__ import annotations

import contextlib
import functools
import sys
import threading
from collections.abc import Callable
from typing import Any

from . import clock, finder, frames, records, state

# on an exception: (native id, thread name, stack, raised at, test, the arguments of the
# program's own function that called into Wasm)
TAG = "__gvlbench_raised__"
MARK = "__gvlbench_handoff__"  # on a wrapper of ours, so nothing is wrapped twice
MAX_EXAMPLES = 8  # handoffs with stacks per pair of lines
_local = threading.local()
_signatures: set[tuple[Any, ...]] = set()
_lock = threading.Lock()


def install(wasmtime: Any) -> None:
    """wasmtime's core hand-off now; the component model's when it is imported."""
    core = sys.modules.get("wasmtime._func")
    if core is None:
        return
    _wrap_arg(wasmtime.Func, "__init__", 3, "func")
    _wrap_arg(wasmtime.Linker, "define_func", 4, "func")
    core.maybe_raise_last_exn = _taker(core.maybe_raise_last_exn)
    finder.on_import("wasmtime.component", _install_component)


def _install_component(component: Any) -> None:
    enter = sys.modules.get("wasmtime.component._enter")
    linker = sys.modules.get("wasmtime.component._linker")
    if enter is None:
        return
    for module in (enter, linker):
        catch = getattr(module, "catch_exceptions", None)
        if catch is not None and not getattr(catch, MARK, False):
            module.catch_exceptions = _catching(catch)
    enter.maybe_raise_last_exn = _taker(enter.maybe_raise_last_exn)


def _marked(fn: Callable[..., Any], wrapper: Callable[..., Any]) -> Callable[..., Any]:
    functools.update_wrapper(wrapper, fn)
    setattr(wrapper, MARK, True)
    return wrapper


def _wrap_arg(cls: Any, method: str, index: int, keyword: str) -> None:
    """`cls.method` with its host-function argument (`index`, or `keyword`) tagged."""
    fn = getattr(cls, method)
    if getattr(fn, MARK, False):
        return

    def defining(*args: Any, **kwargs: Any) -> Any:
        if len(args) > index:
            args = (*args[:index], tagged(args[index]), *args[index + 1 :])
        elif keyword in kwargs:
            kwargs[keyword] = tagged(kwargs[keyword])
        return fn(*args, **kwargs)

    setattr(cls, method, _marked(fn, defining))


def tagged(func: Any) -> Any:
    """A host function whose exceptions carry where they were raised."""
    if not callable(func) or getattr(func, MARK, False):
        return func

    def host(*args: Any) -> Any:
        try:
            return func(*args)
        except BaseException as exc:
            raised(exc)
            raise

    return _marked(func, host)


def _catching(catch: Callable[..., Any]) -> Callable[..., Any]:
    """A component's catch_exceptions(store, run): `run` (the callback) tagged."""

    def catching(store_raw: Any, func: Any) -> Any:
        return catch(store_raw, tagged(func))

    return _marked(catch, catching)


def raised(exc: BaseException) -> None:
    """`exc` leaves a host callback in this thread: tag it, and remember it is this thread's
    to get back."""
    start = clock.now()
    frame = sys._getframe(2)  # the callback's caller: the trampoline, then the call into Wasm
    tb, at = exc.__traceback__, None
    while tb is not None:
        at, tb = tb, tb.tb_next
    where = [at.tb_frame.f_code.co_filename, at.tb_lineno, at.tb_frame.f_code.co_name] if at \
        else []  # fmt: skip
    tag = (threading.get_native_id(), threading.current_thread().name, frames.capture(frame),
           where, state.current_test(),
           frames.arguments(frames.innermost(frame, ("user",))))  # fmt: skip
    with contextlib.suppress(Exception):  # a type that takes no attribute: not followed
        setattr(exc, TAG, tag)
    _local.raised = exc
    clock.add(start)


def _taker(take: Callable[[], None]) -> Callable[[], None]:
    """maybe_raise_last_exn, compared with what this thread's own callback raised."""

    def maybe_raise_last_exn() -> None:
        mine = getattr(_local, "raised", None)
        _local.raised = None
        try:
            take()
        except BaseException as exc:
            tag = getattr(exc, TAG, None)
            if tag is not None and tag[0] != threading.get_native_id():
                _record("taken", exc, tag)
            raise
        if mine is not None:
            _record("lost", mine, getattr(mine, TAG, None))

    return _marked(take, maybe_raise_last_exn)


def _record(how: str, exc: BaseException, tag: Any) -> None:
    """A hand-off seen by this thread: `taken` (it got `exc`, raised in the thread of `tag`)
    or `lost` (its own `exc` went to another thread, or was overwritten)."""
    start = clock.now()
    mine = frames.capture(sys._getframe(2))  # the caller of maybe_raise_last_exn's caller
    tag = tag or (0, "", [], [], "", {})
    signature = (how, tuple(tag[3][:2]), _line(tag[2]), _line(mine))
    with _lock:
        new = signature not in _signatures and len(_signatures) < MAX_EXAMPLES * 4
        _signatures.add(signature)
    error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    fields: dict[str, Any] = dict(
        how=how, thread=threading.get_native_id(), name=threading.current_thread().name,
        raiser=tag[0], raiser_name=tag[1], raised_at=tag[3], raiser_test=tag[4],
        raiser_args=tag[5],
        test=state.current_test(), error=error[:300])  # fmt: skip
    if new:
        fields.update(stack=mine, raiser_stack=tag[2])
    records.write_lazy("handoff", **fields)
    clock.add(start)


def _line(stack: list[list[Any]]) -> tuple[Any, ...] | None:
    return (stack[-1][0], stack[-1][1]) if stack else None
