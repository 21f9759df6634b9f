"""Comparison mode: several approaches over the same stills, with grids, reports and plots.

    from vidbokeh import compare          # or: from vidbokeh.comparison import compare
    result = compare(["photos/"], "out/", approaches=("selfie", "hybrid", "depth_anything"),
                     masks_dir="masks/")
    result.runs[0].median_seconds, result.report_html
"""
from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from .depth_metrics import DepthFigures, depth_figures
from .records import (ApproachSpec, CompareResult, CompareSettings, ImageInfo, ImageRun, PairAgreement,
                      RunSummary)
from .runner import run_compare

PathLike = str | os.PathLike[str]


def compare(
    inputs: Iterable[PathLike] | PathLike,
    out_dir: PathLike,
    settings: CompareSettings | None = None,
    *,
    approaches: Iterable[str] | None = None,
    strategies: Iterable[str] | None = None,
    masks_dir: PathLike | None = None,
    depth_dir: PathLike | None = None,
    depth_scale: float | None = None,
    weights: Mapping[str, PathLike] | None = None,
    models: Mapping[str, str] | None = None,
    weights_notes: Mapping[str, str] | None = None,
    device: str | None = None,
    effect: Any = None,
    log: Callable[[str], None] | None = None,
    progress: bool = False,
) -> CompareResult:
    """Compare approaches over stills (files or folders) and write the report folder ``out_dir``.

    Starts from ``settings`` (default ``CompareSettings()``); each keyword given replaces that
    field. ``weights``, ``models`` and ``weights_notes`` are keyed by approach name. ``effect`` is
    an engine ``EffectSettings`` carrying the shared blur settings. ``out_dir`` is replaced as a
    whole (it must be new, empty, or an earlier comparison). Returns the results as dataclasses.
    """
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    given = {
        "approaches": None if approaches is None else tuple(approaches),
        "strategies": None if strategies is None else tuple(strategies),
        "masks_dir": None if masks_dir is None else Path(masks_dir),
        "depth_dir": None if depth_dir is None else Path(depth_dir),
        "depth_scale": None if depth_scale is None else float(depth_scale),
        "weights": None if weights is None else {k: Path(v) for k, v in weights.items()},
        "models": None if models is None else dict(models),
        "weights_notes": None if weights_notes is None else dict(weights_notes),
        "device": device,
        "effect": effect,
    }
    settings = replace(settings or CompareSettings(), **{k: v for k, v in given.items() if v is not None})
    return run_compare([Path(p) for p in inputs], Path(out_dir), settings, log=log, progress=progress)


__all__ = ["compare", "run_compare", "CompareSettings", "CompareResult", "ApproachSpec", "RunSummary",
           "ImageRun", "ImageInfo", "PairAgreement", "DepthFigures", "depth_figures"]
