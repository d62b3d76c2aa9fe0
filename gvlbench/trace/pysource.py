"""A program's own source lines, sliced into code that runs on its own (for `trace`'s races).

`gvlbench trace` knows the line that made a shared object and the line that used it from two
threads at once. To turn them into `gvlbench race --setup ... --stmt ...`, each name those
lines use must be bound by code that runs outside the program: a local assigned earlier in
the same function (its own line, sliced the same way, recursively), an import or a simple
assignment at the top of the file (copied), or a function or class of the file (imported from
it as a module, and only from a file whose top level does nothing but define things: a
script without a `__main__` guard would run again, side effects and all). What cannot be
bound so (a function's argument, a loop variable, a function of such a script) is named in
`todo`, for the user to fill in. Pure: reads files, runs nothing.
"""

from __future__ import annotations

import ast
import builtins
import os
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache

_FUNCS = (ast.FunctionDef, ast.AsyncFunctionDef)
_SCOPES = (*_FUNCS, ast.ClassDef, ast.Lambda)
_MAX_DEPTH = 6


@dataclass(frozen=True)
class Source:
    path: str
    text: str
    tree: ast.Module

    def at(self, line: int) -> tuple[ast.stmt | None, list[ast.AST]]:
        """The innermost statement spanning `line`, and its enclosing functions (innermost
        first)."""
        found: ast.stmt | None = None
        scopes: list[ast.AST] = []
        node: ast.AST = self.tree
        while True:
            inner = next((child for child in ast.iter_child_nodes(node)
                          if isinstance(child, (ast.stmt, ast.excepthandler))
                          and child.lineno <= line <= (child.end_lineno or child.lineno)),
                         None)  # fmt: skip
            if inner is None:
                return found, scopes
            if isinstance(inner, _FUNCS) and inner.lineno != line:
                scopes.insert(0, inner)
            if isinstance(inner, ast.stmt):
                found = inner
            node = inner

    def segment(self, node: ast.AST) -> str:
        """`node`'s own source; a statement over several lines dedented, so a nested `def`
        runs on its own."""
        text = ast.get_source_segment(self.text, node, padded=True)
        return textwrap.dedent(text) if text else ast.unparse(node)


@cache
def read(path: str) -> Source | None:
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        return Source(path, text, ast.parse(text, path))
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
        return None


def free_names(node: ast.AST) -> list[str]:
    """Names `node` reads that it does not bind itself (comprehension variables, lambda
    arguments) and that are not builtins, in order of first use."""
    bound = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)
             and isinstance(n.ctx, ast.Store)}  # fmt: skip
    for lam in (n for n in ast.walk(node) if isinstance(n, ast.Lambda)):
        bound |= {a.arg for a in (*lam.args.args, *lam.args.kwonlyargs)}
    names = [n.id for n in ast.walk(node) if isinstance(n, ast.Name)
             and isinstance(n.ctx, ast.Load) and n.id not in bound]  # fmt: skip
    return [n for n in dict.fromkeys(names) if not hasattr(builtins, n)]


def root_name(node: ast.AST) -> str | None:
    """`ctx` for `ctx.eval`, `ctx._inst.store`, `ctx[0].eval`; None for anything else."""
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call)):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def _statements(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """Every statement of a body, nested blocks included, not entering nested scopes."""
    for stmt in body:
        yield stmt
        if not isinstance(stmt, _SCOPES):
            for name in ("body", "orelse", "finalbody", "handlers"):
                yield from _statements(getattr(stmt, name, []) or [])


def _binds(stmt: ast.stmt, name: str) -> bool:
    if isinstance(stmt, (ast.Assign, ast.AnnAssign)):
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
        return any(isinstance(t, ast.Name) and t.id == name for t in targets)
    if isinstance(stmt, (ast.Import, ast.ImportFrom)):
        return any(_alias_binds(a) == name for a in stmt.names)
    return isinstance(stmt, (*_FUNCS, ast.ClassDef)) and stmt.name == name


def _alias_binds(alias: ast.alias) -> str:
    return alias.asname or alias.name.split(".")[0]


def binding(body: list[ast.stmt], name: str, before: int | None = None) -> ast.stmt | None:
    """The last statement of `body` before line `before` that binds `name` simply."""
    found = [s for s in _statements(body) if _binds(s, name)
             and (before is None or s.lineno < before)]  # fmt: skip
    return max(found, key=lambda s: s.lineno) if found else None


def runs_code(src: Source) -> ast.stmt | None:
    """The first top-level statement of `src` that does more than define things: importing
    the file would run it. Imports, functions and classes (decorated by a name only),
    assignments of literals, a docstring and the `if __name__ == "__main__":` block define;
    anything else may be the program itself."""
    for stmt in src.tree.body:
        if isinstance(stmt, (ast.Import, ast.ImportFrom)) or _main_guard(stmt):
            continue
        if isinstance(stmt, (*_FUNCS, ast.ClassDef)) and all(
            isinstance(d, (ast.Name, ast.Attribute)) for d in stmt.decorator_list
        ):
            continue
        value = stmt.value if isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.Expr)) else None
        if value is not None and _literal(value):
            continue
        return stmt
    return None


def _literal(node: ast.expr) -> bool:
    try:
        ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False
    return True


def _main_guard(stmt: ast.stmt) -> bool:
    """`if __name__ == "__main__":` (either way round), with no else."""
    if not isinstance(stmt, ast.If) or stmt.orelse or not isinstance(stmt.test, ast.Compare):
        return False
    test = stmt.test
    sides = [test.left, *test.comparators]
    name = any(isinstance(s, ast.Name) and s.id == "__name__" for s in sides)
    main = any(isinstance(s, ast.Constant) and s.value == "__main__" for s in sides)
    return len(sides) == 2 and isinstance(test.ops[0], ast.Eq) and name and main


def module_of(path: str) -> tuple[str, str]:
    """(the directory to put on sys.path, the dotted module name) of a source file."""
    directory, stem = os.path.split(os.path.abspath(path))
    parts = [os.path.splitext(stem)[0]]
    while os.path.isfile(os.path.join(directory, "__init__.py")):
        directory, package = os.path.split(directory)
        parts.insert(0, package)
    return directory, ".".join(parts)


def def_free_names(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> list[str]:
    """What a function defined in the program reads from around it: not its parameters."""
    args = fn.args
    params = {a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs)}
    params |= {a.arg for a in (args.vararg, args.kwarg) if a is not None}
    body = ast.Module(body=[*fn.body], type_ignores=[])
    defaults = [*args.defaults, *(d for d in args.kw_defaults if d is not None)]
    found = free_names(body) + [n for d in defaults for n in free_names(d)]
    return [n for n in dict.fromkeys(found) if n not in params and n != fn.name]


@dataclass
class Slice:
    """Setup lines that bind names, in the order they must run, and what is left to fill in.
    `local`: the lines that bind a function's locals (a thread's own objects, when the
    function is what a thread ran: `--per-thread-setup`)."""

    cwd: str
    lines: list[str] = field(default_factory=list)
    todo: list[str] = field(default_factory=list)
    local: set[str] = field(default_factory=set)
    known: dict[str, str] = field(default_factory=dict)  # arguments' values the trace saw
    _seen: set[tuple[str, str]] = field(default_factory=set)

    def add(self, line: str, local: bool = False) -> None:
        if line not in self.lines:
            self.lines.append(line)
        if local:
            self.local.add(line)

    def split(self) -> tuple[list[str], list[str]]:
        """(lines run once: imports and module globals; lines run per thread: locals)."""
        return ([x for x in self.lines if x not in self.local],
                [x for x in self.lines if x in self.local])  # fmt: skip

    def bind(self, src: Source, scopes: list[ast.AST], line: int, names: list[str],
             depth: int = 0) -> None:  # fmt: skip
        """Bind each of `names`, as seen from `line` inside `scopes` of `src`."""
        for name in names:
            if (src.path, name) in self._seen:
                continue
            self._seen.add((src.path, name))
            if depth > _MAX_DEPTH:
                self.todo.append(f"`{name}` (its definition is too far from the call)")
            elif not self._local(src, scopes, line, name, depth):
                self._global(src, line, name, depth)

    def _local(self, src: Source, scopes: list[ast.AST], line: int, name: str,
               depth: int) -> bool:  # fmt: skip
        for i, scope in enumerate(scopes):
            assert isinstance(scope, _FUNCS)
            stmt = binding(scope.body, name, line)
            if isinstance(stmt, (ast.Assign, ast.AnnAssign)) and stmt.value is not None:
                self.bind(src, scopes[i:], stmt.lineno, free_names(stmt.value), depth + 1)
                self.add(src.segment(stmt), local=True)
                return True
            if isinstance(stmt, (ast.Import, ast.ImportFrom)):
                self._import(src, stmt, name)
                return True
            if isinstance(stmt, _FUNCS):  # a function defined in the function: copied
                self.bind(src, scopes[i:], stmt.lineno, def_free_names(stmt), depth + 1)
                self.add(src.segment(stmt), local=True)
                return True
            args = scope.args
            if name in {a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs)}:
                if name in self.known and i == 0:  # its value when the program ran
                    self.add(f"{name} = {self.known[name]}", local=True)
                    return True
                where = f"{os.path.basename(src.path)}:{scope.lineno}"
                self.todo.append(f"`{name}`, an argument of {scope.name}() ({where})")
                return True
        return False

    def _global(self, src: Source, line: int, name: str, depth: int) -> None:
        stmt = binding(src.tree.body, name)
        where = f"{os.path.basename(src.path)}:{line}"
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            self._import(src, stmt, name)
        elif isinstance(stmt, (ast.Assign, ast.AnnAssign)) and stmt.value is not None:
            self.bind(src, [], stmt.lineno, free_names(stmt.value), depth + 1)
            self.add(src.segment(stmt))
        elif isinstance(stmt, _FUNCS) and runs_code(src) is not None:
            # importing it would run the program: the function itself, copied
            self.bind(src, [], stmt.lineno, def_free_names(stmt), depth + 1)
            self.add(src.segment(stmt))
        elif stmt is not None and (runs := runs_code(src)) is not None:
            file = os.path.basename(src.path)
            self.todo.append(f"`{name}`, defined in {file}, whose top level runs code (line "
                             f"{runs.lineno}), so importing it would run the program")  # fmt: skip
        elif stmt is not None:  # a def or class: import it from its file, as a module
            directory, module = module_of(src.path)
            if os.path.abspath(directory) != os.path.abspath(self.cwd):
                self.add(f"import sys; sys.path.insert(0, {directory!r})")
            self.add(f"from {module} import {name}")
        else:
            self.todo.append(f"`{name}` (not bound where {where} can see it)")

    def _import(self, src: Source, stmt: ast.Import | ast.ImportFrom, name: str) -> None:
        alias = next(a for a in stmt.names if _alias_binds(a) == name)
        if isinstance(stmt, ast.Import):
            self.add(f"import {alias.name}" + (f" as {alias.asname}" if alias.asname else ""))
            return
        module = stmt.module or ""
        if stmt.level:
            package = module_of(src.path)[1].split(".")[: -stmt.level]
            if not package:
                self.todo.append(f"`{name}` (a relative import in a file outside a package)")
                return
            module = ".".join(package + ([module] if module else []))
        self.add(f"from {module} import {alias.name}"
                 + (f" as {alias.asname}" if alias.asname else ""))  # fmt: skip
