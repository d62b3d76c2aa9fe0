"""The watched classes: every object two threads must not be inside at once, by its entry points.

The harness hands the list over (GVLBENCH_TRACE_WATCH, from each binding's declaration and
`--watch`): per class, `cls` (`module:Class`), its entry points (module, class, method, the
index of the argument that holds the watched object: 0 is self), whether it serialises its
callers itself (`serialised`: an overlap there is recorded, never waited out), and whether
`cls` names a function that makes the classes to watch (`classes_from`: numcodecs-wasm makes a
codec class per Wasm component). A class's entry points are patched the moment their module is
imported (finder.py), so any package that uses them is watched from its first call.

An object's state is made when it is made (its class's Python `__init__`, patched), or else at
its first entry (a class made in C): then its "creation" is that first entry's stack.
"""

from __future__ import annotations

import functools
import sys
import threading
import types
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import records, state

ATTR = "_gvlbench_trace"
ALL_PUBLIC = "*public"  # a --watch that named no method: every public method of the class
_BY_ID: dict[int, Any] = {}  # states of objects that cannot carry an attribute


@dataclass
class Watched:
    cls: str  # module:Class, or with classes_from, module:function
    what: str = ""
    serialised: bool = False
    classes_from: bool = False
    points: list[list[Any]] = field(default_factory=list)  # [module, class, method, index]
    classes: list[type] = field(default_factory=list)  # resolved, once imported

    @property
    def module(self) -> str:
        return self.cls.partition(":")[0]

    @property
    def name(self) -> str:
        """`module.Class` as a report names it (the made class's own, for a factory's)."""
        return self.cls.replace(":", ".")


def load(spec: list[dict[str, Any]]) -> list[Watched]:
    fields = ("cls", "what", "serialised", "classes_from", "points")
    return [Watched(**{k: item[k] for k in fields if k in item}) for item in spec]


def modules(watched: list[Watched]) -> list[str]:
    """Every module whose import patches something, in a stable order."""
    found = [w.module for w in watched] + [p[0] for w in watched for p in w.points]
    return list(dict.fromkeys(found))


def install(module: Any, watched: list[Watched]) -> None:
    """Patch what `module` (just imported) holds: watched classes' making, and entry points."""
    name = module.__name__
    for w in watched:
        if w.module == name:
            _resolve(module, w)
        hooked = []
        for mod, qualname, method, index in w.points:
            if mod != name or w.classes_from:
                continue
            for one in _methods(module, qualname, method):
                if _patch(module, w, qualname, one, int(index)):
                    hooked.append(_operation(mod, qualname, one))
        if hooked or w.module == name:
            records.write("watching", cls=w.name, what=w.what, module=name, entry_points=hooked,
                          serialised=w.serialised)  # fmt: skip


def _attr(root: Any, path: str) -> Any:
    return functools.reduce(getattr, path.split("."), root) if path else root


def _resolve(module: Any, w: Watched) -> None:
    """The watched class itself (its making hooked where it is Python), or the factory that
    makes them (each class it makes joins `w.classes`)."""
    found = _attr(module, w.cls.partition(":")[2])
    if w.classes_from:
        owner, fname = module, w.cls.partition(":")[2]
        if "." in fname:
            owner, fname = _attr(module, fname.rpartition(".")[0]), fname.rpartition(".")[2]
        setattr(owner, fname, _factory(found, w))
        return
    w.classes.append(found)
    _hook_making(found, w)


def _factory(make: Callable[..., Any], w: Watched) -> Callable[..., Any]:
    @functools.wraps(make)
    def traced(*args: Any, **kwargs: Any) -> Any:
        made = make(*args, **kwargs)
        if isinstance(made, type):
            w.classes.append(made)
            for method in {p[2] for p in w.points}:
                fn = getattr(made, method, None)
                if fn is not None and not getattr(fn, "__gvlbench_traced__", False):
                    setattr(made, method, _entry(fn, f"{made.__qualname__}.{method}", 0, w))
        return made

    traced.__gvlbench_traced__ = True  # type: ignore[attr-defined]
    return traced


def _hook_making(cls: type, w: Watched) -> None:
    """A class whose own `__init__` is Python gets its state when made (not wasmtime's
    Store, whose making hooks.py watches with its freeing)."""
    init = cls.__dict__.get("__init__")
    if not isinstance(init, types.FunctionType) or getattr(init, "__gvlbench_traced__", False):
        return

    @functools.wraps(init)
    def traced_init(self: Any, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        if state_of(self) is None:
            attach(self, state.new_object(self, sys._getframe(1), w.name, w.serialised))

    traced_init.__gvlbench_traced__ = True  # type: ignore[attr-defined]
    cls.__init__ = traced_init  # type: ignore[misc]


def _methods(module: Any, qualname: str, method: str) -> list[str]:
    """`method`, or for ALL_PUBLIC (a `--watch` that named no method) every public method
    the class has (its own and inherited, not object's)."""
    if method != ALL_PUBLIC:
        return [method]
    try:
        cls = _attr(module, qualname)
    except AttributeError:
        return []
    kinds = (types.FunctionType, types.MethodDescriptorType, types.WrapperDescriptorType)
    return [name for name in dict.fromkeys(n for k in cls.__mro__[:-1] for n in vars(k))
            if not name.startswith("_") and isinstance(_static(cls, name), kinds)]  # fmt: skip


def _static(cls: type, name: str) -> Any:
    for klass in cls.__mro__:
        if name in vars(klass):
            return vars(klass)[name]
    return None


def _patch(module: Any, w: Watched, qualname: str, method: str, index: int) -> bool:
    try:
        cls = _attr(module, qualname)
    except AttributeError:
        return False
    fn = getattr(cls, method, None)
    if fn is None or getattr(fn, "__gvlbench_traced__", False):
        return False
    setattr(cls, method, _entry(fn, _operation(module.__name__, qualname, method), index, w))
    return True


def _operation(module: str, qualname: str, method: str) -> str:
    """`Func.__call__` for wasmtime's core classes, else with the module: `component.Func...`."""
    prefix = "" if module == "wasmtime" else module.removeprefix("wasmtime.") + "."
    return f"{prefix}{qualname}.{method}"


# An object first seen when entered (its making was not watched: a compiled extension's
# codec) gets its state under this lock: without it, threads entering it together for the
# first time each made one, and a shared codec read as one shared object and two per-thread
# ones with an entry each.
_FIRST_SEEN = threading.Lock()


def state_of(obj: object) -> Any:
    try:
        return object.__getattribute__(obj, "__dict__").get(ATTR)
    except (AttributeError, TypeError):
        return _BY_ID.get(id(obj))


def attach(obj: object, st: Any) -> Any:
    try:
        object.__getattribute__(obj, "__dict__")[ATTR] = st
    except (AttributeError, TypeError):
        _BY_ID[id(obj)] = st
        weakref.finalize(obj, _BY_ID.pop, id(obj), None)
    return st


def _entry(method: Callable[..., Any], operation: str, index: int,
           w: Watched) -> Callable[..., Any]:  # fmt: skip
    """`method` entered through the state of the watched object in argument `index` (0:
    self); an argument that is not one (a wasmtime Caller, inside a host callback already
    within an entry of its thread) passes through."""

    def traced(*args: Any, **kwargs: Any) -> Any:
        obj = args[index] if len(args) > index else kwargs.get("store")
        st = getattr(obj, ATTR, None)
        if st is None:
            if not w.classes or not isinstance(obj, tuple(w.classes)):
                return method(*args, **kwargs)
            with _FIRST_SEEN:  # two threads meeting a new object at once make one state
                st = state_of(obj) or attach(obj, state.new_object(
                    obj, sys._getframe(1), f"{type(obj).__module__}.{type(obj).__qualname__}",
                    w.serialised))  # fmt: skip
        held = st.enter(obj, operation)
        try:
            return method(*args, **kwargs)
        finally:
            if held:
                st.leave()
            else:
                st.step_out()

    functools.update_wrapper(traced, method)
    traced.__gvlbench_traced__ = True  # type: ignore[attr-defined]
    return traced
