"""Plots of a comparison (matplotlib, Agg canvas: no display, no global backend change)."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ..errors import OutputError
from .records import RunSummary

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


def plot_stage_times(runs: Sequence[RunSummary], path: Path) -> Path:
    """Stacked bars: median milliseconds per image for each stage, one bar per run."""
    measured = [r for r in runs if r.stage_median_seconds]
    stages: list[str] = []
    for run in measured:
        stages += [s for s in run.stage_median_seconds if s not in stages]
    figure = Figure(figsize=(max(6.0, 1.6 * len(runs) + 2), 4.8), dpi=110, layout="constrained")
    axes = figure.add_subplot()
    labels = [r.title for r in runs]
    bottoms = [0.0] * len(runs)
    for stage in stages:
        heights = [1000 * r.stage_median_seconds.get(stage, 0.0) for r in runs]
        axes.bar(labels, heights, bottom=bottoms, label=stage)
        bottoms = [b + h for b, h in zip(bottoms, heights)]
    for index, run in enumerate(runs):
        if not run.stage_median_seconds:
            axes.text(index, 0, "failed", ha="center", va="bottom", color="red")
    axes.set_ylabel("median ms per image")
    axes.set_title("Time per stage (median per image)" + notes_line(runs), fontsize=10)
    axes.tick_params(axis="x", labelrotation=20, labelsize=8)
    if stages:
        axes.legend(fontsize=8)
    _save(figure, path)
    return path


def plot_quality_vs_speed(runs: Sequence[RunSummary], path: Path) -> Path:
    """Scatter of quality figures (those with ground truth) against median time per image."""
    panels = []
    for name, where, label in QUALITY_AXES:
        points = []
        for run in runs:
            values = run.quality_median if where == "quality" else run.depth_mean
            if run.median_seconds is not None and name in values:
                points.append((1000 * run.median_seconds, values[name], run.title))
        if points:
            panels.append((label, points))
    figure = Figure(figsize=(5.5 * max(1, len(panels)), 4.6), dpi=110, layout="constrained")
    if not panels:
        axes = figure.add_subplot()
        axes.text(0.5, 0.5, "no ground truth given (--masks / --depth):\nno quality figures to plot",
                  ha="center", va="center")
        axes.set_axis_off()
    for index, (label, points) in enumerate(panels):
        axes = figure.add_subplot(1, len(panels), index + 1)
        for x, y, title in points:
            axes.scatter([x], [y], s=40)
            axes.annotate(title, (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7)
        axes.set_xlabel("median ms per image")
        axes.set_ylabel(label)
        axes.grid(alpha=0.3)
    figure.suptitle("Quality against speed" + notes_line(runs), fontsize=10)
    _save(figure, path)
    return path
