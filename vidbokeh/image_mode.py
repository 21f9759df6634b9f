"""Image mode: photos in, ``NAME_bokeh.EXT`` out (plus depth map and mask on request).

``process_image`` is the Python API mirroring ``vidbokeh image``; ``process_images`` runs a batch with one
model load and a progress bar. Both call the engine's ``render_still``.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from .engine import EffectSettings, FrameResult, Models, load_models, render_still, resolve_approach
from .errors import OutputError, VidbokehError


@dataclass(frozen=True)
class ImageJob:
    output: Path | None = None  # file (one input) or folder; None = beside each input
    overwrite: bool = False
    save_depth: bool = False
    save_mask: bool = False


@dataclass
class ImageResult:
    input: Path
    output: Path
    extra: list[Path] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)  # stage -> seconds (decode, ..., encode)
    frame: FrameResult | None = None


def output_path_for(src: Path, output: Path | None, many: bool) -> Path:
    """Where the result of ``src`` goes: NAME_bokeh.EXT beside it, in a folder, or the given file."""
    name = f"{src.stem}_bokeh{src.suffix}"
    if output is None:
        return src.with_name(name)
    if many or output.is_dir():
        return output / name
    return output


def _sidecar(out: Path, suffix: str) -> Path:
    stem = out.stem[: -len("_bokeh")] if out.stem.endswith("_bokeh") else out.stem
    return out.with_name(f"{stem}{suffix}")


def _check_sidecars(paths: Iterable[Path], job: ImageJob, inputs: Sequence[Path]) -> None:
    from .media.atomic import check_output_path

    for p in paths:
        check_output_path(p, inputs=inputs, overwrite=job.overwrite)


def process_image(
    path: str | Path,
    output: str | Path | None = None,
    settings: EffectSettings | None = None,
    *,
    overwrite: bool = False,
    save_depth: bool = False,
    save_mask: bool = False,
    models: Models | None = None,
) -> ImageResult:
    """Blur the background of one photo and write it; returns where everything went and the timings.

    ``models``: already loaded models to use (else they are loaded for ``settings`` and closed after)."""
    job = ImageJob(output=Path(output) if output is not None else None, overwrite=overwrite,
                   save_depth=save_depth, save_mask=save_mask)
    if models is not None:
        return _process_one(Path(path), job, models, settings or models.settings, many=False)
    settings = resolve_approach(settings if settings is not None else EffectSettings())
    with load_models(settings, "image") as own:
        return _process_one(Path(path), job, own, settings, many=False)


def _process_one(src: Path, job: ImageJob, models: Models, settings: EffectSettings, *, many: bool) -> ImageResult:
    from .media.atomic import check_output_path
    from .media.images import load_image, save_image

    out = output_path_for(src, job.output, many)
    t0 = time.perf_counter()
    image = load_image(src)
    t_decode = time.perf_counter() - t0
    check_output_path(out, inputs=[src], overwrite=job.overwrite)
    extras: list[Path] = []
    if job.save_depth and models.model_name is not None:
        extras += [_sidecar(out, "_depth.png"), _sidecar(out, "_depth16.png")]
    if job.save_mask:
        extras.append(_sidecar(out, "_mask.png"))
    _check_sidecars(extras, job, [src])

    frame = render_still(models, image.rgb, settings)
    t0 = time.perf_counter()
    save_image(out, frame.output, image, overwrite=job.overwrite)
    t_encode = time.perf_counter() - t0
    written = []
    if job.save_depth and frame.depth is not None:
        from .media.maps import save_depth_maps

        written += save_depth_maps(frame.depth, extras[0], extras[1], overwrite=job.overwrite)
    if job.save_mask:
        from .media.maps import save_mask

        written.append(save_mask(frame.protect, _sidecar(out, "_mask.png"), overwrite=job.overwrite))
    timings = {"decode": t_decode, **frame.timings, "encode": t_encode}
    return ImageResult(input=src, output=out, extra=written, timings=timings, frame=frame)


def process_images(
    inputs: Sequence[str | Path],
    job: ImageJob,
    settings: EffectSettings,
    *,
    progress: bool = True,
    on_error=None,
) -> list[ImageResult]:
    """A batch: one model load, a progress bar. Errors on one image are reported and the rest go on
    when ``on_error`` is given (it receives (path, error)); otherwise the first error is raised."""
    from .media.images import expand_inputs

    files = expand_inputs(inputs)
    many = len(files) > 1 or any(Path(p).is_dir() for p in inputs)
    if many and job.output is not None and job.output.exists() and not job.output.is_dir():
        raise OutputError(f"{job.output}: several inputs need an output folder, not a file")
    if many and job.output is not None and not job.output.exists():
        raise OutputError(f"{job.output}: output folder does not exist")
    results: list[ImageResult] = []
    settings = resolve_approach(settings)
    with load_models(settings, "image") as models:
        bar = _progress(files, progress and len(files) > 1)
        for src in bar:
            try:
                results.append(_process_one(src, job, models, settings, many=many))
            except VidbokehError as exc:
                if on_error is None:
                    raise
                on_error(src, exc)
    return results


def _progress(items: list[Path], show: bool):
    if not show:
        return items
    from tqdm import tqdm

    return tqdm(items, unit="image", desc="vidbokeh", dynamic_ncols=True)


def timing_table(results: Sequence[ImageResult]) -> str:
    """A per-stage table in milliseconds (median over the images), with the total except depth."""
    stages: list[str] = []
    for r in results:
        for k in r.timings:
            if k not in stages:
                stages.append(k)
    rows = []
    for k in stages:
        vals = [r.timings[k] * 1000 for r in results if k in r.timings]
        rows.append((k, float(np.median(vals))))
    total = sum(v for _, v in rows)
    no_depth = sum(v for k, v in rows if k != "depth")
    width = max(len(k) for k, _ in rows + [("all but depth", 0)])
    lines = [f"{'stage':<{width}}  {'ms':>8}"]
    lines += [f"{k:<{width}}  {v:8.1f}" for k, v in rows]
    lines.append(f"{'all but depth':<{width}}  {no_depth:8.1f}")
    lines.append(f"{'total':<{width}}  {total:8.1f}")
    return "\n".join(lines)
