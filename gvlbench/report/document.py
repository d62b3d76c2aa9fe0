"""`gvlbench report`: what people would rather look at than read.

A markdown page and, with the `plot` extra (matplotlib), PNGs: speedup against threads per
mode with the ideal line and the core count marked; sibling progress per mode; race crash
rates per configuration. Reads results only; never measures.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gvlbench.bindings import lock_name
from gvlbench.report import timeline_png
from gvlbench.report.phases import caption, phases_rows
from gvlbench.report.race import summarize
from gvlbench.report.render import fmt_time
from gvlbench.report.stats import progress_rows, speedup_rows
from gvlbench.report.sweep import crossover, paths_in, sweep_rows
from gvlbench.report.timeline import overhead_lines, sibling_lines
from gvlbench.results import Results
from gvlbench.results import runtime_kind as language_of_label
from gvlbench.timeline import Timeline


@dataclass(frozen=True)
class Report:
    markdown: Path
    images: tuple[Path, ...]
    note: str = ""


_COLORS = ("tab:red", "tab:blue", "tab:orange", "tab:green", "tab:purple", "tab:brown",
           "tab:pink", "tab:olive")  # fmt: skip


def _lock(interpreter: str) -> str:
    return lock_name(language_of_label(interpreter))


def _locks(interpreters: list[str]) -> str:
    return " / ".join(dict.fromkeys(_lock(i) for i in interpreters))


def _series(scenario: str, interpreter: str, mode: str) -> str:
    """`mark, GIL held`, or `mark, ruby3.1.2, GVL held` when rows have a runtime axis."""
    return ", ".join(x for x in (scenario, interpreter, f"{_lock(interpreter)} {mode}") if x)


def _pyplot():  # -> matplotlib.pyplot or None
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


def write_report(res: Results, source: str, out_dir: Path,
                 timeline: Timeline | None = None, round_no: int = 0) -> Report:  # fmt: skip
    """The page and its PNGs; with `timeline` (a timeline file read back), round `round_no`
    of it drawn beside the speedup plot."""
    out_dir.mkdir(parents=True, exist_ok=True)
    plt = _pyplot()
    images: list[Path] = []
    note = "" if plt else NO_MATPLOTLIB
    if plt:
        for draw in (_speedup_png, _progress_png, _race_png, _sweep_png):
            path = draw(plt, res, out_dir)
            if path:
                images.append(path)
        if timeline is not None:
            drawn = timeline_png.draw(plt, timeline, round_no, out_dir / "timeline.png")
            images += [drawn] if drawn else []
    md = out_dir / "README.md"
    md.write_text(_markdown(res, source, images, note))
    return Report(md, tuple(images), note)


def _speedup_png(plt, res: Results, out_dir: Path) -> Path | None:
    rows = [r for r in speedup_rows(res) if r.status == "ok" and r.speedup is not None]
    if not rows or res.command in ("sweep", "calls"):
        return None
    cpus = int(res.metadata.get("usable_cpus") or 1)
    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=110)
    top = max(r.threads for r in rows)
    ax.plot([1, top], [1, top], ":", color="grey", label="ideal (linear)")
    ax.axvline(cpus, color="grey", alpha=0.4, lw=6, label=f"{cpus} CPU cores")
    series = sorted({(r.scenario, r.interpreter, r.mode) for r in rows})
    interps = sorted({r.interpreter for r in rows})
    for (scen, interp, mode), color in zip(series, _COLORS, strict=False):
        pts = sorted((r.threads, r.speedup) for r in rows
                     if (r.scenario, r.interpreter, r.mode) == (scen, interp, mode))  # fmt: skip
        style = ("o-", "s--", "^-.", "d:")[interps.index(interp) % 4]
        ax.plot(*zip(*pts, strict=True), style, color=color, label=_series(scen, interp, mode))
    ax.set(xlabel="threads (each with its own Store)", ylabel="speedup vs 1 thread",
           title=f"Parallel speedup: the {_locks(interps)} held vs released")  # fmt: skip
    ax.set_xticks(sorted({r.threads for r in rows}))
    ax.grid(alpha=0.3)
    ax.legend()
    return _save(plt, fig, out_dir / "speedup.png")


def _progress_png(plt, res: Results, out_dir: Path) -> Path | None:
    rows = [p for p in progress_rows(res) if p.status == "ok"]
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(max(6.4, 1.6 * len(rows)), 3.9), dpi=110)
    via = {"host mark": "between marks", "around the call": "around the call",
           "at the foreign call": "at the foreign call"}  # fmt: skip
    labels = [_series(p.scenario, p.interpreter, p.mode).replace(", ", "\n")
              + f"\n({via.get(p.via, p.via)})" for p in rows]  # fmt: skip
    colors = {"held": "tab:red", "released": "tab:blue", "free-threaded": "tab:green"}
    colors = [colors.get(p.mode, "tab:gray") for p in rows]
    ax.bar(labels, [p.ratio_median for p in rows], color=colors,
           yerr=[[p.ratio_median - p.ratio_min for p in rows],
                 [p.ratio_max - p.ratio_median for p in rows]], capsize=4)  # fmt: skip
    ax.axhline(1.0, ls=":", color="grey")
    ax.set(ylim=(0, 1.15), ylabel="sibling rate during the call / alone",
           title="What a sibling thread gets done during the call")  # fmt: skip
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


NO_MATPLOTLIB = "matplotlib is not installed (pip install 'gvlbench[plot]'): no PNGs"


def plot_sweep(res: Results, path: Path) -> str | None:
    """Draw a sweep to `path`; a note saying why not, or None when drawn."""
    plt = _pyplot()
    if plt is None:
        return NO_MATPLOTLIB
    path.parent.mkdir(parents=True, exist_ok=True)
    return None if _sweep_png(plt, res, path.parent, path.name) else "no sweep rows to draw"


def _sweep_png(plt, res: Results, out_dir: Path, name: str = "sweep.png") -> Path | None:
    if res.command != "sweep":
        return None
    rows = [r for r in sweep_rows(res) if r.gain is not None]
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=110)
    x_of = (lambda r: r.wasm_s * 1e6) if all(r.wasm_s for r in rows) else (lambda r: r.size)
    for path, color in zip(paths_in(rows), ("tab:purple", "tab:blue", "tab:orange"),
                           strict=False):  # fmt: skip
        mine = [r for r in rows if r.path == path]
        ax.plot([x_of(r) for r in mine], [r.gain for r in mine], "o-", color=color,
                label=f"{path} call path")  # fmt: skip
        cross = crossover(rows, path)
        if cross is not None:
            ax.axvline(x_of(cross), color=color, ls="--", alpha=0.6,
                       label=f"{path}: pays from here")  # fmt: skip
    threads = int(res.metadata.get("sweep_threads") or 0)
    ax.axhline(1.0, ls=":", color="grey", label="no gain")
    ax.axhline(threads, ls=":", color="green", alpha=0.5, label=f"ideal ({threads} threads)")
    ax.set_xscale("log")
    xlabel = ("Wasm work per call (µs: one lean call alone)" if all(r.wasm_s for r in rows)
              else "work size (iterations)")  # fmt: skip
    ax.set(xlabel=xlabel, ylabel="released / held throughput",
           title=f"Where releasing the GIL pays: {threads} threads")  # fmt: skip
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize="small")
    return _save(plt, fig, out_dir / name)


def _save(plt, fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def _sweep_markdown(rows: list) -> list[str]:
    lines = ["", "| path | work (iterations) | Wasm per call | released / held | t-test | pays |",
             "|---|---:|---:|---:|---|---|"]  # fmt: skip
    for r in rows:
        pays = "**crossover**" if r is crossover(rows, r.path) else ("yes" if r.pays else "no")
        gain = "-" if r.gain is None else f"{r.gain:.2f}"
        lines.append(f"| {r.path} | {r.size:,} | {_us(r.wasm_s)} | {gain} | {r.verdict} | {pays} |")
    return lines


def _phases_markdown(res: Results) -> list[str]:
    rows = [r for r in phases_rows(res) if r.status == "ok"]
    if not rows:
        return []
    lines = ["", "| scenario | runtime | mode | threads | compile | instantiate | call "
             "| compile % | instantiate % | call % |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    for r in rows:
        times = [fmt_time(t) for t in (r.compile_s, r.instantiate_s, r.call_s)]
        shares = ["-" if x is None else f"{x:.1%}"
                  for x in (r.compile_share, r.instantiate_share, r.call_share)]  # fmt: skip
        cells = [r.scenario, r.interpreter or "-", r.mode, str(r.threads), *times, *shares]
        lines.append(f"| {' | '.join(cells)} |")
    return [*lines, "", f"_Phases: {caption(rows)}_"]


def _us(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1e6:,.1f} µs"


def _markdown(res: Results, source: str, images: list[Path], note: str) -> str:
    md = res.metadata
    lines = [f"# gvlbench report: {source}", ""]
    if md:
        # files from before harness_* name the harness's Python in runtime_version and gil
        python = md.get("harness_python") or md.get("runtime_version", "?")
        gil = md.get("harness_gil") or md.get("gil", "?")
        lines += [f"wasmtime {md.get('wasmtime_version', '?')}, harness Python {python} "
                  f"(GIL {gil}), {md.get('usable_cpus', '?')} CPU cores, "
                  f"WAT by {md.get('wat_compiler', '?')}", ""]  # fmt: skip
    runtimes = sorted({r.interpreter for r in speedup_rows(res) if r.interpreter}
                      | {t.get("interpreter", "") for t in res.race} - {""})  # fmt: skip
    if runtimes:
        lines += [f"Measured under: {', '.join(runtimes)} (the harness above runs them).", ""]
    lines += [f"![{p.stem}]({p.name})" for p in images] + ([f"_{note}_"] if note else [])
    rows = [r for r in speedup_rows(res) if r.status == "ok" and r.speedup is not None]
    rows = [] if res.command in ("sweep", "calls") else rows
    if rows:
        lines += ["", "| scenario | runtime | mode | threads | wall (median) | speedup "
                  "| efficiency |", "|---|---|---|---:|---:|---:|---:|"]  # fmt: skip
        lines += [f"| {r.scenario} | {r.interpreter or '-'} | {r.mode} | {r.threads} | "
                  f"{r.wall_median_s * 1e3:.1f} ms | {r.speedup:.2f} | {r.efficiency:.2f} |"
                  for r in rows]  # fmt: skip
    prog = [p for p in progress_rows(res) if p.status == "ok"]
    if prog:
        lines += ["", "| scenario | runtime | mode | sibling progress (median) | min | max |",
                  "|---|---|---|---:|---:|---:|"]  # fmt: skip
        lines += [f"| {p.scenario} | {p.interpreter or '-'} | {p.mode} | {p.ratio_median:.3f} | "
                  f"{p.ratio_min:.3f} | {p.ratio_max:.3f} |" for p in prog]  # fmt: skip
    lines += _phases_markdown(res)
    if res.command == "sweep":
        lines += _sweep_markdown(sweep_rows(res))
    lines += [f"\n{line}" for line in (*sibling_lines(res.timeline),
                                        *overhead_lines(res.timeline))]  # fmt: skip
    race = summarize(res.race)
    if race:
        lines += ["", "| race configuration | trials | crashed | median time to crash |",
                  "|---|---:|---:|---:|"]  # fmt: skip
        lines += [f"| {r.config} | {r.trials} | {r.crashed} | "
                  f"{'-' if r.crash_median_s is None else f'{r.crash_median_s:.2f} s'} |"
                  for r in race]  # fmt: skip
    return "\n".join(lines) + "\n"
