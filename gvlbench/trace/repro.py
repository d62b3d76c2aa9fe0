"""For each finding, the `gvlbench race` command that reproduces it, built from the program's own
lines (pysource.Slice) and checked by gvlbench's code probe before it is called ready to run.

Sharing: the statement is the call, on the line of the program's own code where a second
thread entered the object, whose receiver holds it (the hook named those holders: `ctx` in
`ctx.eval(JS)`); the setup makes that object: the line that made the Store when the program's
code shows it, else the line that made the package's object the call is on (a package that
makes its Store in a thread of its own: the call's `session`, bound from where the program
made it). The threads are as many as entered it.

An exception hand-off: the statement is the call into Wasm, on the line of the raising
thread's own code, caught, so each thread's outcome is the type of what it got back (a
thread that got a bare WasmtimeError where the call alone raised the host's exception is
counted wrong); what that line needs, made in its function, is `--per-thread-setup` (each
thread its own objects, as in the program), and imports and globals `--setup`.

When a name cannot be bound from the source the command is a template and says which;
otherwise the probe runs its setup and statement alone, under the program's interpreter.
"""

from __future__ import annotations

import ast
import os
import shlex
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from gvlbench.errors import CodeError, InterpreterError
from gvlbench.harness import code as code_target
from gvlbench.harness.interpreter import Runtime, probe
from gvlbench.protocol import Code
from gvlbench.trace import pysource
from gvlbench.trace.hazards import HANDOFF

MAX_THREADS = 8
MAX_CHECKED = 4  # findings whose command is run by the probe (each is a child: a second or two)
CHECK_TIMEOUT_S = 60.0
CAUGHT = """try:
{call}
    outcome = "returned"
except BaseException as exc:
    outcome = type(exc).__name__
outcome"""


@dataclass(frozen=True)
class Repro:
    setup: tuple[str, ...]
    stmt: str
    threads: int
    python: str | None = None  # the program's interpreter, when not gvlbench's own
    todo: tuple[str, ...] = ()
    ready: bool = False
    checked: str = ""
    per_thread_setup: tuple[str, ...] = ()

    def command(self) -> str:
        argv = ["gvlbench", "race", *(["--python", self.python] if self.python else [])]
        for line in self.setup:
            argv += ["--setup", line]
        for line in self.per_thread_setup:
            argv += ["--per-thread-setup", line]
        return shlex.join([*argv, "--stmt", self.stmt, "--threads", str(self.threads)])

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Repro:
        return cls(tuple(data["setup"]), data["stmt"], data["threads"], data["python"],
                   tuple(data["todo"]), data["ready"], data["checked"],
                   tuple(data.get("per_thread_setup", ())))  # fmt: skip

    def to_json(self) -> dict[str, Any]:
        return {"command": self.command(), "ready": self.ready, "todo": list(self.todo),
                "checked": self.checked, "setup": list(self.setup),
                "per_thread_setup": list(self.per_thread_setup), "stmt": self.stmt,
                "threads": self.threads, "python": self.python}  # fmt: skip


def _user_frame(stack: list[list[Any]]) -> list[Any] | None:
    return next((f for f in reversed(stack) if f[3] == "user"), None)


def _threads(n: int) -> int:
    return max(2, min(MAX_THREADS, n))


def sketch(finding: dict[str, Any], cwd: str) -> Repro:
    """The command for a finding, without running it."""
    if finding["hazard"] == HANDOFF.kind:
        return sketch_handoff(finding, cwd)
    return sketch_shared(finding, cwd)


def sketch_shared(f: dict[str, Any], cwd: str) -> Repro:
    """From the object's making (or the program's making of the package object that holds it)
    and an overlap: the first overlap whose lines give a complete command, else the first."""
    made = _user_frame(f["stack"])
    examples = [e for e in f["examples"] if _user_frame(e["stack"])]
    threads = _threads(f["threads"])
    if not examples:
        return Repro((), "...", threads, todo=("no frame of your code shows the line that "
                                               "entered it",))  # fmt: skip
    first = None
    for example in examples:
        repro = _sketch_one(made, example, threads, cwd)
        if not repro.todo:
            return repro
        first = first or repro
    assert first is not None
    return first


def _sketch_one(made: list[Any] | None, example: dict[str, Any], threads: int,
                cwd: str) -> Repro:  # fmt: skip
    todo: list[str] = []
    cut = pysource.Slice(cwd)
    name, value = _creation(made, cut, todo) if made is not None else (None, "")
    stmt = _entry(_user_frame(example["stack"]), example["holders"], name, value, cut, todo)
    return _complete(cut, stmt, threads, todo, per_thread=False)


def _complete(cut: pysource.Slice, stmt: str, threads: int, todo: list[str],
              per_thread: bool) -> Repro:  # fmt: skip
    broken = [part for part in (*cut.lines, stmt) if not compiles(part)]
    if broken:  # a slice that does not run alone is no command: say so, show none of it
        todo.append(f"code that runs alone (cut from the source: {broken[0]!r})")
        return Repro((), "...", threads, todo=tuple(todo + cut.todo))
    setup, local = cut.split() if per_thread else (cut.lines, [])
    return Repro(tuple(setup), stmt, threads, todo=tuple(todo + cut.todo),
                 per_thread_setup=tuple(local))  # fmt: skip


def _creation(frame: list[Any], cut: pysource.Slice, todo: list[str]) -> tuple[str | None, str]:
    """Bind what the creating line needs and run it: (the name it assigns, or None; the
    expression that made the object)."""
    src = pysource.read(frame[0])
    stmt, scopes = src.at(frame[1]) if src else (None, [])
    if src is None or stmt is None:
        todo.append(f"the source of {os.path.basename(frame[0])}:{frame[1]} cannot be read")
        return None, "..."
    target = stmt.targets[0] if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 else (
        stmt.target if isinstance(stmt, ast.AnnAssign) else None)  # fmt: skip
    value = getattr(stmt, "value", None)
    if value is None:
        todo.append(f"what {os.path.basename(frame[0])}:{frame[1]} makes")
        return None, "..."
    cut.bind(src, scopes, stmt.lineno, pysource.free_names(value))
    if isinstance(target, ast.Name):
        cut.add(src.segment(stmt))
        return target.id, target.id
    return None, src.segment(value)


def _entry(frame: list[Any] | None, holders: list[str], made: str | None, value: str,
           cut: pysource.Slice, todo: list[str]) -> str:  # fmt: skip
    """The call on the entering line that uses the object, its names bound: one whose
    receiver holds it, else one that is passed it. Never the whole line, which may not run
    alone (a `return`): "..." and a todo when no call is found. Without the line that made
    the object (`value` ""), the holder is bound where the entering code got it."""
    src = pysource.read(frame[0]) if frame else None
    stmt, scopes = src.at(frame[1]) if src and frame else (None, [])
    if src is None or stmt is None or frame is None:
        todo.append("the line that entered it cannot be read")
        return "..."
    line = frame[1]
    chosen, holder = _user_of(_calls_at(stmt, line), [*holders, *([made] if made else [])])
    if chosen is None:
        todo.append(f"which call on {os.path.basename(frame[0])}:{line} uses the object")
        return "..."
    if holder != made and value:
        cut.add(f"{holder} = {value}")  # the entering code's name for the object made
    cut.bind(src, scopes, line, [n for n in pysource.free_names(chosen)
                                 if n != holder or not value])  # fmt: skip
    return src.segment(chosen)


def _calls_at(stmt: ast.stmt, line: int) -> list[ast.Call]:
    return [n for n in ast.walk(stmt) if isinstance(n, ast.Call)
            and n.lineno <= line <= (n.end_lineno or n.lineno)]  # fmt: skip


def _user_of(calls: list[ast.Call], names: list[str]) -> tuple[ast.Call | None, str]:
    """The call whose receiver is one of `names` (the first name that has one), else the
    innermost call given one of them as an argument; and that name."""
    for name in names:
        for call in calls:
            if pysource.root_name(call.func) == name:
                return call, name
    for call in reversed(calls):
        for arg in (*call.args, *(k.value for k in call.keywords)):
            if isinstance(arg, ast.Name) and arg.id in names:
                return call, arg.id
    return None, ""


def sketch_handoff(f: dict[str, Any], cwd: str) -> Repro:
    """From the raising thread's own line that called into Wasm: that call, caught, in each
    thread, with what its function made for it made per thread."""
    threads = _threads(f["threads"])
    for example in f["examples"]:
        stack = example.get("raiser_stack") if example["how"] == "taken" else example.get("stack")
        frame = _user_frame(stack or [])
        if frame is not None:
            return _sketch_call(frame, threads, cwd, example.get("raiser_args") or {})
    return Repro((), "...", threads, todo=("no frame of your code shows the call whose host "
                                           "function raised",))  # fmt: skip


def _sketch_call(frame: list[Any], threads: int, cwd: str, known: dict[str, str]) -> Repro:
    """`known`: the values the raising function's arguments had (the thread's own input)."""
    todo: list[str] = []
    cut = pysource.Slice(cwd, known=dict(known))
    src = pysource.read(frame[0])
    stmt, scopes = src.at(frame[1]) if src else (None, [])
    call = _outer_call(_calls_at(stmt, frame[1])) if src and stmt else None
    if src is None or call is None:
        todo.append(f"the call into Wasm on {os.path.basename(frame[0])}:{frame[1]}")
        return Repro((), "...", threads, todo=tuple(todo))
    cut.bind(src, scopes, frame[1], pysource.free_names(call))
    text = "\n".join("    " + line for line in src.segment(call).splitlines())
    return _complete(cut, CAUGHT.format(call=text), threads, todo, per_thread=True)


def _outer_call(calls: list[ast.Call]) -> ast.Call | None:
    """The line's call into the program's objects: the outermost that is not an assertion
    helper (`self.assertEqual(f(store), 1)`: `f(store)`)."""
    for call in calls:  # ast.walk: outermost first
        name = call.func.attr if isinstance(call.func, ast.Attribute) else getattr(
            call.func, "id", "")  # fmt: skip
        if not name.startswith(("assert", "raises")):
            return call
    return None


def compiles(code: str) -> bool:
    try:
        compile(code, "<race>", "exec")
    except (SyntaxError, ValueError):
        return False
    return True


def sketch_all(rows: list[dict[str, Any]], cwd: str) -> None:
    """Give each finding its `race`, unchecked: the command and what to fill in."""
    pythons = {r["pid"]: r["executable"] for r in rows if r["kind"] == "process"}
    for finding in (r for r in rows if r["kind"] == "finding"):
        repro = _with_python(sketch(finding, cwd), pythons.get(finding["pid"], ""))
        finding["race"] = repro.to_json()


def check_all(rows: list[dict[str, Any]], step: Callable[[str], None]) -> None:
    """Check the first MAX_CHECKED complete commands (each is a child: a second or two, up
    to CHECK_TIMEOUT_S); a finding's `race` says ready only once its check passed."""
    found = [r for r in rows if r["kind"] == "finding" and r["race"] and not r["race"]["todo"]]
    for finding in found[:MAX_CHECKED]:
        step(f"checking the race command for {os.path.basename(finding['site'])}")
        finding["race"] = check(Repro.from_json(finding["race"])).to_json()


def _with_python(repro: Repro, executable: str) -> Repro:
    own = os.path.realpath(sys.executable)
    if not executable or os.path.realpath(executable) == own:
        return repro
    return replace(repro, python=executable)


def check(repro: Repro) -> Repro:
    """Run the setup and the statement alone, as `gvlbench race` will first do itself."""
    code = Code(repro.stmt, repro.setup, repro.per_thread_setup)
    try:
        runtime: Runtime | None = probe(repro.python) if repro.python else None
        code_target.probe(code, (), runtime, CHECK_TIMEOUT_S)
    except (CodeError, InterpreterError) as exc:
        failed = f"run alone under the program's interpreter, it failed: {exc}"
        return replace(repro, todo=(), ready=False, checked=failed)
    ran = "its setup and statement ran, alone, under the program's interpreter"
    return replace(repro, todo=(), ready=True, checked=ran)
