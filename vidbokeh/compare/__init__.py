"""Comparison mode: several approaches over the same stills, with grids, reports and plots.

    from vidbokeh.compare import compare
    result = compare(["photos/"], "out/", approaches=("selfie", "hybrid", "depth_anything"))
    result.runs[0].median_seconds, result.report_html
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterable, Mapping

from .depth_metrics import DepthFigures, depth_figures
from .records import (ApproachSpec, CompareResult, CompareSettings, ImageInfo, ImageRun, PairAgreement,
                      RunSummary)
from .runner import run_compare

PathLike = str | os.PathLike[str]


def compare(
    inputs: Iterable[PathLike] | PathLike,
    out_dir: PathLike,
    approaches: Iterable[str | ApproachSpec] = ("selfie", "hybrid", "depth_anything"),
    strategies: Iterable[str] = ("portrait",),
    masks_dir: PathLike | None = None,
    depth_dir: PathLike | None = None,
    depth_scale: float = 1000.0,
    weights: Mapping[str, PathLike] | None = None,
    models: Mapping[str, str] | None = None,
    weights_notes: Mapping[str, str] | None = None,
    device: str = "auto",
    effect: Any = None,
    log=None,
) -> CompareResult:
    """Compare approaches over stills (files or folders) and write the report folder ``out_dir``.

    ``weights``, ``models`` and ``weights_notes`` are keyed by approach name
    (``{"depth_anything": "dav2.pth"}``, ``{"midas": "midas_v21_small_256"}``,
    ``{"depth_anything": "synthetic"}``). ``effect`` is an ``EffectSettings`` with
    the shared blur settings. Returns the results; the files are in ``out_dir``.
    """
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    weights, models, notes = dict(weights or {}), dict(models or {}), dict(weights_notes or {})
    specs = []
    for item in approaches:
        if isinstance(item, ApproachSpec):
            specs.append(item)
            continue
        path = weights.get(item)
        specs.append(ApproachSpec(item, model=models.get(item), weights=None if path is None else Path(path),
                                  weights_note=notes.get(item)))
    known = {s.approach for s in specs}
    for mapping, flag in ((weights, "weights"), (models, "model"), (notes, "weights note")):
        unknown = sorted(set(mapping) - known)
        if unknown:
            from ..errors import UsageError

            raise UsageError(f"{flag} given for approaches not compared: {', '.join(unknown)}")
    settings = CompareSettings(
        inputs=tuple(Path(p) for p in inputs), out_dir=Path(out_dir), approaches=tuple(specs),
        strategies=tuple(strategies), masks_dir=None if masks_dir is None else Path(masks_dir),
        depth_dir=None if depth_dir is None else Path(depth_dir), depth_scale=float(depth_scale),
        device=device, effect=effect,
    )
    return run_compare(settings, log=log)


__all__ = ["compare", "run_compare", "CompareSettings", "CompareResult", "ApproachSpec", "RunSummary",
           "ImageRun", "ImageInfo", "PairAgreement", "DepthFigures", "depth_figures"]
