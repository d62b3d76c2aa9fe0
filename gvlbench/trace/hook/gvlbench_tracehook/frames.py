"""Python stacks, trimmed to the program's own frames, and the names that hold a Store.

Every frame is one of: `user` (the program's code: scripts, tests, a package in the user's
tree), `site` (installed packages: the package that embeds wasmtime, pytest), `stdlib`,
`wasmtime` (wasmtime-py itself) or `hook` (this package). A stack keeps the user and site
frames only, outermost first, each as [file, line, function, category]: the threading and
import machinery and wasmtime-py's glue say nothing about who used the Store.
"""

from __future__ import annotations

import os
import sysconfig
import types
from typing import Any

KEPT = ("user", "site")
_HOOK_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_paths = sysconfig.get_paths()
_STDLIB = tuple({os.path.realpath(_paths[k]) + os.sep for k in ("stdlib", "platstdlib")})
_wasmtime_dir: list[str] = []
_categories: dict[str, str] = {}

# Objects that never lead to a Store (walking into them is wasted, or runs their code).
_LEAVES = (type, types.ModuleType, types.FunctionType, types.BuiltinFunctionType,
           types.MethodType, types.CodeType, types.FrameType, str, bytes, bytearray, int,
           float, complex, bool, type(None), memoryview, range)  # fmt: skip


def set_wasmtime_dir(path: str) -> None:
    _wasmtime_dir[:] = [os.path.realpath(path) + os.sep]
    _categories.clear()


def category(filename: str) -> str:
    found = _categories.get(filename)
    if found is None:
        found = _categories[filename] = _categorize(filename)
    return found


def _categorize(filename: str) -> str:
    if filename.startswith("<"):
        return "stdlib" if filename.startswith("<frozen") else "user"
    path = os.path.realpath(filename)
    if path.startswith(_HOOK_DIR + os.sep):
        return "hook"
    if _wasmtime_dir and path.startswith(_wasmtime_dir[0]):
        return "wasmtime"
    parts = path.split(os.sep)
    if "site-packages" in parts or "dist-packages" in parts:
        return "site"
    if path.startswith(_STDLIB):
        return "stdlib"
    return "user"


def capture(frame: types.FrameType | None, limit: int = 40) -> list[list[Any]]:
    """The kept frames from `frame` outwards (at most `limit`), outermost first."""
    out: list[list[Any]] = []
    while frame is not None and len(out) < limit:
        code = frame.f_code
        kind = category(code.co_filename)
        if kind in KEPT:
            name = getattr(code, "co_qualname", code.co_name)
            out.append([code.co_filename, frame.f_lineno, name, kind])
        frame = frame.f_back
    out.reverse()
    return out


def innermost(frame: types.FrameType | None, kinds: tuple[str, ...]) -> types.FrameType | None:
    """The first frame from `frame` outwards whose category is one of `kinds`."""
    while frame is not None and category(frame.f_code.co_filename) not in kinds:
        frame = frame.f_back
    return frame


_VALUES = (int, float, str, bytes, bool, type(None))


def arguments(frame: types.FrameType | None) -> dict[str, str]:
    """The arguments of `frame`'s function that are plain values, as their repr (an input a
    race can be given back): `{"n": "3"}` for `serve(3)`."""
    if frame is None:
        return {}
    code = frame.f_code
    names = code.co_varnames[: code.co_argcount + code.co_kwonlyargcount]
    found = {}
    for name in names:
        value = frame.f_locals.get(name)
        if type(value) in _VALUES and len(text := repr(value)) <= 200:
            found[name] = text
    return found


def holders(frame: types.FrameType | None, target: object, budget: int = 400) -> list[str]:
    """The names of `frame` (its locals, and the globals its code uses) whose object reaches
    `target` within a few attribute or item steps: what the code calls the object that owns
    the Store (`ctx` in `ctx.eval(...)`). Only for this thread's own frames."""
    if frame is None:
        return []
    try:
        scope = dict(frame.f_locals)
    except Exception:
        scope = {}
    for name in frame.f_code.co_names:
        if name not in scope and name in frame.f_globals:
            scope[name] = frame.f_globals[name]
    left = [budget]
    return [name for name, value in scope.items() if _reaches(value, target, left)]


def _reaches(value: object, target: object, left: list[int], depth: int = 4) -> bool:
    frontier, seen = [value], set()
    for _ in range(depth + 1):
        following: list[object] = []
        for obj in frontier:
            if obj is target:
                return True
            if id(obj) in seen or isinstance(obj, _LEAVES):
                continue
            seen.add(id(obj))
            left[0] -= 1
            if left[0] <= 0:
                return False
            following.extend(_children(obj))
        frontier = following
    return False


def _children(obj: object) -> list[object]:
    """An object's attributes and items, read without running its code."""
    if isinstance(obj, (list, tuple, set, frozenset)):
        return list(obj)[:32]
    if isinstance(obj, dict):
        return list(obj.values())[:32]
    found: list[object] = []
    try:
        attrs = object.__getattribute__(obj, "__dict__")
    except Exception:
        attrs = None
    if isinstance(attrs, dict):
        found.extend(list(attrs.values())[:64])
    for cls in type(obj).__mro__:
        slots = cls.__dict__.get("__slots__", ())
        for slot in (slots,) if isinstance(slots, str) else slots:
            try:
                found.append(object.__getattribute__(obj, slot))
            except Exception:
                continue
    return found
