"""``vidbokeh webcam``: a live source through the engine's VideoSession to a window, a recording and/or a
virtual camera. The window runs in the caller's thread and its keys change the live controls, a value the
process stage reads for each batch (pipeline.SharedValue)."""
from __future__ import annotations

import logging
import math
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from .engine import EffectSettings, LiveControls, VideoSession, load_models, resolve_approach
from .errors import OutputError, UsageError
from .live_keys import KEYS_HELP, QUIT_KEYS, after_key
from .pipeline import LatestWorker, Pipeline, PipelineSettings, SharedValue
from .video_finish import NoRecording, SinkOutcome, run_and_settle
from .video_mode import EncoderSettings, process_stage
from .video_report import RunReport

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CameraJob:
    camera: str | None = None  # a device, a lavfi graph or a video file; None: the platform's first camera
    input_format: str | None = None
    size: tuple[int, int] | None = None
    fps: float | None = None
    output: Path | None = None
    overwrite: bool = False
    preview: bool = True
    virtual_camera: bool = False
    max_frames: int | None = None
    max_seconds: float | None = None
    realtime: bool = False  # a file played at its own rate, like a camera

    def __post_init__(self) -> None:
        if self.size is not None and (len(self.size) != 2 or any(not _whole(v) or v < 1 for v in self.size)):
            raise UsageError(f"camera size must be two positive whole numbers (width, height), got {self.size!r}")
        for name in ("fps", "max_seconds"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                      or not math.isfinite(value) or value <= 0):
                raise UsageError(f"{name} must be a positive number, got {value!r}")
        if self.max_frames is not None and (not _whole(self.max_frames) or self.max_frames < 1):
            raise UsageError(f"max_frames must be a positive whole number, got {self.max_frames!r}")
        if self.input_format is not None and not self.input_format.strip():
            raise UsageError("input_format must name a format (e.g. v4l2, lavfi, mp4) or be left out")


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class _LiveSinks:
    """Fan-out to the recording and the virtual camera (the sink thread); stops at --frames / --seconds."""

    def __init__(self, job: CameraJob, recorder, virtual, outcome: SinkOutcome, deadline: float | None) -> None:
        self.job, self.recorder, self.virtual = job, recorder, virtual
        self.outcome = outcome
        self.deadline = deadline

    def __call__(self, item) -> bool:
        frame, result = item
        if self.recorder is not None:
            try:
                self.recorder.write(result.output, frame.pts, frame.time_base)
            except BaseException:
                self.outcome.output_failed = True
                raise
        if self.virtual is not None:
            self.virtual.write(result.output, frame.pts, frame.time_base)
        now = time.monotonic()
        self.outcome.latencies.append(now - frame.capture_time)
        self.outcome.written += 1
        if "depth" in result.timings:
            self.outcome.depth_updates += 1
        if self.job.max_frames is not None and self.outcome.written >= self.job.max_frames:
            return False
        if self.deadline is not None and now >= self.deadline:
            return False
        return True


class _LiveWindow:
    """The preview (the caller's thread): the newest frame with its rates and the keys; keys change the live
    controls the process stage reads for each batch."""

    def __init__(self, preview, controls: SharedValue[LiveControls], outcome: SinkOutcome) -> None:
        self.preview, self.controls, self.outcome = preview, controls, outcome
        self._samples: deque[tuple[float, int, int]] = deque()  # (time, frames written, depth updates)
        self._announced = False

    def _rates(self, now: float) -> tuple[float, float]:
        """(frames/s, depth updates/s) over about the last second."""
        self._samples.append((now, self.outcome.written, self.outcome.depth_updates))
        while len(self._samples) > 2 and now - self._samples[1][0] >= 1.0:
            self._samples.popleft()
        t0, n0, d0 = self._samples[0]
        span = now - t0
        if span <= 0:
            return 0.0, 0.0
        return (self.outcome.written - n0) / span, (self.outcome.depth_updates - d0) / span

    def __call__(self, item) -> bool:
        if item is None:
            key = self.preview.poll()
        else:
            frame, result = item
            now = time.monotonic()
            fps, depth_rate = self._rates(now)
            status = f"{fps:4.1f} fps   latency {(now - frame.capture_time) * 1000:3.0f} ms"
            if result.as_made("depth") is not None:  # read as made: no copy of a device map to the host
                status += f"   depth {depth_rate:4.1f}/s"
            status += f"   blur x{self.controls.get().blur_scale:.2f}"
            key = self.preview.write(result.output, lines=(status, KEYS_HELP))
            if not self._announced:  # the terminal says where the picture went and how to stop it
                self._announced = True
                log.info("live: the first frame is in the window %r (its keys are on the picture; q quits)",
                         self.preview.title)
        if key in QUIT_KEYS:
            return False
        self._handle_key(key)
        return True

    def _handle_key(self, key: int) -> None:
        self.controls.update(lambda live: after_key(key, live))


def run_webcam(job: CameraJob, settings: EffectSettings, encoder: EncoderSettings = EncoderSettings(), *,
               preview_factory=None, virtual_factory=None) -> RunReport:
    """Live effect from a camera (or a lavfi test source) to a window, a recording and/or a virtual camera."""
    from .media.camera import CameraSource

    source = CameraSource(job.camera, job.input_format, size=job.size, fps=job.fps, realtime=job.realtime)
    source.open()  # a missing camera fails here, before models load
    info = source.info
    models = session = None
    recorder = preview = virtual = None
    outcome = SinkOutcome()
    report = RunReport(output=job.output)
    try:
        settings = resolve_approach(settings)
        if settings.focus_point is not None:  # refused before models load, on the size frames will have
            from .stages.focus import focus_point_pixels

            focus_point_pixels(settings.focus_point, *(job.size or (info.width, info.height)))
        models = load_models(settings, "video")
        # a live source never waits for depth: it runs at its own rate and each frame takes the newest map
        session = VideoSession(models, live_depth=LatestWorker if source.live else None)
        if job.output is not None:
            from .media.video_file import VideoFileSink

            # Camera clocks count from boot (v4l2): the recording starts at zero.
            recorder = VideoFileSink(job.output, info, codec=encoder.codec, crf=encoder.crf, preset=encoder.preset,
                                     overwrite=job.overwrite, prefer_nvenc=models.device.startswith("cuda"),
                                     start_at_zero=True)
            recorder.open()
        if job.preview:
            from .media.preview import PreviewSink

            preview = (preview_factory or PreviewSink)("vidbokeh").open(info.display_size)
        if job.virtual_camera:
            from .media.virtual_camera import VirtualCameraSink

            w, h = info.display_size
            virtual = VirtualCameraSink(w, h, float(info.fps or 30), backend=virtual_factory).open()
        if recorder is None and preview is None and virtual is None and job.max_frames is None \
                and job.max_seconds is None:
            raise OutputError("webcam: nothing to show or record (give --output, --virtual-camera, --frames or "
                              "--seconds with --no-preview)")
        deadline = time.monotonic() + job.max_seconds if job.max_seconds is not None else None
        sinks = _LiveSinks(job, recorder, virtual, outcome, deadline)
        controls = SharedValue(LiveControls())  # the keys replace it in the window; read for each batch
        window = _LiveWindow(preview, controls, outcome) if preview is not None else None
        # a device delivers on its own clock (newest frame wins); a graph or a clip is read like a file
        pipe = Pipeline(source, process_stage(session, controls), sinks,
                        PipelineSettings(queue_size=2, live=source.live), display=window)
        if recorder is not None:
            run_and_settle(pipe, recorder, outcome, report)
        else:
            run_and_settle(pipe, NoRecording(), outcome, report)
            report.output = None
        if getattr(source, "disconnected", False):
            report.note = "the camera stopped delivering frames; recording kept"
        return report
    finally:
        source.close()
        for part in (session, preview, virtual):
            if part is not None:
                part.close()
        if models is not None:
            models.close()
