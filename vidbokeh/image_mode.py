"""Image mode: photos in, ``NAME_bokeh.EXT`` out (plus depth map and mask on request).

``process_image`` is the Python API mirroring ``vidbokeh image``; ``process_images`` runs a batch with one
model load and a progress bar. Both call the engine's ``render_still``.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from .engine import EffectSettings, FrameResult, Models, load_models, render_still, resolve_approach
from .errors import InputError, OutputError, UsageError, VidbokehError

log = logging.getLogger(__name__)


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


OUTPUT_TAG = "_bokeh"  # NAME_bokeh.EXT
SIDECAR_TAGS = ("_depth", "_depth16", "_mask")  # NAME_depth.png, NAME_depth16.png, NAME_mask.png


def _sidecar(out: Path, suffix: str) -> Path:
    stem = out.stem[: -len(OUTPUT_TAG)] if out.stem.endswith(OUTPUT_TAG) else out.stem
    return out.with_name(f"{stem}{suffix}")


def is_earlier_output(path: Path, folder_stems: set[str]) -> bool:
    """Whether ``path``, found in a folder whose images have ``folder_stems``, is one of our own outputs
    (NAME_bokeh.EXT, NAME_depth.png, NAME_depth16.png, NAME_mask.png) beside its source NAME.*."""
    for tag in (OUTPUT_TAG, *SIDECAR_TAGS):
        if path.stem.endswith(tag) and path.stem[: -len(tag)] in folder_stems:
            return True
    return False


def input_files(inputs: Sequence[str | Path]) -> tuple[list[Path], int]:
    """(the images to process, how many earlier outputs were left out): folders expanded to their images
    without our own earlier outputs (a rerun over a folder never blurs NAME_bokeh.jpg again); files named
    on the command line are taken as given."""
    from .errors import InputNotFoundError
    from .media.images import expand_inputs

    if len(inputs) >= 2 and not Path(inputs[-1]).exists() and all(Path(e).exists() for e in inputs[:-1]):
        # ``image in.jpg out.jpg``, as ``file`` takes its output: the front end says how an output is named
        raise InputNotFoundError(f"{inputs[-1]}: no such file or folder", maybe_output=str(inputs[-1]))
    files: list[Path] = []
    left_out = 0
    for entry in inputs:
        found = expand_inputs([entry])
        if Path(entry).is_dir():
            stems = {f.stem for f in found}
            kept = [f for f in found if not is_earlier_output(f, stems)]
            left_out += len(found) - len(kept)
            found = kept
        files += [f for f in found if f not in files]
    return files, left_out


def _planned_outputs(src: Path, job: ImageJob, settings: EffectSettings, *, many: bool) -> list[Path]:
    """Every file writing ``src``'s result makes: the picture, then the depth maps and the mask if asked."""
    out = output_path_for(src, job.output, many)
    paths = [out]
    if job.save_depth and settings.model is not None:
        paths += [_sidecar(out, "_depth.png"), _sidecar(out, "_depth16.png")]
    if job.save_mask:
        paths.append(_sidecar(out, "_mask.png"))
    return paths


def _check_outputs(src: Path, job: ImageJob, settings: EffectSettings, *, many: bool) -> None:
    """Refuse what cannot be written (exists, same as the input, no folder...) and a focus point outside
    the picture: before anything loads, and again just before writing."""
    from .media.atomic import check_output_path

    for p in _planned_outputs(src, job, settings, many=many):
        check_output_path(p, inputs=[src], overwrite=job.overwrite)
    if settings.focus_point is not None and settings.model is not None:
        from .media.image_decode import display_size
        from .stages.focus import focus_point_pixels

        size = display_size(src)
        if size is not None:
            try:
                focus_point_pixels(settings.focus_point, *size)
            except UsageError as exc:
                raise UsageError(f"{src}: {exc}") from None


def _check_job(job: ImageJob, settings: EffectSettings) -> None:
    """Settings of the job that the resolved approach cannot honour are refused (not ignored)."""
    if job.save_depth and settings.model is None:
        raise UsageError("--save-depth needs a depth map, and selfie has none (use --approach hybrid, "
                         "depth_anything or midas)")


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
    _check_job(job, settings)
    _check_outputs(Path(path), job, settings, many=False)
    with load_models(settings, "image") as own:
        return _process_one(Path(path), job, own, settings, many=False)


def _process_one(src: Path, job: ImageJob, models: Models, settings: EffectSettings, *, many: bool) -> ImageResult:
    from .media.images import load_image, save_image

    settings = models.settings_for(settings)
    _check_job(job, settings)
    out, *extras = _planned_outputs(src, job, settings, many=many)
    t0 = time.perf_counter()
    image = load_image(src)
    t_decode = time.perf_counter() - t0
    _check_outputs(src, job, settings, many=many)

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
    files, left_out = input_files(inputs)
    if left_out:
        log.info("left out %d earlier output%s (NAME_bokeh.*, NAME_depth*.png, NAME_mask.png)", left_out,
                 "" if left_out == 1 else "s")
    if not files:
        raise InputError(f"{', '.join(map(str, inputs))}: no images left to process (only earlier outputs)")
    many = len(files) > 1 or any(Path(p).is_dir() for p in inputs)
    if many and job.output is not None:
        if job.output.exists() and not job.output.is_dir():
            raise OutputError(f"{job.output}: several inputs need an output folder, not a file")
        try:
            job.output.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"{job.output}: cannot create the output folder ({exc.strerror or exc})") from exc
    settings = resolve_approach(settings)
    _check_job(job, settings)
    # Outputs are checked before any model loads: a refused one costs nothing.
    todo: list[Path] = []
    for src in files:
        try:
            _check_outputs(src, job, settings, many=many)
            todo.append(src)
        except VidbokehError as exc:
            if on_error is None:
                raise
            on_error(src, exc)
    results: list[ImageResult] = []
    if not todo:
        return results
    with load_models(settings, "image") as models:
        bar = _progress(todo, progress and len(todo) > 1)
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
