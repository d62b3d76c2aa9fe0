"""import-linter contract types of gvlbench's own (`lint-imports` loads them: pyproject.toml).

`standard_library_only`: the modules below a package import nothing but the standard library,
the package's own modules and the names the contract allows. import-linter's own contracts
forbid what they list; this one allows what it lists, so a new third-party import (or one of
gvlbench's own modules) in trace's hook fails `make lint`. The hook runs inside the traced
program's interpreter, which may have nothing installed but wasmtime, so that is its rule; a
test used to check it by importing the hook at run time.
"""

from __future__ import annotations

import sys
from typing import Any

from importlinter import Contract, ContractCheck, fields, output


def allowed_import(imported: str, package: str, allowed: frozenset[str]) -> bool:
    """Whether a module below `package` may import `imported`."""
    if imported == package or imported.startswith(package + "."):
        return True
    top = imported.split(".")[0]
    return top in sys.stdlib_module_names or top in allowed


class StandardLibraryOnly(Contract):
    """Every module below `packages` imports only the standard library, modules below the
    same package, and the top-level names in `allowed` (needs include_external_packages)."""

    type_name = "standard_library_only"

    packages = fields.ListField(subfield=fields.StringField())
    allowed = fields.ListField(subfield=fields.StringField(), required=False)

    def check(self, graph: Any, verbose: bool) -> ContractCheck:
        allowed = frozenset(self.allowed or ())  # type: ignore[arg-type]
        broken: list[tuple[str, str, int | None]] = []
        for package in self.packages:  # type: ignore[attr-defined]
            for module in sorted({package} | graph.find_descendants(package)):
                for imported in sorted(graph.find_modules_directly_imported_by(module)):
                    if allowed_import(imported, package, allowed):
                        continue
                    found = graph.get_import_details(importer=module, imported=imported)
                    broken.append((module, imported, found[0]["line_number"] if found else None))
        return ContractCheck(kept=not broken, metadata={"broken": broken})

    def render_broken_contract(self, check: ContractCheck) -> None:
        for module, imported, line in check.metadata["broken"]:
            where = f" (l.{line})" if line else ""
            output.print_error(f"{module} imports {imported}{where}: not the standard library",
                               bold=False)  # fmt: skip
            output.new_line()
