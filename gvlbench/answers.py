"""The other half of the contract: typed answers, one per task kind, read in one place.

A child's answer used to be read as a bare dict wherever it was recorded, so a renamed key
failed silently: the Python worker writing `threads_overlapped` for `overlap_threads` would
have turned a gate failure into "unsure" (no overlap row). Here each kind's answer is a
frozen dataclass whose fields are its keys and their types; `parse_answer` is its one
reader, called by the runner on every answer, and the typed answer it builds is what the
experiments record (`ChildOutcome.answer`): none of them reads a key. An answer that does not
match (a key missing, a value of the wrong type, a kind no task has) makes the child's
outcome `failed` with the reason in one line. Both workers (Python and Ruby) are held to it.

A cell of a paired measurement is a `(Mode, threads)` tuple here (modes.Cell); a worker's
JSON spells it "mode/threads", read by modes.cell_of. `to_wire` is the way back to JSON (a
results row, the fake executor's answers checked against this reader).

Schema version: answers carry the protocol version of their task (protocol.PROTOCOL); a
reader for a new version is a new set of classes here, chosen by that number.
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from dataclasses import dataclass
from typing import Any, ClassVar

from gvlbench.modes import Cell, Mode, cell_key, cell_of
from gvlbench.protocol import PROTOCOL
from gvlbench.timeline import Part

Number = int | float


@dataclass(frozen=True)
class Answer:
    kind: ClassVar[str] = ""

    def to_json(self) -> dict[str, Any]:
        """The answer document a worker writes for this answer (None fields left out)."""
        return {"protocol": PROTOCOL, "ok": True, "kind": self.kind, **to_wire(self)}


@dataclass(frozen=True)
class ChildError:
    """What a child that raised said: the exception's type name and its message."""

    type: str
    message: str


@dataclass(frozen=True)
class SpeedupAnswer(Answer):
    kind: ClassVar[str] = "speedup"
    loops: int
    cells: dict[Cell, list[float]]  # seconds per round of each cell
    system: dict[str, Any] | None = None  # pyperf's metadata of the measuring process
    # a timeline's: each cell's recorded twin, seconds per round (its cost: against `cells`)
    traced: dict[Cell, list[float]] | None = None
    timeline: Part | None = None
    timeline_cost_ns: list[float] | None = None  # what recording adds to one call, per round


@dataclass(frozen=True)
class BenchAnswer(Answer):
    kind: ClassVar[str] = "bench"
    benchmark: dict[str, Any]  # one pyperf benchmark


@dataclass(frozen=True)
class ProgressAnswer(Answer):
    kind: ClassVar[str] = "progress"
    via: str
    samples: list[dict[str, Any]]  # {"ratio", "call_s", "rate_alone_per_s"} per call
    overlap: list[float] | None = None
    overlap_threads: int | None = None
    # the control's overlap in the same rounds: as many threads of pure Wasm, needing no lock
    control_overlap: list[float] | None = None
    misrouted: dict[str, int] | None = None
    checked_calls: int | None = None
    timeline: Part | None = None


@dataclass(frozen=True)
class PhasesAnswer(Answer):
    kind: ClassVar[str] = "phases"
    compile_s: list[float]
    instantiate_s: list[float]
    call_s: list[float]


@dataclass(frozen=True)
class PoolAnswer(Answer):
    kind: ClassVar[str] = "pool"
    executor: str
    wall_s: list[float]
    peak_rss_kib: Number
    calls: int


@dataclass(frozen=True)
class RaceAnswer(Answer):
    kind: ClassVar[str] = "race"
    calls: int
    refused: int
    exceptions: dict[str, int]
    examples: dict[str, str] | None = None
    elapsed_s: Number | None = None
    compared: bool | None = None
    wrong: int | None = None
    wrong_example: Any = None
    owner_ops: int | None = None  # an entry race: the owner thread's operations
    timeline: Part | None = None


@dataclass(frozen=True)
class CheckAnswer(Answer):
    kind: ClassVar[str] = "check"
    check: str
    repeat: int
    failed: int
    failures: list[str]
    notes: list[str]
    elapsed_s: Number | None = None
    not_applicable: str = ""  # why the check had nothing to judge in this mode


@dataclass(frozen=True)
class GuardCostAnswer(Answer):
    kind: ClassVar[str] = "guard-cost"
    loops: int
    unguarded_ns: list[float]
    guarded_ns: dict[str, list[float]]  # per guard design
    entries: dict[str, int] | None = None  # a statement's Store entries per run, by name
    guarded_stores: int | None = None


@dataclass(frozen=True)
class LegalUse:
    outcome: str  # admitted | refused | failed
    detail: str


@dataclass(frozen=True)
class LegalUsesAnswer(Answer):
    kind: ClassVar[str] = "legal-uses"
    uses: dict[str, LegalUse]


@dataclass(frozen=True)
class SweepPointAnswer(Answer):
    kind: ClassVar[str] = "sweep-point"
    loops: int
    cells: dict[Cell, list[float]]  # seconds per call of each thread, one value per round
    alone_s: list[float]


@dataclass(frozen=True)
class CallSeries:
    """One (path, mode, threads) of a calls answer: ns per call, one value per batch."""

    path: str
    mode: str
    loops: int
    ns: list[float]
    threads: int = 1


@dataclass(frozen=True)
class CallsAnswer(Answer):
    kind: ClassVar[str] = "calls"
    series: list[CallSeries]


@dataclass(frozen=True)
class FoundEngine:
    """A Wasm engine found in a library the probed process had loaded (engines.EngineHit)."""

    engine: str
    path: str
    version: str | None = None
    evidence: str = ""


@dataclass(frozen=True)
class CodeProbeAnswer(Answer):
    kind: ClassVar[str] = "code-probe"
    result: str  # repr of what the statement returned alone
    comparable: bool
    alone_s: float
    refused_in_thread: str  # a guard patch refused the fresh thread: its message, else ""
    binding_calls: dict[str, int]  # calls into Wasm through each binding, by its name
    engines: list[FoundEngine]  # every engine in a library the process had loaded


@dataclass(frozen=True)
class ProfilePart:
    """Where one part of a profile's time went: per phase, seconds and entries (per run);
    the setup and the first run also have their wall time."""

    phase_s: dict[str, float]
    calls: dict[str, float]
    total_s: float | None = None


@dataclass(frozen=True)
class ProfileAnswer(Answer):
    kind: ClassVar[str] = "profile"
    runs: int
    plain_s: list[float]
    hooked_s: list[float]
    setup: ProfilePart
    first: ProfilePart
    steady: ProfilePart
    progress: list[float]  # a sibling's progress during the statement, one per round
    timeline: Part | None = None


ANSWERS: dict[str, type[Answer]] = {
    a.kind: a
    for a in (SpeedupAnswer, BenchAnswer, ProgressAnswer, PhasesAnswer, PoolAnswer, RaceAnswer,
              CheckAnswer, GuardCostAnswer, SweepPointAnswer, CallsAnswer, LegalUsesAnswer,
              CodeProbeAnswer, ProfileAnswer)
}  # fmt: skip


def parse_answer(doc: dict[str, Any]) -> Answer | None:
    """The typed answer of an `ok` answer document; None for an error answer. ValueError
    naming what does not match: the first key missing or of the wrong type, or a kind that
    no task has."""
    if not doc.get("ok"):
        return None
    cls = ANSWERS.get(str(doc.get("kind", "")))
    if cls is None:
        raise ValueError(f"an answer of unknown kind {doc.get('kind')!r}")
    return _build(cls, doc, f"{cls.kind} answer")


def parse_error(doc: dict[str, Any]) -> ChildError:
    """What an error answer says (`{"ok": false, "error": {"type", "message"}}`); a missing
    part reads as "?", so a broken error answer still names the child's end."""
    error = doc.get("error")
    error = error if isinstance(error, dict) else {}
    return ChildError(str(error.get("type", "?")), str(error.get("message", "?")))


def read_as(cls: type, doc: dict[str, Any], what: str) -> Any:
    """`doc` (JSON) read as the typed value `cls` (an answer or a part of one, a timeline
    Part a traced process wrote); ValueError naming what does not fit."""
    return _build(cls, doc, what)


def _build(cls: type, doc: dict[str, Any], what: str) -> Any:
    hints = typing.get_type_hints(cls)
    values = {}
    for f in dataclasses.fields(cls):
        if f.name not in doc or doc[f.name] is None:
            if f.default is dataclasses.MISSING:
                raise ValueError(f"{what} lacks {f.name!r}")
            continue
        values[f.name] = _read(doc[f.name], hints[f.name], f"{what}'s {f.name!r}")
    return cls(**values)


def _read(value: Any, hint: Any, where: str) -> Any:
    """`value`, from JSON, as `hint` says: nested answers built, cells read as tuples;
    ValueError naming `where` when it does not fit."""
    if hint is Any:
        return value
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        for option in (a for a in args if a is not type(None)):
            try:
                return _read(value, option, where)
            except ValueError:
                continue
        raise _mismatch(value, hint, where)
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, dict):
            raise _mismatch(value, hint, where)
        return _build(hint, value, where)
    if hint is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return value
        raise _mismatch(value, hint, where)
    base = origin or hint
    if not isinstance(value, base) or (isinstance(value, bool) and base is int):
        raise _mismatch(value, hint, where)
    if base is list and args:
        return [_read(v, args[0], f"{where}[{i}]") for i, v in enumerate(value)]
    if base is dict and args:
        return {_key(k, args[0], where): _read(v, args[1], f"{where}[{k!r}]")
                for k, v in value.items()}  # fmt: skip
    return value


def _key(key: str, hint: Any, where: str) -> Any:
    """A JSON object's key as its hint says: a cell's "mode/threads" as a tuple."""
    if hint == Cell:
        try:
            return cell_of(key)
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None
    return _read(key, hint, f"{where} key {key!r}")


def _mismatch(value: Any, hint: Any, where: str) -> ValueError:
    return ValueError(f"{where} is {type(value).__name__}, not {_name(hint)}")


def _name(hint: Any) -> str:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_name(a) for a in args if a is not type(None))
    if origin is not None:
        return f"{origin.__name__}[{', '.join(_name(a) for a in args)}]"
    return getattr(hint, "__name__", str(hint))


def to_wire(value: Any) -> Any:
    """A typed answer (or part of one) as JSON: dataclasses as objects without their None
    fields, cells as "mode/threads" keys, enums as their values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_wire(getattr(value, f.name)) for f in dataclasses.fields(value)
                if getattr(value, f.name) is not None}  # fmt: skip
    if isinstance(value, dict):
        return {_wire_key(k): to_wire(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_wire(v) for v in value]
    if isinstance(value, enum.Enum):
        return value.value
    return value


def _wire_key(key: Any) -> str:
    if isinstance(key, tuple):
        mode, threads = key
        return cell_key(Mode(mode), threads)
    return str(key.value if isinstance(key, enum.Enum) else key)
