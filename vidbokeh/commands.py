"""One function per subcommand: parsed arguments -> frozen settings -> the mode that does the work."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .engine import EffectSettings
from .errors import UsageError, VidbokehError


def _say(msg: str) -> None:
    print(f"vidbokeh: {msg}", file=sys.stderr)


def _check_weights_file(path: Path | None, what: str = "weights file") -> None:
    """A weights file named on the command line exists (before anything loads)."""
    if path is not None and not path.is_file():
        from .errors import WeightsNotFoundError

        raise WeightsNotFoundError(f"{path}: {what} not found")


def effect_settings(args: argparse.Namespace, *, video: bool) -> EffectSettings:
    """The effect's settings from the arguments (over ``--preset``'s); EffectSettings checks every value."""
    _check_weights_file(args.weights)
    values = dict(
        approach=args.approach,
        model=args.model,
        weights=args.weights,
        device=args.device,
        frame_backend=args.frame_backend,
        runtime=args.runtime,
        strategy=args.strategy,
        focus=args.focus,
        focus_point=args.focus_point,
        max_blur=args.max_blur,
        dof=args.dof,
        blur_foreground=True if args.blur_foreground else None,
        aperture_blades=args.aperture_blades,
        highlight_bloom=args.highlight_bloom,
        depth_size=args.depth_size,
        video=video,
        depth_every=getattr(args, "depth_every", 1),
        smoothing=getattr(args, "smoothing", None),
    )
    if getattr(args, "keep_everyone", False):
        from .engine.settings import VideoProfile

        values["video_profile"] = VideoProfile(subject_motion=False)
    if getattr(args, "preset", None):
        from .presets_file import with_preset

        values = with_preset(args.preset, values, args.explicit_fields)
    return EffectSettings(**values)


def cmd_image(args: argparse.Namespace) -> int:
    from .image_mode import ImageJob, process_images, timing_table

    job = ImageJob(output=args.output, overwrite=args.overwrite, save_depth=args.save_depth, save_mask=args.save_mask)
    settings = effect_settings(args, video=False)
    failures: list[VidbokehError] = []

    def on_error(path: Path, exc: VidbokehError) -> None:
        failures.append(exc)
        _say(f"error: {exc}")

    many = len(args.inputs) > 1 or any(p.is_dir() for p in args.inputs)
    results = process_images(args.inputs, job, settings, on_error=on_error if many else None)
    for r in results:
        print(r.output)
        for extra in r.extra:
            print(extra)
    if args.timings and results:
        print(timing_table(results), file=sys.stderr)
    if failures:
        _say(f"{len(failures)} of {len(failures) + len(results)} images failed")
        return failures[0].exit_code
    return 0


def cmd_file(args: argparse.Namespace) -> int:
    from .encoder_settings import EncoderSettings
    from .video_mode import run_file

    settings = effect_settings(args, video=True)
    enc = EncoderSettings(codec=args.codec, crf=args.crf, preset=args.encoder_preset)
    report = run_file(args.input, args.output, settings, enc, overwrite=args.overwrite)
    _say(report.summary())
    return report.exit_code


def cmd_webcam(args: argparse.Namespace) -> int:
    from .encoder_settings import EncoderSettings
    from .webcam_mode import CameraJob, run_webcam

    settings = effect_settings(args, video=True)
    enc = EncoderSettings(codec=args.codec, crf=args.crf, preset=args.encoder_preset)
    job = CameraJob(
        camera=args.camera, input_format=args.input_format, size=args.size, fps=args.fps, output=args.output,
        overwrite=args.overwrite, preview=not args.no_preview, virtual_camera=args.virtual_camera,
        max_frames=args.frames, max_seconds=args.seconds, realtime=args.realtime,
    )
    report = run_webcam(job, settings, enc)
    _say(report.summary())
    return report.exit_code


def cmd_batch(args: argparse.Namespace) -> int:
    from .batch import BatchSettings, SegmentPlan, run_batch
    from .video_mode import EncoderSettings

    settings = effect_settings(args, video=False)
    batch = BatchSettings(engine=args.engine, ray_address=args.ray_address, workers=args.workers,
                          segments=SegmentPlan(segment_seconds=args.segment_seconds),
                          encoder=EncoderSettings(codec=args.codec, crf=args.crf, preset=args.encoder_preset))
    bar = _BatchBar()
    try:
        report = run_batch(args.inputs, args.out, settings, batch, on_progress=bar.update)
    finally:
        bar.close()
    for outcome in report.outcomes:
        if outcome.status == "failed":
            _say(f"error: {outcome.error}")
    _say(report.summary() + f"; manifest: {Path(args.out) / 'manifest.jsonl'}")
    return report.exit_code


class _BatchBar:
    """The whole batch on one terminal line: frames (with rate and ETA) and items."""

    def __init__(self) -> None:
        self._bar = None

    def update(self, progress) -> None:
        from tqdm import tqdm

        if self._bar is None:
            self._bar = tqdm(total=progress.frames_total, unit="frame", desc="vidbokeh batch", dynamic_ncols=True,
                             file=sys.stderr)
        self._bar.update(progress.frames_done - self._bar.n)
        ended = progress.items_done + progress.items_failed + progress.items_skipped
        failed = f", {progress.items_failed} failed" if progress.items_failed else ""
        self._bar.set_postfix_str(f"{ended}/{progress.items_total} items{failed}")

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def _parse_pairs(items: list[str], what: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise UsageError(f"{what} expects APPROACH=VALUE, got {item!r}")
        pairs[key.strip()] = value.strip()
    return pairs


def _compare_effect(args: argparse.Namespace) -> EffectSettings | None:
    """What every compared run shares: --max-blur over --preset's look (each run sets its own approach, model,
    strategy and device)."""
    values = {"max_blur": args.max_blur} if args.max_blur is not None else {}
    if args.preset:
        from .presets_file import with_preset

        values = with_preset(args.preset, values, args.explicit_fields)
    return EffectSettings(**values) if values else None


def cmd_serve(args: argparse.Namespace) -> int:
    from .web import ServerSettings, serve

    _check_weights_file(args.weights)
    return serve(ServerSettings(host=args.host, port=args.port, max_upload_mb=args.max_upload_mb,
                                device=args.device, weights=args.weights, weights_model=args.model,
                                work_dir=args.work_dir))


def cmd_compare(args: argparse.Namespace) -> int:
    from .comparison import CompareSettings, compare

    approaches: list[str] = []
    models: dict[str, str] = {}
    for item in filter(None, (a.strip() for a in args.approaches.split(","))):
        name, sep, model = item.partition("=")
        approaches.append(name)
        if sep:
            models[name] = model
    strategies = [s.strip() for s in args.strategies.split(",") if s.strip()]
    weights = {k: Path(v) for k, v in _parse_pairs(args.weights, "--weights").items()}
    notes = _parse_pairs(args.weights_note, "--weights-note")
    for name, path in weights.items():
        _check_weights_file(path, f"weights file for {name}")
    settings = CompareSettings(
        approaches=tuple(approaches), models=models, strategies=tuple(strategies), weights=weights,
        weights_notes=notes, masks_dir=args.masks, depth_dir=args.depth, depth_scale=args.depth_scale,
        device=args.device,
        effect=_compare_effect(args),
    )
    result = compare(args.inputs, args.out, settings=settings)
    print(result.report_md)
    print(result.report_html)
    print(result.results_json)
    if result.failed:
        _say(f"{len(result.failed)} image runs failed; see the report for each")
    return result.exit_code


def cmd_models(args: argparse.Namespace) -> int:
    from .depth import catalog

    if args.models_command == "list":
        print(catalog.format_table(catalog.list_rows()))
        return 0
    if args.models_command == "fetch":
        for name in args.names:
            if name == "mediapipe":
                from .stages.assets import fetch_all

                for p in fetch_all():
                    print(p)
            else:
                print(catalog.fetch(name))
        return 0
    if args.models_command == "path":
        print(catalog.path(args.name))
        return 0
    if args.models_command == "export":
        print(catalog.export(args.name, args.runtime, size=args.size, frame=args.frame, weights=args.weights))
        return 0
    raise UsageError("models: choose list, fetch, path or export")


COMMANDS = {"serve": cmd_serve, "image": cmd_image, "file": cmd_file, "webcam": cmd_webcam, "compare": cmd_compare,
            "models": cmd_models, "batch": cmd_batch}


def dispatch(args: argparse.Namespace) -> int:
    return COMMANDS[args.command](args)
