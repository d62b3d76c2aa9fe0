"""Python code as a target: compiled once, in the harness (to fail early) and in the child.

The parts of a code target are compiled here, with no binding loaded, so a syntax error is one
line in the harness before any child starts, and the child compiles them the same way. The
statement becomes the body of a function, as timeit does; its last expression, if it ends in
one, is returned (the result a race compares with the reference).
"""

from __future__ import annotations

import ast
import inspect
from typing import Any

from gvlbench.errors import CodeError
from gvlbench.protocol import Code

STMT_NAME = "__gvlbench_stmt__"


def compile_part(source: str, part: str) -> Any:
    """A code object for `source`; CodeError naming the part and the line on a syntax error."""
    try:
        return compile(source, f"<{part}>", "exec")
    except SyntaxError as exc:
        raise CodeError(f"{part} does not compile: {exc.msg} (line {exc.lineno})") from None


def compile_stmt(source: str) -> Any:
    """The statement as the body of a function `__gvlbench_stmt__()` whose last expression,
    if it has one, is returned."""
    try:
        body = ast.parse(source, "<stmt>", "exec").body
    except SyntaxError as exc:
        raise CodeError(f"--stmt does not compile: {exc.msg} (line {exc.lineno})") from None
    if not body:
        raise CodeError("--stmt is empty")
    if isinstance(body[-1], ast.Expr):
        body[-1] = ast.copy_location(ast.Return(body[-1].value), body[-1])
    func = ast.FunctionDef(
        name=STMT_NAME, args=ast.arguments([], [], None, [], [], None, []), body=body,
        decorator_list=[], returns=None, type_params=[],
    )  # fmt: skip
    module = ast.fix_missing_locations(ast.Module([func], []))
    try:
        compiled = compile(module, "<stmt>", "exec")
    except SyntaxError as exc:  # e.g. `nonlocal` misplaced, found only here
        raise CodeError(f"--stmt does not compile: {exc.msg} (line {exc.lineno})") from None
    body_code = next(c for c in compiled.co_consts if hasattr(c, "co_flags"))
    if body_code.co_flags & (inspect.CO_GENERATOR | inspect.CO_COROUTINE
                             | inspect.CO_ASYNC_GENERATOR):  # fmt: skip
        raise CodeError("--stmt may not yield or await: it must run to its end when called")
    return compiled


def describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def comparable(value: Any) -> bool:
    """Whether `==` says something about `value`: not for a type that keeps object's
    identity comparison (a handle, an object the package returns)."""
    return type(value).__eq__ is not object.__eq__


def check(code: Code) -> None:
    """CodeError for the first part that does not compile."""
    for source in code.setup:
        compile_part(source, "--setup")
    for source in code.per_thread_setup:
        compile_part(source, "--per-thread-setup")
    compile_stmt(code.stmt)
