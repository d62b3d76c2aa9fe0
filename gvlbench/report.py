"""`gvlbench report`: what people would rather look at than read.

A markdown page and, with the `plot` extra (matplotlib), PNGs: speedup against threads per
mode with the ideal line and the core count marked; sibling progress per mode; race crash
rates per configuration. Reads results only; never measures.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gvlbench.race import summarize
from gvlbench.results import Results
from gvlbench.stats import progress_rows, speedup_rows


@dataclass(frozen=True)
class Report:
    markdown: Path
    images: tuple[Path, ...]
    note: str = ""


def _pyplot():  # -> matplotlib.pyplot or None
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


def write_report(res: Results, source: str, out_dir: Path) -> Report:
    out_dir.mkdir(parents=True, exist_ok=True)
    plt = _pyplot()
    images: list[Path] = []
    note = "" if plt else "matplotlib is not installed (pip install 'gvlbench[plot]'): no PNGs"
    if plt:
        for draw in (_speedup_png, _progress_png, _race_png):
            path = draw(plt, res, out_dir)
            if path:
                images.append(path)
    md = out_dir / "README.md"
    md.write_text(_markdown(res, source, images, note))
    return Report(md, tuple(images), note)


def _speedup_png(plt, res: Results, out_dir: Path) -> Path | None:
    rows = [r for r in speedup_rows(res) if r.status == "ok" and r.speedup is not None]
    if not rows:
        return None
    cpus = int(res.metadata.get("usable_cpus") or 1)
    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=110)
    top = max(r.threads for r in rows)
    ax.plot([1, top], [1, top], ":", color="grey", label="ideal (linear)")
    ax.axvline(cpus, color="grey", alpha=0.4, lw=6, label=f"{cpus} CPU cores")
    for (scen, mode), color in zip(sorted({(r.scenario, r.mode) for r in rows}),
                                   ("tab:red", "tab:blue", "tab:orange", "tab:green"),
                                   strict=False):  # fmt: skip
        pts = sorted((r.threads, r.speedup) for r in rows if (r.scenario, r.mode) == (scen, mode))
        ax.plot(*zip(*pts, strict=True), "o-", color=color, label=f"{scen}, GIL {mode}")
    ax.set(xlabel="threads (each with its own Store)", ylabel="speedup vs 1 thread",
           title="Parallel speedup: the GIL held vs released")  # fmt: skip
    ax.set_xticks(sorted({r.threads for r in rows}))
    ax.grid(alpha=0.3)
    ax.legend()
    return _save(plt, fig, out_dir / "speedup.png")


def _progress_png(plt, res: Results, out_dir: Path) -> Path | None:
    rows = [p for p in progress_rows(res) if p.status == "ok"]
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(6.4, 3.6), dpi=110)
    via = {"host mark": "between marks", "around the call": "around the call"}
    labels = [f"{p.scenario}, GIL {p.mode}\n({via.get(p.via, p.via)})" for p in rows]
    colors = ["tab:red" if p.mode == "held" else "tab:blue" for p in rows]
    ax.bar(labels, [p.ratio_median for p in rows], color=colors,
           yerr=[[p.ratio_median - p.ratio_min for p in rows],
                 [p.ratio_max - p.ratio_median for p in rows]], capsize=4)  # fmt: skip
    ax.axhline(1.0, ls=":", color="grey")
    ax.set(ylim=(0, 1.15), ylabel="sibling rate during the call / alone",
           title="What a sibling Python thread gets done during the call")  # fmt: skip
    ax.grid(axis="y", alpha=0.3)
    return _save(plt, fig, out_dir / "progress.png")


def _race_png(plt, res: Results, out_dir: Path) -> Path | None:
    rows = summarize(res.race)
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(6.4, 3.6), dpi=110)
    ax.barh([r.config for r in rows], [r.crash_rate for r in rows],
            color=["tab:red" if r.crashed else "tab:green" for r in rows])  # fmt: skip
    for i, r in enumerate(rows):
        label = f"{r.crashed}/{r.trials} crashed"
        if r.crash_rate > 0.5:  # inside the bar
            ax.text(r.crash_rate - 0.02, i, label, va="center", ha="right", color="white")
        else:
            ax.text(r.crash_rate + 0.02, i, label, va="center")
    ax.set(xlim=(0, 1.05), xlabel="share of trials that crashed",
           title=f"Threads calling into Stores: {rows[0].trials} trials each")  # fmt: skip
    ax.invert_yaxis()
    return _save(plt, fig, out_dir / "race.png")


def _save(plt, fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def _markdown(res: Results, source: str, images: list[Path], note: str) -> str:
    md = res.metadata
    lines = [f"# gvlbench report: {source}", ""]
    if md:
        lines += [f"wasmtime {md.get('wasmtime_version', '?')}, Python "
                  f"{md.get('runtime_version', '?')} (GIL {md.get('gil', '?')}), "
                  f"{md.get('usable_cpus', '?')} CPU cores, WAT by {md.get('wat_compiler', '?')}",
                  ""]  # fmt: skip
    lines += [f"![{p.stem}]({p.name})" for p in images] + ([f"_{note}_"] if note else [])
    rows = [r for r in speedup_rows(res) if r.status == "ok"]
    if rows:
        lines += ["", "| scenario | mode | threads | wall (median) | speedup | efficiency |",
                  "|---|---|---:|---:|---:|---:|"]  # fmt: skip
        lines += [f"| {r.scenario} | {r.mode} | {r.threads} | {r.wall_median_s * 1e3:.1f} ms | "
                  f"{r.speedup:.2f} | {r.efficiency:.2f} |" for r in rows]  # fmt: skip
    prog = [p for p in progress_rows(res) if p.status == "ok"]
    if prog:
        lines += ["", "| scenario | mode | sibling progress (median) | min | max |",
                  "|---|---|---:|---:|---:|"]  # fmt: skip
        lines += [f"| {p.scenario} | {p.mode} | {p.ratio_median:.3f} | {p.ratio_min:.3f} | "
                  f"{p.ratio_max:.3f} |" for p in prog]  # fmt: skip
    race = summarize(res.race)
    if race:
        lines += ["", "| race configuration | trials | crashed | median time to crash |",
                  "|---|---:|---:|---:|"]  # fmt: skip
        lines += [f"| {r.config} | {r.trials} | {r.crashed} | "
                  f"{'-' if r.crash_median_s is None else f'{r.crash_median_s:.2f} s'} |"
                  for r in race]  # fmt: skip
    return "\n".join(lines) + "\n"
