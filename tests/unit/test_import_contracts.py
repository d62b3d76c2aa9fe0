"""trace's hook is held to the standard library by lint-imports (scripts/import_contracts.py),
not by a test that imports it at run time: the contract keeps a hook that does, and breaks on
one that imports a third-party package or the rest of gvlbench."""

from __future__ import annotations

import ast

import grimp

from scripts.import_contracts import StandardLibraryOnly
from tests.conftest import REPO

HOOK = "gvlbench.trace.hook"


def _graph(*imports: tuple[str, str]) -> grimp.ImportGraph:
    graph = grimp.ImportGraph()
    for module in (HOOK, f"{HOOK}.gvlbench_tracehook", f"{HOOK}.gvlbench_tracehook.state",
                   f"{HOOK}.gvlbench_tracehook.records", f"{HOOK}.sitecustomize",
                   "gvlbench.errors"):  # fmt: skip
        graph.add_module(module)
    for importer, imported in imports:
        graph.add_import(importer=importer, imported=imported, line_number=3,
                         line_contents=f"import {imported}")  # fmt: skip
    return graph


def _check(graph: grimp.ImportGraph) -> list[tuple[str, str, int | None]]:
    contract = StandardLibraryOnly("hook", {}, {"packages": [HOOK],
                                                "allowed": ["gvlbench_tracehook"]})  # fmt: skip
    return contract.check(graph, verbose=False).metadata["broken"]


def test_the_standard_library_the_hook_itself_and_its_own_name_are_allowed() -> None:
    state = f"{HOOK}.gvlbench_tracehook.state"
    graph = _graph((state, "threading"), (state, "os.path"), (state, "__future__"),
                   (state, f"{HOOK}.gvlbench_tracehook.records"),
                   (f"{HOOK}.sitecustomize", "gvlbench_tracehook"))  # fmt: skip
    assert _check(graph) == []


def test_a_third_party_package_or_the_rest_of_gvlbench_breaks_it() -> None:
    state = f"{HOOK}.gvlbench_tracehook.state"
    graph = _graph((state, "threading"), (state, "click"), (state, "gvlbench.errors"))
    assert _check(graph) == [(state, "click", 3), (state, "gvlbench.errors", 3)]


def _hook_imports() -> dict[str, set[str]]:
    """Each module of the hook package and the package's own modules it imports, read the
    strict way: a relative import runs the package's __init__ first, so `from . import
    records` imports the package and records, and `from .watch import ATTR` the package and
    watch."""
    root = REPO / "gvlbench" / "trace" / "hook" / "gvlbench_tracehook"
    edges: dict[str, set[str]] = {}
    for path in sorted(root.glob("*.py")):
        name = "" if path.stem == "__init__" else path.stem
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                found.add("")  # the package
                names = [node.module] if node.module else [a.name for a in node.names]
                found.update(n for n in names if (root / f"{n}.py").exists())
        edges[name] = found - {name}
    return edges


def test_the_hook_package_has_no_import_cycle() -> None:
    """Its modules import each other, never through a package that imports them back: the
    package's __init__ imports nothing, and sitecustomize arms the hook through `arm`."""
    edges = _hook_imports()
    assert edges[""] == set(), edges[""]  # the package imports none of its modules
    done: set[str] = set()

    def visit(module: str, path: tuple[str, ...]) -> None:
        assert module not in path, " -> ".join((*path, module)) or "the package"
        if module not in done:
            for imported in sorted(edges.get(module, ())):
                visit(imported, (*path, module))
            done.add(module)

    for module in sorted(edges):
        visit(module, ())
