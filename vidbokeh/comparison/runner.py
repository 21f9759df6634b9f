"""Runs every approach over every still: one model load per approach, reused for
all its images and strategies (the engine's render_still takes the settings with each call). A failure on one
image (or of one approach's load) is recorded and the rest go on. Everything is written into a staging
folder that replaces the output folder at the end (see ``publish``)."""
from __future__ import annotations

import itertools
import logging
import math
import statistics
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np

from ..engine.settings import DEPTH_SETTINGS
from ..engine import DEPTH_APPROACHES, EffectSettings, Models, load_models, render_still, resolve_approach
from ..errors import UsageError, VidbokehError
from ..media.maps import colourise_depth
from . import agreement, grid
from .depth_metrics import DepthFigures, depth_figures, load_depth_png
from .inputs import InputImage, resolve_inputs
from .image_probe import Probe, probe_image, read_mask, read_rgb
from .memory import MemoryPeak, PeakMemoryMeter
from .plots import plot_quality_vs_speed, plot_stage_times
from .publish import check_out_dir, discard, make_staging_dir, publish
from .records import (QUALITY_FIELDS, CompareResult, CompareSettings, ImageRun, PairAgreement, RunSpec,
                      RunSummary)
from .report import write_reports

Log = Callable[[str], None]


@dataclass
class _Pictures:
    """What one run keeps of one image for the grid and the agreement (small arrays only)."""

    depth_cell: np.ndarray | None
    mask_cell: np.ndarray
    result_cell: np.ndarray
    depth_small: np.ndarray | None
    protect_small: np.ndarray


@dataclass(frozen=True)
class _EffectFacts:
    """What the report needs of a loaded effect, read while it is open."""

    model: str | None
    description: str
    device: str
    num_params: int
    load_seconds: float

    @classmethod
    def of(cls, models: Models) -> "_EffectFacts":
        return cls(models.model_name, models.description, models.device, models.num_params, models.load_seconds)


def validate(settings: CompareSettings) -> None:
    """Refuse bad settings before any work: the engine's EffectSettings checks each run's approach, model,
    weights and strategy; this checks what only a comparison has."""
    if not settings.approaches:
        raise UsageError("compare needs at least one approach")
    if not settings.strategies:
        raise UsageError("compare needs at least one strategy")
    if "auto" in settings.approaches:
        raise UsageError("compare runs named approaches, not auto")
    for mapping, flag in ((settings.models, "a model"), (settings.weights, "weights"),
                          (settings.weights_notes, "a weights note")):
        unknown = sorted(set(mapping) - set(settings.approaches))
        if unknown:
            raise UsageError(f"{flag} given for approaches not compared: {', '.join(unknown)}")
    names = list(settings.approaches)
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise UsageError(f"approach given twice: {', '.join(duplicates)}")
    if len(set(settings.strategies)) != len(settings.strategies):
        raise UsageError("a strategy is given twice")
    if not settings.depth_scale > 0:
        raise UsageError(f"depth scale must be positive, got {settings.depth_scale}")
    if settings.grid_cell_width < 64 or settings.html_thumbnail_width < 64:
        raise UsageError("grid cell and thumbnail widths must be at least 64 pixels")
    for spec in settings.approach_specs():
        for strategy in settings.strategies:
            _effect_settings(settings, RunSpec(spec, strategy))


def run_compare(inputs, out_dir: Path, settings: CompareSettings, *, log: Log | None = None,
                progress: bool = False) -> CompareResult:
    """Compare ``settings.approaches`` over ``inputs`` (files or folders); publish the report folder ``out_dir``."""
    log = log or logging.getLogger(__name__).info
    validate(settings)
    inputs = tuple(Path(p) for p in inputs)
    out_dir = Path(out_dir)
    images = resolve_inputs(inputs, settings.masks_dir, settings.depth_dir)
    protected = [i.path for i in images] + [p for p in (settings.masks_dir, settings.depth_dir) if p is not None]
    check_out_dir(out_dir, protected)
    staging = make_staging_dir(out_dir)
    try:
        result = _run_into(inputs, out_dir.resolve(), settings, images, staging, log, progress)
        publish(staging, out_dir)
    except BaseException:
        discard(staging)
        raise
    return result


# ------------------------------------------------------------------------------------- effects

def _effect_settings(settings: CompareSettings, run: RunSpec) -> EffectSettings:
    """One run's effect: the shared settings with the run's approach, model, weights and strategy.

    The shared settings that act on a depth map (e.g. depth_size) are for the depth approaches: a selfie run
    leaves them out (one asked of selfie alone is refused by EffectSettings, as everywhere)."""
    base = settings.effect if settings.effect is not None else EffectSettings()
    if run.spec.approach == "selfie":
        base = replace(base, **{name: unset for name, _flag, unset in DEPTH_SETTINGS})
    return replace(base, approach=run.spec.approach, model=run.spec.model, weights=run.spec.weights,
                   device=settings.device, strategy=run.strategy, weights_note=run.spec.weights_note or "",
                   video=False)


def _process(models: Models, effect_settings: EffectSettings, run: RunSpec, image: InputImage,
             settings: CompareSettings, staging: Path, out_dir: Path) -> tuple[ImageRun, _Pictures | None]:
    name = f"{image.key}__{run.name}.jpg"
    try:
        rgb = read_rgb(image.path)
        start = time.perf_counter()
        frame = render_still(models, rgb, effect_settings)
        seconds = time.perf_counter() - start
        grid.write_jpeg(staging / "results" / name, frame.output, quality=95)
    except Exception as error:  # one image's failure is reported; the others go on
        return ImageRun(image.key, run.name, False, error=_describe(error)), None
    notes: list[str] = []
    quality = None
    if image.mask_path is not None:
        try:
            from ..quality import evaluate

            figures = evaluate(rgb, frame.output, read_mask(image.mask_path, rgb.shape[:2]))
            quality = {f: float(getattr(figures, f)) for f in QUALITY_FIELDS}
        except VidbokehError as error:
            notes.append(f"mask not used: {error}")
    depth: DepthFigures | None = None
    if image.depth_path is not None and frame.depth is not None:
        try:
            depth = depth_figures(frame.depth, load_depth_png(image.depth_path, settings.depth_scale))
        except VidbokehError as error:
            notes.append(f"depth ground truth not used: {error}")
    width = settings.grid_cell_width
    pictures = _Pictures(
        depth_cell=None if frame.depth is None else grid.fit_width(colourise_depth(frame.depth), width),
        mask_cell=grid.fit_width(grid.mask_picture(frame.protect), width),
        result_cell=grid.fit_width(frame.output, width),
        depth_small=None if frame.depth is None else agreement.downsample(frame.depth),
        protect_small=agreement.downsample(frame.protect),
    )
    outcome = ImageRun(image.key, run.name, True, seconds=seconds,
                       stage_seconds={k: float(v) for k, v in frame.timings.items()},
                       quality=quality, depth=depth, focus=frame.focus, faces=len(frame.faces),
                       result_path=out_dir / "results" / name, notes=tuple(notes))
    return outcome, pictures


def _how_to_load_as(error: BaseException, approach: str) -> str:
    """For weights of another variant: how to compare them as that variant, in compare's own syntax."""
    looks_like = getattr(error, "looks_like", ())
    if not looks_like:
        return ""
    return " (to compare it as that: " + " or ".join(f"--approaches {approach}={n}" for n in looks_like) + ")"


def _describe(error: BaseException) -> str:
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


# ------------------------------------------------------------------------------------- summaries

def _finite(values) -> list[float]:
    return [v for v in values if v is not None and not math.isnan(v)]


def _summary(run: RunSpec, outcomes: list[ImageRun], effect: _EffectFacts | None, load_error: str | None,
             load_code: int | None, peak: MemoryPeak | None) -> RunSummary:
    done = [o for o in outcomes if o.ok]
    seconds = [o.seconds for o in done if o.seconds is not None]
    stages: dict[str, list[float]] = {}
    for o in done:
        for stage, value in o.stage_seconds.items():
            stages.setdefault(stage, []).append(value)
    quality: dict[str, float] = {}
    for field in QUALITY_FIELDS:
        values = _finite(o.quality.get(field) for o in done if o.quality)
        if values:
            quality[field] = float(np.median(values))
    depth: dict[str, float] = {}
    with_depth = [o.depth for o in done if o.depth is not None]
    if with_depth:
        depth = {"abs_rel": statistics.fmean(d.abs_rel for d in with_depth),
                 "delta1": statistics.fmean(d.delta1 for d in with_depth)}
    return RunSummary(
        run=run.name, title=run.title, approach=run.spec.approach, strategy=run.strategy,
        model=effect.model if effect is not None else run.spec.model,
        weights=run.spec.weights, weights_note=run.spec.weights_note,
        description=effect.description if effect is not None else None,
        device=effect.device if effect is not None else None,
        num_params=effect.num_params if effect is not None else None,
        load_seconds=effect.load_seconds if effect is not None else None, load_error=load_error,
        peak_memory_bytes=peak.cpu_bytes if peak else None, gpu_peak_memory_bytes=peak.gpu_bytes if peak else None,
        memory_method=peak.method if peak else None,
        images_ok=len(done), images_failed=len(outcomes) - len(done),
        median_seconds=float(np.median(seconds)) if seconds else None,
        p90_seconds=float(np.percentile(seconds, 90)) if seconds else None,
        stage_median_seconds={s: float(np.median(v)) for s, v in stages.items()},
        quality_median=quality, depth_mean=depth, load_exit_code=load_code,
    )


# ------------------------------------------------------------------------------------- grids

def _grid_rows(probe: Probe, runs: list[RunSpec], outcomes: dict[tuple[str, str], ImageRun],
               pictures: dict[tuple[str, str], _Pictures]) -> list[list[grid.Cell]]:
    info = probe.info
    top = [grid.Cell(probe.original_cell, ("original", f"{info.key} ({info.width}x{info.height})"))]
    if probe.mask_cell is not None:
        top.append(grid.Cell(probe.mask_cell, ("ground truth", "person mask")))
    if probe.depth_cell is not None:
        low, high = probe.depth_range or (math.nan, math.nan)
        top.append(grid.Cell(probe.depth_cell, ("ground truth", f"depth {low:.2f}-{high:.2f} m (bright = near)")))
    rows = [top]
    for run in runs:
        outcome = outcomes[(info.key, run.name)]
        note = run.spec.note_suffix.strip()  # e.g. "[SYNTHETIC WEIGHTS]", on its own line so it always fits

        def cell(picture, kind: str) -> grid.Cell:
            lines = (run.name, note, kind) if note else (run.name, kind)
            return grid.Cell(picture, lines, 1 if note else None)

        found = pictures.get((info.key, run.name))
        if not outcome.ok or found is None:
            rows.append([cell(None, f"FAILED: {outcome.error}")])
            continue
        rows.append([
            cell(found.depth_cell, "depth (bright = near)" if found.depth_cell is not None else "no depth map"),
            cell(found.mask_cell, "protection (white = sharp)"),
            cell(found.result_cell, f"result, {1000 * (outcome.seconds or 0):.0f} ms"),
        ])
    return rows


# ------------------------------------------------------------------------------------- the run

def _run_approach(spec, settings: CompareSettings, images: list[InputImage], probes: dict[str, Probe],
                  staging: Path, out_dir: Path, log: Log, progress: bool):
    """One approach over every strategy and image, with one model load.

    Returns (its runs, outcomes by (image, run), pictures by (image, run), run summaries)."""
    runs = [RunSpec(spec, strategy) for strategy in settings.strategies]
    outcomes: dict[tuple[str, str], ImageRun] = {}
    pictures: dict[tuple[str, str], _Pictures] = {}
    loaded: dict[str, tuple[_EffectFacts | None, str | None]] = {}
    if spec.approach in DEPTH_APPROACHES:
        import vidbokeh.depth  # noqa: F401  (torch's import is not the first depth approach's load time)
    meter = PeakMemoryMeter(uses_torch=spec.approach in DEPTH_APPROACHES)
    models, load_error, load_code = None, None, None
    try:
        models = load_models(resolve_approach(_effect_settings(settings, runs[0])), "image", progress=progress)
        log(f"loaded {models.description} on {models.device} in {models.load_seconds:.2f} s")
    except Exception as error:  # a model that cannot load fails its runs, the others go on
        load_error = _describe(error) + _how_to_load_as(error, spec.approach)
        load_code = error.exit_code if isinstance(error, VidbokehError) else 1
        log(f"{spec.approach}: cannot load: {load_error}")
    try:
        for run in runs:
            for image in images:
                probe = probes[image.key]
                if probe.info.error:
                    outcome, found = ImageRun(image.key, run.name, False, error=probe.info.error), None
                elif models is None:
                    outcome, found = ImageRun(image.key, run.name, False, error=f"not loaded: {load_error}"), None
                else:
                    outcome, found = _process(models, _effect_settings(settings, run), run, image, settings, staging,
                                              out_dir)
                    if not outcome.ok:
                        log(f"{image.path} with {run.name}: {outcome.error}")
                outcomes[(image.key, run.name)] = outcome
                if found is not None:
                    pictures[(image.key, run.name)] = found
            loaded[run.name] = (None if models is None else _EffectFacts.of(models), load_error, load_code)
        peak = meter.stop(models.device) if models is not None else None
    finally:
        if models is not None:
            models.close()
    summaries = [_summary(run, [outcomes[(i.key, run.name)] for i in images], *loaded[run.name], peak)
                 for run in runs]
    return runs, outcomes, pictures, summaries


def _run_into(inputs: tuple[Path, ...], out_dir: Path, settings: CompareSettings, images: list[InputImage],
              staging: Path, log: Log, progress: bool) -> CompareResult:
    probes = {image.key: probe_image(image, settings, out_dir) for image in images}
    for probe in probes.values():
        if probe.info.error:
            log(f"skipped: {probe.info.error}")
    runs: list[RunSpec] = []
    outcomes: dict[tuple[str, str], ImageRun] = {}
    pictures: dict[tuple[str, str], _Pictures] = {}
    summaries: list[RunSummary] = []
    for spec in settings.approach_specs():
        spec_runs, spec_outcomes, spec_pictures, spec_summaries = _run_approach(
            spec, settings, images, probes, staging, out_dir, log, progress)
        runs += spec_runs
        outcomes.update(spec_outcomes)
        pictures.update(spec_pictures)
        summaries += spec_summaries

    pairs: list[PairAgreement] = []
    for image in images:
        for a, b in itertools.combinations(runs, 2):
            pa, pb = pictures.get((image.key, a.name)), pictures.get((image.key, b.name))
            if pa is None or pb is None:
                continue
            rho = (agreement.spearman(pa.depth_small, pb.depth_small)
                   if pa.depth_small is not None and pb.depth_small is not None else None)
            pairs.append(PairAgreement(image.key, a.name, b.name, rho, agreement.mask_iou(pa.protect_small,
                                                                                          pb.protect_small)))

    for image in images:
        probe = probes[image.key]
        if probe.info.grid_path is None:
            continue
        rows = _grid_rows(probe, runs, outcomes, pictures)
        height = probe.original_cell.shape[0]
        grid.write_jpeg(staging / "grids" / f"{image.key}.jpg",
                        grid.compose_grid(rows, settings.grid_cell_width, height))

    plot_paths = (
        plot_stage_times(summaries, staging / "plots" / "time_per_stage.png"),
        plot_quality_vs_speed(summaries, staging / "plots" / "quality_vs_speed.png"),
    )
    result = CompareResult(
        inputs=inputs,
        settings=settings,
        images=tuple(probes[i.key].info for i in images),
        runs=tuple(summaries),
        outcomes=tuple(outcomes[(i.key, r.name)] for i in images for r in runs),
        agreement=tuple(pairs),
        out_dir=out_dir,
        report_md=out_dir / "report.md",
        report_html=out_dir / "report.html",
        results_json=out_dir / "results.json",
        plots=tuple(out_dir / p.relative_to(staging) for p in plot_paths),
    )
    write_reports(result, staging)
    return result
