"""For each unsafe creation site a trace found, the `gvlbench race` command that reproduces it.

The setup is the line that made the shared object (the innermost frame of the program's own
code when its Store was made), with whatever that line needs (pysource.Slice); the statement
is the call, on the line where a second thread entered the Store, whose receiver holds the
Store (the hook named those holders: `ctx` in `ctx.eval(JS)`); the threads are as many as
entered it. When a name cannot be bound from the source, the command is a template and says
which. Otherwise it is checked by gvlbench's own code probe (setup, then the statement alone,
under the interpreter that ran the program) before it is called ready to run.
"""

from __future__ import annotations

import ast
import os
import shlex
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gvlbench.errors import CodeError, InterpreterError
from gvlbench.harness import code as code_target
from gvlbench.harness.interpreter import Runtime, probe
from gvlbench.protocol import Code
from gvlbench.trace import pysource

MAX_THREADS = 8
MAX_CHECKED = 4  # sites whose command is run by the probe (each is a child: a second or two)
CHECK_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Repro:
    setup: tuple[str, ...]
    stmt: str
    threads: int
    python: str | None = None  # the program's interpreter, when not gvlbench's own
    todo: tuple[str, ...] = ()
    ready: bool = False
    checked: str = ""

    def command(self) -> str:
        argv = ["gvlbench", "race", *(["--python", self.python] if self.python else [])]
        for line in self.setup:
            argv += ["--setup", line]
        return shlex.join([*argv, "--stmt", self.stmt, "--threads", str(self.threads)])

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Repro:
        return cls(tuple(data["setup"]), data["stmt"], data["threads"], data["python"],
                   tuple(data["todo"]), data["ready"], data["checked"])  # fmt: skip

    def to_json(self) -> dict[str, Any]:
        return {"command": self.command(), "ready": self.ready, "todo": list(self.todo),
                "checked": self.checked, "setup": list(self.setup), "stmt": self.stmt,
                "threads": self.threads, "python": self.python}  # fmt: skip


def _user_frame(stack: list[list[Any]]) -> list[Any] | None:
    return next((f for f in reversed(stack) if f[3] == "user"), None)


def sketch(store: dict[str, Any], cwd: str) -> Repro:
    """The command from the Store's creation and an overlap, without running it: the first
    overlap (in the order seen) whose lines give a complete command, else the first."""
    made = _user_frame(store["stack"])
    examples = [e for e in store["examples"] if _user_frame(e["stack"])]
    threads = max(2, min(MAX_THREADS, len(store["threads"])))
    if made is None or not examples:
        missing = "the line that made it" if made is None else "the line that entered it"
        return Repro((), "...", threads, todo=(f"no frame of your code shows {missing}",))
    first = None
    for example in examples:
        repro = _sketch_one(made, example, threads, cwd)
        if not repro.todo:
            return repro
        first = first or repro
    assert first is not None
    return first


def _sketch_one(made: list[Any], example: dict[str, Any], threads: int, cwd: str) -> Repro:
    todo: list[str] = []
    cut = pysource.Slice(cwd)
    name, value = _creation(made, cut, todo)
    stmt = _entry(_user_frame(example["stack"]), example["holders"], name, value, cut, todo)
    broken = [part for part in (*cut.lines, stmt) if not compiles(part)]
    if broken:  # a slice that does not run alone is no command: say so, show none of it
        todo.append(f"code that runs alone (cut from the source: {broken[0]!r})")
        return Repro((), "...", threads, todo=tuple(todo + cut.todo))
    return Repro(tuple(cut.lines), stmt, threads, todo=tuple(todo + cut.todo))


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
    """The call on the entering line that uses the Store, its names bound: one whose
    receiver holds it, else one that is passed it. Never the whole line, which may not run
    alone (a `return`): "..." and a todo when no call is found."""
    src = pysource.read(frame[0]) if frame else None
    stmt, scopes = src.at(frame[1]) if src and frame else (None, [])
    if src is None or stmt is None or frame is None:
        todo.append("the line that entered the Store cannot be read")
        return "..."
    line = frame[1]
    calls = [n for n in ast.walk(stmt) if isinstance(n, ast.Call)
             and n.lineno <= line <= (n.end_lineno or n.lineno)]  # fmt: skip
    chosen, holder = _user_of(calls, [*holders, *([made] if made else [])])
    if chosen is None:
        todo.append(f"which call on {os.path.basename(frame[0])}:{line} uses the object")
        return "..."
    if holder != made:
        cut.add(f"{holder} = {value}")  # the entering code's name for the object made
    cut.bind(src, scopes, line, [n for n in pysource.free_names(chosen) if n != holder])
    return src.segment(chosen)


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


def compiles(code: str) -> bool:
    try:
        compile(code, "<race>", "exec")
    except (SyntaxError, ValueError):
        return False
    return True


def sketch_all(rows: list[dict[str, Any]], cwd: str) -> None:
    """Give each unsafe site row its `race`, unchecked: the command and what to fill in."""
    stores = {(r["pid"], r["store"]): r for r in rows if r["kind"] == "store"}
    pythons = {r["pid"]: r["executable"] for r in rows if r["kind"] == "process"}
    for site in (r for r in rows if r["kind"] == "site" and r["unsafe"]):
        store = stores.get(tuple(site["example_store"]))  # type: ignore[arg-type]
        if store is not None:
            repro = _with_python(sketch(store, cwd), pythons.get(store["pid"], ""))
            site["race"] = repro.to_json()


def check_all(rows: list[dict[str, Any]], step: Callable[[str], None]) -> None:
    """Check the first MAX_CHECKED complete commands (each is a child: a second or two, up
    to CHECK_TIMEOUT_S); a site's `race` says ready only once its check passed."""
    sites = [r for r in rows if r["kind"] == "site" and r["race"] and not r["race"]["todo"]]
    for site in sites[:MAX_CHECKED]:
        step(f"checking the race command for {os.path.basename(site['site'])}")
        site["race"] = check(Repro.from_json(site["race"])).to_json()


def _with_python(repro: Repro, executable: str) -> Repro:
    own = os.path.realpath(sys.executable)
    if not executable or os.path.realpath(executable) == own:
        return repro
    return Repro(repro.setup, repro.stmt, repro.threads, executable, repro.todo)


def check(repro: Repro) -> Repro:
    """Run the setup and the statement alone, as `gvlbench race` will first do itself."""
    try:
        runtime: Runtime | None = probe(repro.python) if repro.python else None
        code_target.probe(Code(repro.stmt, repro.setup), (), runtime, CHECK_TIMEOUT_S)
    except (CodeError, InterpreterError) as exc:
        return Repro(repro.setup, repro.stmt, repro.threads, repro.python, (), False,
                     f"run alone under the program's interpreter, it failed: {exc}")  # fmt: skip
    return Repro(repro.setup, repro.stmt, repro.threads, repro.python, (), True,
                 "its setup and statement ran, alone, under the program's interpreter")  # fmt: skip
