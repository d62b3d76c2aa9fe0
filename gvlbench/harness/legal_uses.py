"""What each guard design does to code that is legal: the price no timing shows.

One child per design (`none` first, as the control: every use must be admitted there), each
trying every use in designs.LEGAL_USES through wasmtime-py's public API with the design's
binding patch on every Store (worker/legal_uses.py). A design that refuses a legal use makes
its users restructure their code; the designs table puts that beside the nanoseconds.
"""

from __future__ import annotations

from typing import Any

from gvlbench import native, wat
from gvlbench.answers import LegalUsesAnswer
from gvlbench.designs import GUARDS, NATIVE
from gvlbench.harness.loop import Job
from gvlbench.harness.runner import ChildOutcome
from gvlbench.protocol import LegalUsesTask
from gvlbench.results import Results
from gvlbench.scenario import data_dirs

TIMEOUT_S = 60.0


class LegalUsesExperiment:
    """Every design's verdict on every legal use, into `results.legal_uses`."""

    command = "race --designs"

    def __init__(self, guards: tuple[str, ...] = GUARDS):
        unavailable = native.unavailable_reason()
        self.designs = ("none", *(g for g in guards if g not in NATIVE or not unavailable))

    def metadata(self) -> dict[str, Any]:
        return {}

    def plan(self) -> list[Job]:
        wat_dir = data_dirs()[1]
        entries, reenter = (str(wat.compile_wat(wat_dir / f"{name}.wat").wasm_path)
                            for name in ("entries", "reenter"))  # fmt: skip
        return [Job(f"legal uses: {design}",
                    LegalUsesTask(design=design, entries=entries, reenter=reenter),
                    None, TIMEOUT_S, design)
                for design in self.designs]  # fmt: skip

    def record(self, results: Results, job: Job, outcome: ChildOutcome) -> str | None:
        design = job.context
        if outcome.ok:
            for use, verdict in outcome.answer_as(LegalUsesAnswer).uses.items():
                row = {"design": design, "use": use, "outcome": verdict.outcome,
                       "detail": verdict.detail}  # fmt: skip
                results.legal_uses.append(row)
            return None
        results.add_failure({"scenario": "legal uses", "kind": "legal-uses", "mode": "released",
                             "threads": 1, "design": design}, outcome.to_json())  # fmt: skip
        return f"{job.label}: {outcome.describe()}"
