"""The designs table (report/designs.py's rows) and its workload lines, as rich renderables."""

from __future__ import annotations

from rich.markup import escape
from rich.table import Table

from gvlbench.designs import LABELS
from gvlbench.report.designs import GROUPS, DesignRow, Share, Workload, describe_entries
from gvlbench.report.render import fmt_time


def designs_table(rows: list[DesignRow]) -> Table:
    """One row per design: its cost per group of entry points, the races it prevents, the
    legal uses it refuses."""
    groups = [g for g in GROUPS if any(r.costs.get(g) for r in rows)]
    table = Table(title="Store guard designs side by side")
    table.add_column("design")
    for group in groups:
        table.add_column(f"{group}\nshare (ns)", justify="right")
    table.add_column("races it prevents", overflow="fold")
    table.add_column("legal uses it refuses", overflow="fold")
    for r in rows:
        cells = [LABELS.get(r.design, r.design)]
        cells += ["-" if r.design == "none" else _share(r.costs.get(g)) for g in groups]
        cells += [_races(r), _refuses(r)]
        table.add_row(*cells)
    table.caption = (
        "share: the lowest and highest of the design's cost / the unguarded operation over "
        "the group's rows (race --guard-cost), with the ns; races: the entry-point races that "
        "crashed or went wrong unguarded, and whether each one, under the design, neither "
        "crashed, went wrong nor hung (*: held only by keeping the intruder out: every one of "
        "its operations was refused, so its check never ran); legal uses: a Store moved to "
        "another thread (move), a host callback calling back into its Store (reentry)"
    )
    return table


def _share(share: Share | None) -> str:
    if share is None:
        return "-"
    if share.rows == 1 or abs(share.high - share.low) < 0.0005:
        return f"{share.low:+.1%} ({share.low_ns:+.0f})"
    return (f"{share.low:+.1%}..{share.high:+.1%}\n"
            f"({share.low_ns:+.0f}..{share.high_ns:+.0f})")  # fmt: skip


def _races(r: DesignRow) -> str:
    if r.design == "none":
        seen = f"hazards: {', '.join(r.prevented) or 'none seen'}"
        quiet = (
            f"\nno crash, nothing wrong: {', '.join(r.not_prevented)}" if r.not_prevented else ""
        )
        return escape(seen) + f"[dim]{escape(quiet)}[/dim]"
    held = ", ".join(r.prevented) or "none"
    text = f"[green]{escape(held)}[/green]"
    if r.not_prevented:
        text += f"\n[red]not: {escape(', '.join(r.not_prevented))}[/red]"
    return text


def _refuses(r: DesignRow) -> str:
    if not r.refuses:
        return "none"
    return f"[yellow]{escape(', '.join(r.refuses))}[/yellow]"


def workload_lines(rows: list[DesignRow]) -> list[str]:
    """Per statement: its entries, then each design's cost on it, measured and modelled."""
    lines: list[str] = []
    names = {w.name for r in rows for w in r.workloads}
    for name in sorted(names):
        first = next(w for r in rows for w in r.workloads if w.name == name)
        lines.append(f"{escape(name)}: {fmt_time(first.unguarded_ns * 1e-9)} a run, "
                     f"{describe_entries(first.entries)}")  # fmt: skip
        for r in rows:
            for w in r.workloads:
                if w.name == name and r.design != "none":
                    lines.append(f"  {LABELS.get(r.design, r.design)}: {_workload(w)}")
    return lines


def _workload(w: Workload) -> str:
    parts = []
    if w.cost is not None and not w.cost.unavailable:
        parts.append(f"measured {w.cost.cost_ns / 1000:+.2f} us "
                     f"\\[{w.cost.cost_q1_ns / 1000:+.2f}..{w.cost.cost_q3_ns / 1000:+.2f}] "
                     f"({w.cost.share:+.2%})")  # fmt: skip
    for runtime, ns in w.modelled_ns.items():
        share = ns / w.unguarded_ns if w.unguarded_ns else 0.0
        parts.append(f"modelled {runtime} {ns / 1000:+.3f} us ({share:+.3%})")
    return "; ".join(parts) or "-"
