"""One round of a timeline as a picture a reviewer can paste: a row per thread, its states
as coloured bars, each group (a speedup cell, a caller with its sibling) from the start of
its own round (or progress sample) so the groups line up. Reads the timeline file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gvlbench import timeline as model


def stretches(tl: model.Timeline, index: int) -> dict[int, tuple[int, int]]:
    """Per group (pid): the [start, end] ns of its round `index` (a speedup cell), or of the
    caller's `index`-th recorded call (a progress group: its windows are the marks')."""
    out: dict[int, tuple[int, int]] = {}
    for pid, i, start, end in tl.rounds:
        if i == index:
            out[pid] = (start, end)
    for g in tl.groups:
        if g["pid"] in out:
            continue
        caller = next((t for t in tl.tracks if t["pid"] == g["pid"] and t["role"] == "caller"
                       and t["spans"]), None)  # fmt: skip
        calls = _calls(caller["spans"]) if caller else []
        if calls:
            out[g["pid"]] = calls[min(index, len(calls) - 1)]
    return out


def _calls(spans: list[list[Any]]) -> list[tuple[int, int]]:
    """The stretches a progress caller was recorded in (one per call: gaps between them)."""
    out: list[list[int]] = []
    for _, start, end in spans:
        if out and start <= out[-1][1]:
            out[-1][1] = end
        else:
            out.append([start, end])
    return [(a, b) for a, b in out]


def draw(plt: Any, tl: model.Timeline, index: int, path: Path) -> Path | None:
    """Round `index` of every group as a PNG at `path`; None when nothing was recorded."""
    where = stretches(tl, index)
    rows = [(g, t) for g in tl.groups if g["pid"] in where
            for t in tl.tracks if t["pid"] == g["pid"]]  # fmt: skip
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(10, 0.42 * len(rows) + 1.6), dpi=110)
    seen: dict[str, None] = {}
    for y, (g, t) in enumerate(rows):
        start, end = where[g["pid"]]
        for state, a, b in model.clip(t["spans"], start, end):
            ax.broken_barh([((a - start) / 1e6, (b - a) / 1e6)], (y - 0.38, 0.76),
                           color=model.STATES[state].color, linewidth=0)  # fmt: skip
            seen[state] = None
        for _, at in t.get("instants", []):
            if start <= at <= end:
                ax.plot((at - start) / 1e6, y, "kx", markersize=4)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([f"{g['label']}: {t['name']}" for g, t in rows], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel(f"ms from the start of round {index} (speedup cells) or of call {index} "
                  "(a caller and its sibling)")  # fmt: skip
    ax.set_title(f"Where each thread's time went: {tl.scenario or tl.command}", fontsize=10)
    handles = [plt.Rectangle((0, 0), 1, 1, color=model.STATES[s].color) for s in model.STATES
               if s in seen]  # fmt: skip
    ax.legend(handles, [model.STATES[s].label for s in model.STATES if s in seen],
              fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.12 - 1.2 / len(rows)),
              ncol=3, frameon=False)  # fmt: skip
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
    return path
