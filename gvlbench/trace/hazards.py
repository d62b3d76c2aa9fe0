"""What trace finds: each kind of hazard, as one record kind of the hook's and one finding kind.

A hazard is what breaks a real program under threads. Each has the record the hook writes when
it happens, what it means, how to fix it, and the gvlbench patch that fixes it (or turns it
into an exception), so `gvlbench trace --patch NAME` can show the fix on the program itself.
A finding is one row per place: a creation site whose objects two threads were inside at once;
a line whose host exceptions went to other threads. Every finding makes trace's exit code 1,
and is one test case of `--junit`. A new hazard is a record kind in the hook, an entry in
`HAZARDS` and a function here that turns the model's records into its findings.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from gvlbench.trace.rows import ObjectUse, site_key

EXAMPLES = 3  # examples a finding keeps (both threads' stacks each)


@dataclass(frozen=True)
class Hazard:
    kind: str  # the finding's kind
    record: str  # the hook's record that reports one
    title: str
    meaning: str
    fix: str
    patch: str  # gvlbench's patch that fixes it, or turns it into an exception ("" none)


SHARED = Hazard(
    "shared", "overlap", "shared with overlap",
    "two threads were inside one object at once: in the engine, undefined behaviour (a crash, "
    "or another thread's result)",
    "give each thread its own object, or hold one lock for the whole of each call",
    "store-guard",
)  # fmt: skip
HANDOFF = Hazard(
    "exception-handoff", "handoff", "a host exception handed to another thread",
    "a host callback's exception went to a call in another thread: one call raised another's "
    "exception (that request's data in its message), the other a bare \"python exception\"; "
    "wasmtime-py hands it over through one module global, whatever Store each thread has",
    "keep the exception per thread (what the patch does), or catch it inside the callback and "
    "return an error value",
    "thread-local-exceptions",
)  # fmt: skip
HAZARDS = {h.kind: h for h in (SHARED, HANDOFF)}


def _tests(*records: Iterable[dict[str, Any]]) -> dict[str, int]:
    """The pytest node ids the records name (PYTEST_CURRENT_TEST, its phase cut), counted."""
    found: Counter[str] = Counter()
    for group in records:
        for r in group:
            for key in ("test", "raiser_test"):
                if r.get(key):
                    found[r[key].rsplit(" (", 1)[0]] += 1
    return dict(found.most_common())


def shared_findings(sites: list[dict[str, Any]], objects: Iterable[ObjectUse],
                    patchable: set[str]) -> list[dict[str, Any]]:  # fmt: skip
    """One finding per creation site whose objects two threads were inside at once."""
    by_site: dict[tuple[str, str], list[ObjectUse]] = defaultdict(list)
    for s in objects:
        if s.overlaps and not s.serialised:
            by_site[site_key(s.stack), s.cls].append(s)
    found = []
    for site in (s for s in sites if s["unsafe"]):
        group = sorted(by_site.get((site["site"], site["cls"]), []), key=lambda s: -s.overlaps)
        examples = sorted(
            (e for s in group for e in s.examples), key=lambda e: not e["owner_stack"]
        )
        first = group[0] if group else None
        found.append({
            "kind": "finding", "hazard": SHARED.kind, "site": site["site"], "cls": site["cls"],
            "pid": first.pid if first else site["pids"][0], "count": site["overlaps"],
            "objects": len(group), "site_objects": site["objects"],
            "threads": max((len(s.threads) for s in group), default=0),
            "tests": _tests(*(s.examples for s in group), *(s.meeting_examples for s in group)),
            "examples": examples[:EXAMPLES], "stack": first.stack if first else site["stack"],
            "meetings": sum(s.meetings for s in group), "notes": site["stalls"],
            "patch": SHARED.patch if site["cls"] in patchable else "", "race": None,
        })  # fmt: skip
    return found


def handoff_findings(handoffs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One finding per line that raised host exceptions other threads took (or lost)."""
    by_line: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in handoffs:
        at = r.get("raised_at") or []
        by_line[f"{at[0]}:{at[1]}" if at else "(the line that raised is unknown)"].append(r)
    found = []
    for line, group in by_line.items():
        with_stacks = sorted((r for r in group if "stack" in r),
                             key=lambda r: (r["how"] != "taken",
                                            not r.get("raiser_stack")))  # fmt: skip
        at = group[0].get("raised_at") or ["", 0, ""]
        found.append({
            "kind": "finding", "hazard": HANDOFF.kind, "site": line, "cls": "",
            "pid": (with_stacks or group)[0]["pid"], "function": at[2] if len(at) > 2 else "",
            "count": len(group),
            "taken": sum(r["how"] == "taken" for r in group),
            "lost": sum(r["how"] == "lost" for r in group),
            "threads": len({(r["pid"], t) for r in group for t in (r["thread"], r["raiser"]) if t}),
            "tests": _tests(group), "examples": with_stacks[:EXAMPLES],
            "errors": dict(Counter(r["error"] for r in group).most_common(EXAMPLES)),
            "patch": HANDOFF.patch, "race": None,
        })  # fmt: skip
    return sorted(found, key=lambda f: -f["count"])
