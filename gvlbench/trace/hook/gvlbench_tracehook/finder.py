"""Run functions the moment a module is first imported (one import hook on sys.meta_path).

The hook wraps the module's own loader for that one import: the module executes exactly as
it would, then each function given for it patches it, in the order given, before any of the
program's code can use it. The module's __loader__ and __spec__ keep the original loader.

While `held()` (gvlbench's patches being applied, which import wasmtime's submodules
themselves), the functions of a module imported meanwhile wait, and run in order when the
hold ends: the trace's wrappers then go around the patched methods, as they go around the
unpatched ones otherwise.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from typing import Any

Patch = Callable[[Any], None]
_PATCHES: dict[str, list[Patch]] = {}
_HELD: list[list[tuple[Patch, Any]]] = []  # while held: what waits for the hold to end


def on_import(name: str, patch: Patch) -> None:
    """Run `patch(module)` when `name` is imported (now, if it is already)."""
    if name in sys.modules:
        _run(patch, sys.modules[name])
        return
    _PATCHES.setdefault(name, []).append(patch)
    if not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())


@contextlib.contextmanager
def held() -> Iterator[None]:
    """Patches of modules imported inside this block run when it ends."""
    _HELD.append([])
    try:
        yield
    finally:
        for patch, module in _HELD.pop():
            _run(patch, module)


def _run(patch: Patch, module: Any) -> None:
    if _HELD:
        _HELD[-1].append((patch, module))
        return
    try:
        patch(module)
    except Exception as exc:  # the program runs on, untraced, and says why
        from . import records

        records.write("hook-error", where=f"import {module.__name__}", error=repr(exc))
        print(f"gvlbench trace: {module.__name__} not traced: {exc!r}", file=sys.stderr)


class _Finder:
    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname not in _PATCHES:
            return None
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            if finder is self or find is None:
                continue
            spec = find(fullname, path, target)
            if spec is not None and spec.loader is not None:
                spec.loader = _Loader(spec.loader)
                return spec
        return None


class _Loader:
    def __init__(self, inner: Any):
        self.inner = inner

    def create_module(self, spec: Any) -> Any:
        return self.inner.create_module(spec)

    def exec_module(self, module: Any) -> None:
        module.__loader__ = module.__spec__.loader = self.inner
        self.inner.exec_module(module)
        for patch in _PATCHES.pop(module.__name__, []):
            _run(patch, module)
