"""Plots of a comparison (matplotlib, Agg canvas: no display, no global backend change)."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ..errors import OutputError
from .records import STAGE_ORDER, RunSummary, ordered_stages

# (field, where it lives, axis label, higher is better)
QUALITY_AXES = (
    ("sharp_iou", "quality", "sharp_iou vs person mask (higher is better)"),
    ("bg_energy", "quality", "background gradient energy (lower is better)"),
    ("delta1", "depth", "depth delta<1.25 (higher is better)"),
)


def notes_line(runs: Sequence[RunSummary]) -> str:
    """A title line naming the runs whose weights carry a note (e.g. synthetic)."""
    noted = [f"{r.run}: {r.weights_note.upper()} weights" for r in runs if r.weights_note]
    return ("\n" + "; ".join(noted)) if noted else ""


def _save(figure: Figure, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        FigureCanvasAgg(figure).print_png(str(path))
    except OSError as error:
        raise OutputError(f"cannot write plot {path}: {error}") from error


def _colours(runs: Sequence[RunSummary]) -> dict[str, str]:
    """One fixed colour per run, the same in every panel."""
    return {run.run: f"C{index % 10}" for index, run in enumerate(runs)}


def _stacked(axes, runs: Sequence[RunSummary], stages: list[str], title: str) -> None:
    labels = [r.title for r in runs]
    bottoms = [0.0] * len(runs)
    for stage in stages:
        heights = [1000 * r.stage_median_seconds.get(stage, 0.0) for r in runs]
        axes.bar(labels, heights, bottom=bottoms, label=stage, color=f"C{STAGE_ORDER.index(stage) % 10}"
                 if stage in STAGE_ORDER else None)
        bottoms = [b + h for b, h in zip(bottoms, heights)]
    for index, run in enumerate(runs):
        if not run.stage_median_seconds:
            axes.text(index, 0, "failed", ha="center", va="bottom", color="red")
    axes.set_ylabel("median ms per image")
    axes.set_title(title, fontsize=9)
    axes.tick_params(axis="x", labelrotation=20, labelsize=7)
    if stages:
        axes.legend(fontsize=7)


def plot_stage_times(runs: Sequence[RunSummary], path: Path) -> Path:
    """Stacked bars of the median time per stage, one bar per run; when depth inference dwarfs the
    rest, a second panel shows the other stages alone."""
    stages = ordered_stages(runs)
    others = [s for s in stages if s != "depth"]
    panels = [(stages, "all stages")] + ([(others, "without depth inference")] if "depth" in stages else [])
    figure = Figure(figsize=(max(6.0, 1.5 * len(runs) + 2) * len(panels), 5.0), dpi=110, layout="constrained")
    for index, (chosen, title) in enumerate(panels):
        _stacked(figure.add_subplot(1, len(panels), index + 1), runs, chosen, title)
    figure.suptitle("Time per stage (median per image)" + notes_line(runs), fontsize=10)
    _save(figure, path)
    return path


def plot_quality_vs_speed(runs: Sequence[RunSummary], path: Path) -> Path:
    """Scatter of quality figures (those with ground truth) against median time per image."""
    colours = _colours(runs)
    panels = []
    for name, where, label in QUALITY_AXES:
        points = []
        for run in runs:
            values = run.quality_median if where == "quality" else run.depth_mean
            if run.median_seconds is not None and name in values:
                points.append((1000 * run.median_seconds, values[name], run))
        if points:
            panels.append((label, points))
    figure = Figure(figsize=(5.0 * max(1, len(panels)), 4.8), dpi=110, layout="constrained")
    if not panels:
        axes = figure.add_subplot()
        axes.text(0.5, 0.5, "no ground truth given (--masks / --depth):\nno quality figures to plot",
                  ha="center", va="center")
        axes.set_axis_off()
    shown: dict[str, object] = {}
    for index, (label, points) in enumerate(panels):
        axes = figure.add_subplot(1, len(panels), index + 1)
        for x, y, run in points:
            shown[run.title] = axes.scatter([x], [y], s=50, color=colours[run.run])
        times = [x for x, _, _ in points]
        if min(times) > 0 and max(times) / min(times) > 20:
            axes.set_xscale("log")
        axes.set_xlabel("median ms per image")
        axes.set_ylabel(label)
        axes.grid(alpha=0.3)
    if shown:
        figure.legend(list(shown.values()), list(shown), loc="outside lower center", ncols=min(4, len(shown)),
                      fontsize=8)
    figure.suptitle("Quality against speed" + notes_line(runs), fontsize=10)
    _save(figure, path)
    return path
