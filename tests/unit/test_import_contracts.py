"""trace's hook is held to the standard library by lint-imports (scripts/import_contracts.py),
not by a test that imports it at run time: the contract keeps a hook that does, and breaks on
one that imports a third-party package or the rest of gvlbench."""

from __future__ import annotations

import grimp

from scripts.import_contracts import StandardLibraryOnly

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
