"""The other half of the contract: typed answers, one per task kind, read in one place.

A child's answer used to be read as a bare dict wherever it was recorded, so a renamed key
failed silently: the Python worker writing `threads_overlapped` for `overlap_threads` would
have turned a gate failure into "unsure" (no overlap row). Here each kind's answer is a
frozen dataclass whose fields are its keys and their types; `parse_answer` is its one
reader, called by the runner on every answer before any experiment sees it, and an answer
that does not match (a key missing, a value of the wrong type) makes the child's outcome
`failed` with the reason in one line. Both workers (Python and Ruby) are held to it.

Schema version: answers carry the protocol version of their task (protocol.PROTOCOL); a
reader for a new version is a new set of classes here, chosen by that number.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass
from typing import Any, ClassVar

Number = int | float


@dataclass(frozen=True)
class Answer:
    kind: ClassVar[str] = ""


@dataclass(frozen=True)
class SpeedupAnswer(Answer):
    kind: ClassVar[str] = "speedup"
    loops: int
    cells: dict  # "mode/threads" -> seconds per round
    system: dict | None = None  # pyperf's metadata of the measuring process


@dataclass(frozen=True)
class BenchAnswer(Answer):
    kind: ClassVar[str] = "bench"
    benchmark: dict  # one pyperf benchmark


@dataclass(frozen=True)
class ProgressAnswer(Answer):
    kind: ClassVar[str] = "progress"
    via: str
    samples: list
    overlap: list | None = None
    overlap_threads: int | None = None
    misrouted: dict | None = None
    checked_calls: int | None = None


@dataclass(frozen=True)
class PhasesAnswer(Answer):
    kind: ClassVar[str] = "phases"
    compile_s: list
    instantiate_s: list
    call_s: list


@dataclass(frozen=True)
class PoolAnswer(Answer):
    kind: ClassVar[str] = "pool"
    executor: str
    wall_s: list
    peak_rss_kib: Number
    calls: int


@dataclass(frozen=True)
class RaceAnswer(Answer):
    kind: ClassVar[str] = "race"
    calls: int
    refused: int
    exceptions: dict
    examples: dict | None = None
    elapsed_s: Number | None = None
    compared: bool | None = None
    wrong: int | None = None
    wrong_example: Any = None


@dataclass(frozen=True)
class CheckAnswer(Answer):
    kind: ClassVar[str] = "check"
    check: str
    repeat: int
    failed: int
    failures: list
    notes: list
    elapsed_s: Number | None = None
    not_applicable: str = ""  # why the check had nothing to judge in this mode


@dataclass(frozen=True)
class GuardCostAnswer(Answer):
    kind: ClassVar[str] = "guard-cost"
    loops: int
    unguarded_ns: list
    guarded_ns: dict
    entries: dict | None = None  # a statement's Store entries per run, by libwasmtime name
    guarded_stores: int | None = None


@dataclass(frozen=True)
class LegalUsesAnswer(Answer):
    kind: ClassVar[str] = "legal-uses"
    uses: dict  # use -> {"outcome": admitted | refused | failed, "detail": str}


@dataclass(frozen=True)
class SweepPointAnswer(Answer):
    kind: ClassVar[str] = "sweep-point"
    loops: int
    cells: dict  # "mode/threads" -> seconds per call of each thread, one value per round
    alone_s: list


@dataclass(frozen=True)
class CallsAnswer(Answer):
    kind: ClassVar[str] = "calls"
    series: list


ANSWERS: dict[str, type[Answer]] = {
    a.kind: a
    for a in (SpeedupAnswer, BenchAnswer, ProgressAnswer, PhasesAnswer, PoolAnswer, RaceAnswer,
              CheckAnswer, GuardCostAnswer, SweepPointAnswer, CallsAnswer, LegalUsesAnswer)
}  # fmt: skip


def parse_answer(doc: dict[str, Any]) -> Answer | None:
    """The typed answer of an `ok` answer document; ValueError naming the first key that does
    not match. None for a kind with no declared answer (code-probe, profile: read where they
    are asked for) or an answer that is an error."""
    if not doc.get("ok"):
        return None
    cls = ANSWERS.get(str(doc.get("kind", "")))
    if cls is None:
        return None
    hints = typing.get_type_hints(cls)
    values = {}
    for f in dataclasses.fields(cls):
        present = f.name in doc and doc[f.name] is not None
        if not present:
            if f.default is dataclasses.MISSING:
                raise ValueError(f"{cls.kind} answer lacks {f.name!r}")
            continue
        if not _fits(doc[f.name], hints[f.name]):
            raise ValueError(
                f"{cls.kind} answer's {f.name!r} is {type(doc[f.name]).__name__}, "
                f"not {_name(hints[f.name])}"
            )
        values[f.name] = doc[f.name]
    return cls(**values)


def _fits(value: Any, hint: Any) -> bool:
    if hint is Any:
        return True
    options = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, _UNION) else ()
    if options:
        return any(_fits(value, o) for o in options if o is not type(None))
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, hint)


_UNION = type(int | None)


def _name(hint: Any) -> str:
    return " or ".join(a.__name__ for a in typing.get_args(hint) if a is not type(None)) or getattr(
        hint, "__name__", str(hint)
    )
