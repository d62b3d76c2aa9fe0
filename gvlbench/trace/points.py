"""What trace's hook watches: every binding's objects that two threads must not be inside at once
(each binding's `watched`, bindings/base.py), and any class `--watch` names.

The hook runs in the traced program's interpreter and cannot import gvlbench, so the list goes
to it as JSON: per class, its entry points (module, class, method, the index of the argument
holding the object), whether it serialises its callers itself, and whether `cls` names a
function that makes the classes. Two bindings that watch one class (wasmtime-py's core API and
its component model both enter a wasmtime Store) are one entry with both sets of points.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from gvlbench import bindings
from gvlbench.bindings.base import Binding, Feature, Watch
from gvlbench.errors import OptionError

Point = tuple[str, str, str, int]  # module, class, method, index of the watched object
USER = "--watch"  # what a class the user named is watched for, in place of a binding's name
_SPEC = re.compile(r"([A-Za-z_][\w.]*):([A-Za-z_]\w*)(?:\.([A-Za-z_]\w*(?:,[A-Za-z_]\w*)*))?")
ALL_PUBLIC = "*public"  # a --watch without methods: every public method of the class


@dataclass(frozen=True)
class Watched:
    cls: str  # module:Class (or module:function, with classes_from)
    what: str
    points: tuple[Point, ...]
    by: tuple[str, ...]  # the bindings that declare it, or USER
    classes_from: bool = False
    serialised: str = ""
    library: str = ""  # a pattern of the shared objects whose engine it runs ("" if none)

    def to_hook(self) -> dict[str, Any]:
        return {"cls": self.cls, "what": self.what, "serialised": bool(self.serialised),
                "classes_from": self.classes_from,
                "points": [list(p) for p in self.points]}  # fmt: skip

    @property
    def name(self) -> str:
        return self.cls.replace(":", ".")


def parse_watch(spec: str) -> Watch:
    """`--watch module:Class[.method,...]` as a Watch; OptionError (one line) otherwise."""
    found = _SPEC.fullmatch(spec.strip())
    if found is None:
        raise OptionError(f"--watch {spec!r}: give module:Class or module:Class.method[,method...] "
                          "(e.g. mypkg.ctx:Context.eval)")  # fmt: skip
    module, cls, methods = found.groups()
    names = tuple(methods.split(",")) if methods else (ALL_PUBLIC,)
    return Watch(f"{module}:{cls}", names, f"{module}.{cls}, named with --watch")


def watched(extra: Sequence[Watch] = ()) -> list[Watched]:
    """Every binding's watched classes, then `extra` (the user's), merged by class."""
    merged: dict[str, Watched] = {}
    found: list[tuple[Binding | None, Watch]] = [
        (b, w) for b in bindings.all_bindings() if not b.for_tests for w in b.watched
    ]
    found += [(None, w) for w in extra]
    for binding, watch in found:
        points = tuple(binding.watch_points(watch) if binding else _user_points(watch))
        by = binding.name if binding else USER
        library = watch.library or (binding.libraries if binding else "")
        old = merged.get(watch.cls)
        if old is None:
            merged[watch.cls] = Watched(watch.cls, watch.what, points, (by,), watch.classes_from,
                                        watch.serialised, library)  # fmt: skip
            continue
        libraries = "|".join(dict.fromkeys(p for p in (old.library, library) if p))
        merged[watch.cls] = Watched(old.cls, old.what, tuple(dict.fromkeys(old.points + points)),
                                    (*old.by, by), old.classes_from,
                                    old.serialised or watch.serialised, libraries)  # fmt: skip
    return list(merged.values())


def _user_points(watch: Watch) -> list[Point]:
    module, _, cls = watch.cls.partition(":")
    return [(module, cls, method, 0) for method in watch.methods]


def patchable(found: Sequence[Watched]) -> set[str]:
    """The watched classes a gvlbench patch applies to: those of a binding that takes them."""
    return {w.name for w in found
            if any(b != USER and bindings.get(b).has(Feature.PATCHES) for b in w.by)}  # fmt: skip


def hook_json(found: Sequence[Watched]) -> str:
    return json.dumps([w.to_hook() for w in found])


def watches_library(found: Sequence[Watched], names: set[str], path: str) -> bool:
    """Whether an object of a watched class among `names` (those the hook patched in one
    process) runs the engine in the shared object at `path`."""
    return any(w.name in names and w.library and re.search(w.library, path) is not None
               for w in found)  # fmt: skip
