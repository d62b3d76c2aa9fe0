"""`gvlbench trace -- COMMAND`: run any Python program with every watched object watched.

The program is not a measuring child: it is the user's, run once, as they would run it, with
the trace hook (trace/hook) first on PYTHONPATH, so every Python process it starts patches
each watched class (points.py) the moment it imports its module. The hook writes its records
as they happen, one file per process, into a directory this module reads while the program
runs (the status line, and the results file rewritten every second) and once more after it
ends. The records become the results file's `trace` rows (model.py), each finding gets the
`gvlbench race` command that reproduces it (repro.py), and trace's exit code is the program's
own end and the findings together (verdict.py).
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import shutil
import stat
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from gvlbench import lifecycle
from gvlbench import timeline as timeline_model
from gvlbench.errors import OptionError, UserError
from gvlbench.files import reported_later
from gvlbench.harness import keeper, timeline
from gvlbench.harness.target import base_metadata
from gvlbench.protocol import PATCH_NAMES
from gvlbench.report import junit
from gvlbench.results import Results, write_results
from gvlbench.trace import libraries, points
from gvlbench.trace import repro as trace_repro
from gvlbench.trace.command import Launch, resolve
from gvlbench.trace.model import TraceModel, set_interrupted
from gvlbench.trace.program import Program, ProgramEnd
from gvlbench.trace.verdict import junit_cases

HOOK_DIR = Path(__file__).resolve().parent / "hook"
ON_OVERLAP = ("wait", "refuse", "proceed")
POLL_S = 0.2
WRITE_EVERY_S = 1.0
MAX_READ_BYTES = 64 << 20  # of one records file per poll: the rest comes at the next one


@dataclass(frozen=True)
class TraceOptions:
    command: tuple[str, ...]
    python: str | None = None
    on_overlap: str = "wait"
    timeout_s: float | None = None
    records: Path | None = None  # keep the raw records here (default: a temporary directory)
    output: Path | None = None  # the results file, rewritten as records arrive
    quiet: bool = False  # do not relay the program's output
    patches: tuple[str, ...] = ()  # gvlbench's patches, applied in the program
    watch: tuple[str, ...] = ()  # more classes to watch: module:Class[.method,...]
    junit: Path | None = None  # one test case per finding, and the program
    timeline: Path | None = None  # every thread's states, as trace-event JSON (the hook's)

    def __post_init__(self) -> None:
        unknown = [p for p in self.patches if p not in PATCH_NAMES]
        if unknown:
            raise OptionError(f"--patch {unknown[0]}: not a gvlbench patch (one of "
                              f"{', '.join(PATCH_NAMES)})")  # fmt: skip
        for spec in self.watch:
            points.parse_watch(spec)
        if self.on_overlap not in ON_OVERLAP:
            raise OptionError(f"on overlap: {self.on_overlap!r} is not one of {ON_OVERLAP}")
        timeline.check(self.timeline, ())
        if self.timeout_s is not None and not 0 < self.timeout_s < math.inf:  # nan: not this
            raise OptionError(f"--timeout must be positive and finite, got {self.timeout_s:g}")


class Display(Protocol):
    """What the run tells the CLI: the status line, the program's output, a step."""

    def update(self, tally: dict[str, int], elapsed_s: float) -> None: ...

    def output(self, lines: str, is_err: bool) -> None: ...

    def step(self, text: str) -> None: ...


class RecordTail:
    """The complete records every process has written since the last read."""

    def __init__(self, directory: Path):
        self.directory = directory
        self._offsets: dict[Path, int] = {}
        self._partial: dict[Path, bytes] = {}
        self.damaged = 0

    def read(self) -> Iterator[tuple[int, dict[str, Any]]]:
        for path in sorted(self.directory.glob("proc-*.jsonl")):
            pid = path.stem.removeprefix("proc-").split(".")[0]
            data = _read_from(path, self._offsets.get(path, 0)) if pid.isdigit() else b""
            self._offsets[path] = self._offsets.get(path, 0) + len(data)
            lines = (self._partial.pop(path, b"") + data).split(b"\n")
            self._partial[path] = lines.pop()
            for line in lines:
                try:
                    yield int(pid), json.loads(line)
                except ValueError:
                    self.damaged += 1

    def finish(self) -> None:
        """After the program: a last line without its newline was cut by a kill."""
        self.damaged += sum(1 for rest in self._partial.values() if rest.strip())


def _read_from(path: Path, offset: int) -> bytes:
    """What a records file holds past `offset`: a regular file, never through a symlink
    (nothing else belongs in the records folder; a FIFO or a link there is read as empty)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return b""
    with open(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return b""
        f.seek(offset)
        return f.read(MAX_READ_BYTES)


def prepare(opts: TraceOptions) -> Launch:
    """What will run: bad input (no command, a missing program or --python, a --records
    folder that is not the user's own) fails here."""
    launch = resolve(opts.command, opts.python)
    if opts.records is not None:
        records_home(opts.records)
    return launch


def watched(opts: TraceOptions) -> list[points.Watched]:
    """Every binding's watched classes and the user's (`--watch`): what the hook patches."""
    return _watched(opts.watch)


@functools.cache
def _watched(specs: tuple[str, ...]) -> list[points.Watched]:
    return points.watched([points.parse_watch(spec) for spec in specs])


def trace(opts: TraceOptions, display: Display, launch: Launch | None = None) -> Results:
    """Run the program to its end (or --timeout) and report every Store. Ctrl-C, SIGTERM or
    SIGHUP stop the program, or the race commands' checks, and what was traced is still
    returned, its summary saying which signal (the CLI reports it, then exits 1). The
    results file is written before the checks start."""
    launch = launch or prepare(opts)
    found = watched(opts)
    with _records_dir(opts.records) as (directory, private), _alive(private) as fifo:
        program = Program(launch.argv, _env(directory, fifo, opts, found),
                          None if opts.quiet else display.output)  # fmt: skip
        model, tail = TraceModel(), RecordTail(directory)
        end, stopped = _watch(program, model, tail, opts, display, launch)
        parts = _timeline_parts(directory) if opts.timeline else []
    display.step("finding the engines the program ran")
    results = _results(launch, opts, model, end, stopped and f"{stopped} while it ran", found)
    _timeline(opts, parts, results)
    trace_repro.sketch_all(results.trace, os.getcwd())
    _write(opts, results)
    if not stopped:
        _traced_at_all(launch, model, end, results)
        stopped = _check(results, display)
        if stopped:
            set_interrupted(results.trace, f"{stopped} while the race commands were checked")
        _write(opts, results)
    return results


def _traced_at_all(launch: Launch, model: TraceModel, end: ProgramEnd, results: Results) -> None:
    """A command that started no traced Python, or whose Python ran no Wasm at all (nothing
    watched, and no library it loaded carries an engine: the wrong environment, most often),
    is bad input: nothing was traced. One that ran an engine trace cannot watch is not: the
    report names it."""
    if not model.processes:
        raise UserError(
            f"`{launch.display}` ran ({end.describe()}) but no Python process of it loaded the "
            "trace hook: trace watches Python programs (one started with -I, -E or -S "
            "ignores the PYTHONPATH the hook needs)"
        )
    engines = [r for r in results.trace if r["kind"] == "library"]
    if end.records_lost and not any(p.watching for p in model.processes.values()):
        raise UserError(
            f"`{launch.display}` ran ({end.describe()}), and so nothing was traced: its records "
            "folder had no room (a full disk, or a file-size limit)"
        )
    if not any(p.watching for p in model.processes.values()) and not engines:
        pythons = ", ".join(sorted({p.executable for p in model.processes.values()}))
        words = [line.strip() for line in end.stderr_tail if line.strip()]
        errors = [line for line in words if "rror" in line] or words
        last = f"; it said: {errors[-1]}" if errors else ""
        raise UserError(
            f"`{launch.display}` ran under {pythons} ({end.describe()}) and no process of it "
            f"imported a package trace watches or loaded a Wasm engine, so nothing was "
            f"traced{last}: run it in the environment that has your package (activate it, or "
            "name its interpreter with --python)"
        )


def _check(results: Results, display: Display) -> str:
    """Run the race commands' checks; an interrupt skips the rest (the signal's name)."""
    display.step("checking the race commands")
    try:
        trace_repro.check_all(results.trace, display.step)
    except KeyboardInterrupt:
        return "SIGINT"
    except lifecycle.Terminated as exc:
        return exc.name
    return ""


def _watch(program: Program, model: TraceModel, tail: RecordTail, opts: TraceOptions,
           display: Display, launch: Launch) -> tuple[ProgramEnd, str]:  # fmt: skip
    """Poll until the program ends: records in, status out, the results file kept fresh.
    Ctrl-C, SIGTERM and SIGHUP stop the program: its end, and the signal's name."""
    written, stopped = 0.0, ""
    try:
        while program.running():
            time.sleep(POLL_S)
            if _read(tail, model) and opts.output and time.monotonic() - written > WRITE_EVERY_S:
                written = time.monotonic()
                _write(opts, _results(launch, opts, model, None), final=False)
            display.update(model.tally(), program.elapsed_s)
            if opts.timeout_s is not None and program.elapsed_s > opts.timeout_s:
                program.stop("timed out")
    except KeyboardInterrupt:  # the user stops the program; the trace is reported
        stopped = "SIGINT"
    except lifecycle.Terminated as exc:  # SIGTERM, SIGHUP: the same
        stopped = exc.name
    if stopped:
        program.stop("interrupted")
    end = program.finish()
    _read(tail, model)
    tail.finish()
    model.damaged += tail.damaged
    return end, stopped


def _read(tail: RecordTail, model: TraceModel) -> int:
    n = 0
    for pid, record in tail.read():
        model.add(pid, record)
        n += 1
    return n


def _results(launch: Launch, opts: TraceOptions, model: TraceModel, end: ProgramEnd | None,
             interrupted: str = "",
             found: list[points.Watched] | None = None) -> Results:  # fmt: skip
    """The results document; after the program (`found` given), with the engines it ran."""
    metadata = base_metadata((launch.runtime,) if launch.runtime else (), target="command",
                             command_line=launch.display, on_overlap=opts.on_overlap,
                             patches=list(opts.patches), watch=list(opts.watch))  # fmt: skip
    program = [end.row(launch.command)] if end else []
    rows = program + model.rows(points.patchable(found or watched(opts)))
    if found is not None:
        rows[-1:-1] = libraries.rows(model, found)  # before the summary
    set_interrupted(rows, interrupted)
    return Results(metadata=metadata, command="trace", trace=rows)


def _write(opts: TraceOptions, results: Results, final: bool = True) -> None:
    """The results file (`--json`), and once the program has ended, `--junit`."""
    if opts.output:  # a failure is said after the report, which it never replaces
        with reported_later(opts.output, "results"):
            write_results(opts.output, results)
    if opts.junit and final:
        with reported_later(opts.junit, "--junit"):
            junit.write(opts.junit, "gvlbench.trace", junit_cases(results.trace))


def _timeline_parts(directory: Path) -> list[tuple[str, Any]]:
    """Each traced process's timeline part (timeline-PID.json, written at its exit)."""
    from gvlbench.answers import read_as

    parts: list[tuple[str, Any]] = []
    for path in sorted(directory.glob("timeline-*.json")):
        try:
            part = read_as(timeline_model.Part, json.loads(path.read_text()), path.name)
        except (OSError, ValueError) as exc:  # a process killed while writing it
            parts.append((path.stem, str(exc)))
            continue
        parts.append((path.stem, part))
    return parts


def _timeline(opts: TraceOptions, parts: list[tuple[str, Any]], results: Results) -> None:
    """--timeline: the processes' parts as one file, their summaries in the results."""
    if opts.timeline is None:
        return
    sink = timeline.TimelineFile(opts.timeline, "trace", " ".join(opts.command)[:80])
    for name, part in parts:
        if isinstance(part, str):
            sink.timeline.unmeasured.append(f"{name}: not read ({part})")
        else:
            timeline.record(sink, results, part, "", sink.timeline.scenario)
    with reported_later(opts.timeline, "the timeline"):
        sink.write()


def _env(directory: Path, fifo: Path, opts: TraceOptions,
         found: list[points.Watched]) -> dict[str, str]:  # fmt: skip
    env = dict(os.environ)
    path = env.get("PYTHONPATH")
    env["PYTHONPATH"] = str(HOOK_DIR) + (os.pathsep + path if path else "")
    env.update(GVLBENCH_TRACE_DIR=str(directory), GVLBENCH_TRACE_ON_OVERLAP=opts.on_overlap,
               GVLBENCH_TRACE_WATCH=points.hook_json(found),
               GVLBENCH_TRACE_PATCHES=",".join(opts.patches),
               GVLBENCH_TRACE_GVLBENCH=str(Path(__file__).resolve().parents[2]),
               GVLBENCH_TRACE_ALIVE=str(fifo))  # fmt: skip
    if opts.timeline is not None:
        env["GVLBENCH_TRACE_TIMELINE"] = "1"
    return env


@contextlib.contextmanager
def _records_dir(keep: Path | None) -> Iterator[tuple[Path, Path]]:
    """Where the hook writes its records (`--records DIR`, checked to be the user's own, or
    the private folder), and the private folder itself: made by the harness (0700), holding
    the FIFO, and removed at any end (by the keeper if the harness is SIGKILLed)."""
    private = Path(tempfile.mkdtemp(prefix="gvlbench-trace-"))
    keeper.remove_at_end(private)
    try:
        yield (private if keep is None else records_home(keep)), private
    finally:
        shutil.rmtree(private, ignore_errors=True)
        keeper.forget(private)


def records_home(keep: Path) -> Path:
    """`--records DIR` as a folder only this user can write to, so nobody can plant a
    symlink or a file where the hook writes: made here (0700) when it does not exist; else
    a real directory (not a symlink) this user owns, writable by no one else, holding no
    records yet. OptionError (one line) otherwise; nothing in it is ever removed."""
    where = f"--records {keep}"
    try:
        info = keep.lstat()
    except FileNotFoundError:
        try:
            keep.parent.mkdir(parents=True, exist_ok=True)
            keep.mkdir(mode=0o700)
        except OSError as exc:
            raise OptionError(f"{where}: cannot make it: {exc.strerror or exc}") from None
        return keep
    except OSError as exc:
        raise OptionError(f"{where}: {exc.strerror or exc}") from None
    if stat.S_ISLNK(info.st_mode):
        raise OptionError(f"{where} is a symbolic link: give the directory itself")
    if not stat.S_ISDIR(info.st_mode):
        raise OptionError(f"{where} is not a directory")
    if info.st_uid != os.geteuid():
        raise OptionError(f"{where} belongs to another user: give a directory of your own")
    if info.st_mode & 0o022:
        raise OptionError(f"{where} is writable by others (mode {stat.filemode(info.st_mode)}): "
                          "give a directory only you can write to, or a new one")  # fmt: skip
    if any(keep.glob("proc-*.jsonl")):
        raise OptionError(f"{where} already holds records: give an empty directory")
    return keep


@contextlib.contextmanager
def _alive(directory: Path) -> Iterator[Path]:
    """The FIFO every traced process watches (tracehook/watchdog.py), in the harness's
    private folder: held open here for as long as this process lives, so its end, however
    it comes, ends them too."""
    fifo = directory / "alive.fifo"
    os.mkfifo(fifo, 0o600)
    fd = os.open(fifo, os.O_RDWR | os.O_CLOEXEC)
    try:
        yield fifo
    finally:
        os.close(fd)
