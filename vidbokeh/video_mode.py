"""``vidbokeh file``: re-encode a video with the effect (audio, timing and metadata kept), and what the video
modes share: the encoder settings and the pipeline's process stage.

The video modes, file by file: video_mode.py (file wiring), webcam_mode.py (live wiring: window, recording,
virtual camera), live_keys.py (what the window's keys do), video_finish.py (finalize or abort the output, with
signals held), video_report.py (the run's report and summary line). Each wires a source (media/sources.py),
the engine's VideoSession and sinks (media/) into the threaded pipeline (pipeline/).
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable

from .engine import EffectSettings, LiveControls, VideoSession, load_models, resolve_approach
from .pipeline import Pipeline, PipelineSettings, SharedValue
from .encoder_settings import EncoderSettings
from .video_finish import SinkOutcome, run_and_settle
from .video_report import RunReport, lost_frames


def process_stage(session: VideoSession, controls: SharedValue[LiveControls] | None = None) -> Callable[[list], list]:
    """The pipeline's process stage: the session over a batch, with the live controls as they are now."""
    def process(frames: list) -> list:
        now = controls.get() if controls is not None else LiveControls()
        results = session.process_batch([f.rgb for f in frames], [f.time for f in frames], now)
        return list(zip(frames, results))

    return process


def run_file(
    src: str | Path,
    dst: str | Path,
    settings: EffectSettings,
    encoder: EncoderSettings = EncoderSettings(),
    *,
    overwrite: bool = False,
    progress: bool = True,
    sink_factory=None,
) -> RunReport:
    """Re-encode ``src`` into ``dst`` with the effect, keeping audio, timing and metadata."""
    from .media.video_file import VideoFileSink
    from .media.sources import FileSource

    src, dst = Path(src), Path(dst)
    from .media.atomic import check_output_path
    from .media.encoders import VIDEO_SUFFIXES

    source = FileSource(src)  # probes: bad input fails here, before models load
    info = source.info
    check_output_path(dst, inputs=[src], overwrite=overwrite, suffixes=VIDEO_SUFFIXES)  # likewise the output
    settings = resolve_approach(settings)
    if settings.focus_point is not None:  # frames are processed as stored (coded size)
        from .stages.focus import focus_point_pixels

        focus_point_pixels(settings.focus_point, info.width, info.height)
    make_sink = sink_factory or VideoFileSink
    models = load_models(settings, "video")
    bar = None
    try:
        session = VideoSession(models)
        sink = make_sink(dst, info, codec=encoder.codec, crf=encoder.crf, preset=encoder.preset, audio_from=src,
                         overwrite=overwrite, prefer_nvenc=models.device.startswith("cuda"))
        report = RunReport(output=dst, note=getattr(sink, "note", None) or "")
        outcome = SinkOutcome()
        bar = _progress_bar(info, progress)

        def write(item) -> None:
            frame, result = item
            try:
                sink.write(result.output, frame.pts, frame.time_base)
            except BaseException:
                outcome.output_failed = True
                raise
            outcome.written += 1
            if outcome.last_time is not None:
                outcome.largest_gap = max(outcome.largest_gap, frame.time - outcome.last_time)
            outcome.last_time = frame.time
            if bar is not None:
                bar.update(1)

        batch = 4 if models.device.startswith("cuda") else 1
        with source:
            sink.open()
            pipe = Pipeline(source, process_stage(session), write, PipelineSettings(queue_size=8, batch_size=batch))
            run_and_settle(pipe, sink, outcome, report)
            report.skipped, report.skipped_estimated = lost_frames(source, outcome.largest_gap,
                                                                    read_to_end=not report.interrupted)
            report.input_cut = bool(getattr(source, "truncated", False))
        if bar is not None:
            bar.total = bar.n  # the container's estimate may have been off by a frame
            bar.refresh()
            bar.close()
        return report
    finally:
        if bar is not None:
            bar.close()  # end the bar's line, so that an error message starts on a line of its own
        models.close()


def _progress_bar(info, show: bool):
    if not show:
        return None
    from tqdm import tqdm

    total = info.expected_frames
    return tqdm(total=total, unit="frame", desc="vidbokeh", dynamic_ncols=True, file=sys.stderr)
