"""Run a function the moment a module is first imported (an import hook on sys.meta_path).

The hook wraps the module's own loader for that one import: the module executes exactly as
it would, then the function patches it, before any of the program's code can use it. The
module's __loader__ and __spec__ keep the original loader.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

Patch = Callable[[Any], None]


def on_import(name: str, patch: Patch) -> None:
    if name in sys.modules:
        _run(patch, sys.modules[name])
    else:
        sys.meta_path.insert(0, _Finder(name, patch))


def _run(patch: Patch, module: Any) -> None:
    try:
        patch(module)
    except Exception as exc:  # the program runs on, untraced, and says why
        from . import records

        records.write("hook-error", where=f"import {module.__name__}", error=repr(exc))
        print(f"gvlbench trace: {module.__name__} not traced: {exc!r}", file=sys.stderr)


class _Finder:
    def __init__(self, name: str, patch: Patch):
        self.name, self.patch = name, patch

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname != self.name:
            return None
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            if finder is self or find is None:
                continue
            spec = find(fullname, path, target)
            if spec is not None and spec.loader is not None:
                spec.loader = _Loader(spec.loader, self)
                return spec
        return None


class _Loader:
    def __init__(self, inner: Any, finder: _Finder):
        self.inner, self.finder = inner, finder

    def create_module(self, spec: Any) -> Any:
        return self.inner.create_module(spec)

    def exec_module(self, module: Any) -> None:
        module.__loader__ = module.__spec__.loader = self.inner
        self.inner.exec_module(module)
        if self.finder in sys.meta_path:
            sys.meta_path.remove(self.finder)
        _run(self.finder.patch, module)
