"""Video modes: ``vidbokeh file`` (re-encode with the effect) and ``vidbokeh webcam`` (live).

Both wire a source (media/sources.py), the effect (the engine's VideoSession) and one or more sinks (media/sinks.py,
media/preview.py) into the threaded pipeline (pipeline.py). This module decides what happens at the end:
complete -> rename into place; interrupted or a stage failed -> finalize what was written (a playable
file); the output itself failed -> abort (nothing under the final name).
"""
from __future__ import annotations

import sys
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from .engine import EffectSettings, LiveControls, VideoSession, load_models, resolve_approach
from .errors import Interrupted, OutputError, VidbokehError
from .pipeline import Pipeline, PipelineSettings, SharedValue

KEYS_HELP = "keys: q/Esc quit, +/- blur, [/] focus nearer/farther, 0 reset"


@dataclass(frozen=True)
class EncoderSettings:
    codec: str | None = None  # None: libx264 (libvpx-vp9 for .webm); h264_nvenc when a GPU runs depth
    crf: int = 18
    preset: str = "veryfast"


@dataclass(frozen=True)
class CameraJob:
    device: str | None = None
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


@dataclass
class RunReport:
    output: Path | None
    frames_in: int = 0
    frames_written: int = 0
    skipped: int = 0  # undecodable frames/packets the source skipped
    skipped_estimated: bool = False  # the container gives no frame count: skipped is duration x fps - decoded
    input_cut: bool = False  # the input ended early (cut off, or damaged beyond reading)
    dropped: int = 0  # live frames dropped because processing was slower than the camera
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)  # capture-to-output, seconds
    interrupted: bool = False
    exit_code: int = 0
    note: str = ""

    @property
    def fps(self) -> float:
        return self.frames_written / self.seconds if self.seconds > 0 else 0.0

    def latency_ms(self) -> tuple[float, float] | None:
        if not self.latencies:
            return None
        arr = np.asarray(self.latencies) * 1000
        return float(np.median(arr)), float(np.percentile(arr, 95))

    def summary(self) -> str:
        parts = [f"{self.frames_written} frames"]
        if self.output is not None:
            parts[0] += f" written to {self.output}"
        parts.append(f"{self.fps:.1f} fps")
        if self.skipped:
            parts.append(f"{'about ' if self.skipped_estimated else ''}{self.skipped} undecodable frames skipped")
        if self.input_cut:
            parts.append("the input ends early (cut off or damaged)")
        if self.dropped:
            parts.append(f"{self.dropped} frames dropped")
        lat = self.latency_ms()
        if lat is not None:
            parts.append(f"latency median {lat[0]:.0f} ms, p95 {lat[1]:.0f} ms")
        text = ", ".join(parts)
        if self.interrupted:
            text = "interrupted: " + text + " (finalized, playable)"
        if self.note:
            text += f"; {self.note}"
        return text


@dataclass
class _Outcome:
    """What the sink side saw: used to choose finalize (keep what was done) or abort (output broken)."""

    output_failed: bool = False
    written: int = 0
    latencies: list[float] = field(default_factory=list)
    last_time: float | None = None  # input time of the last frame written (seconds)
    largest_gap: float = 0.0  # largest step between consecutive input times (seconds): a sign of lost frames
    depth_updates: int = 0  # frames whose depth was computed afresh (live: shown as a rate)


def _process_fn(session: VideoSession, controls: SharedValue[LiveControls] | None = None) -> Callable[[list], list]:
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
    make_sink = sink_factory or VideoFileSink
    models = load_models(resolve_approach(settings), "video")
    bar = None
    try:
        session = VideoSession(models)
        sink = make_sink(dst, info, codec=encoder.codec, crf=encoder.crf, preset=encoder.preset, audio_from=src,
                         overwrite=overwrite, prefer_nvenc=models.device.startswith("cuda"))
        report = RunReport(output=dst, note=getattr(sink, "note", None) or "")
        outcome = _Outcome()
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
            pipe = Pipeline(source, _process_fn(session), write, PipelineSettings(queue_size=8, batch_size=batch))
            _run_and_settle(pipe, sink, outcome, report)
            report.skipped, report.skipped_estimated = _lost_frames(source, outcome.largest_gap,
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


def _lost_frames(source, largest_gap: float, *, read_to_end: bool = True) -> tuple[int, bool]:
    """(input frames that could not be decoded, whether that is an estimate).

    A run stopped early (Ctrl-C) never read the rest of the input: only the failures it saw count.

    Exact when the container announces its frame count. Otherwise (MKV/WebM, damaged headers) damage can
    swallow whole frames silently (the demuxer resyncs), so when there is a sign of loss (failed packets, an
    early end, a gap of several frame steps) the count is estimated as duration x frame rate - frames decoded.
    Without such a sign nothing is claimed: a healthy VFR clip's estimate is off by rounding only.
    """
    if not read_to_end:
        return source.skipped, False
    counted = max(source.skipped, source.missing or 0)
    info = source.info
    if info.frame_count or not info.expected_frames:
        return counted, False
    fps = float(info.fps) if info.fps else 0.0
    sign = source.skipped > 0 or bool(getattr(source, "truncated", False)) or (fps > 0 and largest_gap * fps > 2.5)
    estimate = info.expected_frames - source.frames_read
    if sign and estimate > counted:
        return estimate, True
    return counted, False


def _run_and_settle(pipe: Pipeline, sink, outcome: _Outcome, report: RunReport) -> None:
    """Run the pipeline; on success close the sink, otherwise finalize or abort it, then re-raise."""
    t0 = time.monotonic()
    try:
        stats = pipe.run()
    except (KeyboardInterrupt, Interrupted) as exc:
        code = exc.exit_code if isinstance(exc, Interrupted) else 130
        _settle(sink, outcome, keep=True)
        report.frames_in = pipe.stats.frames_in
        report.frames_written = outcome.written
        report.seconds = time.monotonic() - t0
        report.interrupted, report.exit_code = True, code
        report.dropped = pipe.stats.dropped
        report.latencies = outcome.latencies
        return
    except BaseException as exc:
        _settle(sink, outcome, keep=not outcome.output_failed)
        if outcome.written and not outcome.output_failed and isinstance(exc, Exception):
            kept = f"{outcome.written} frames finalized in {getattr(sink, 'path', 'the output')}"
            if isinstance(exc, VidbokehError):
                exc.args = (f"{exc} ({kept})",)
            else:  # a bug: its message is its own; the CLI adds notes to the one line it prints
                exc.add_note(kept)
        raise
    try:
        final = _holding_signals(sink.close)
    except (KeyboardInterrupt, Interrupted) as exc:  # came while closing; held back until the file was complete
        final = getattr(sink, "path", None) if getattr(sink, "state", "closed") == "closed" else None
        if final is None:
            _settle(sink, outcome, keep=True)
        report.interrupted, report.exit_code = True, exc.exit_code if isinstance(exc, Interrupted) else 130
    report.output = final if isinstance(final, Path) else report.output
    report.frames_in = stats.frames_in
    report.frames_written = outcome.written
    report.seconds = time.monotonic() - t0
    report.dropped = stats.dropped
    report.latencies = outcome.latencies


def _holding_signals(fn: Callable[[], object]) -> object:
    """``fn()`` with SIGINT/SIGTERM held back until it returns (main thread only).

    Closing or finalizing an output writes its trailer and renames the temporary file; a Ctrl-C in the middle
    would leave the temporary file and no output. A signal that comes meanwhile is recorded and, once ``fn`` is
    done, handed to the handler that was in place (KeyboardInterrupt, the CLI's Interrupted), so it is not lost.
    """
    import os
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return fn()
    received: list[int] = []
    held = (signal.SIGINT, signal.SIGTERM)
    previous = {signum: signal.signal(signum, lambda signum, frame: received.append(signum)) for signum in held}
    try:
        result = fn()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    for signum in received[:1]:
        handler = previous[signum]
        if callable(handler):
            handler(signum, None)
        elif handler == signal.SIG_DFL:
            os.kill(os.getpid(), signum)
    return result


def _settle(sink, outcome: _Outcome, *, keep: bool) -> None:
    try:
        if keep and outcome.written > 0:
            _holding_signals(sink.finalize)
        else:
            _holding_signals(sink.abort)
    except (KeyboardInterrupt, Interrupted):
        pass  # a second signal while already stopping: what it asks for is under way
    except VidbokehError as exc:  # the original failure matters more; say this one in a line
        print(f"vidbokeh: error: {exc}", file=sys.stderr)


def _progress_bar(info, show: bool):
    if not show:
        return None
    from tqdm import tqdm

    total = info.expected_frames
    return tqdm(total=total, unit="frame", desc="vidbokeh", dynamic_ncols=True, file=sys.stderr)


# ----------------------------------------------------------------------------------------------- webcam

class _LiveSinks:
    """Fan-out to the recording and the virtual camera (the sink thread); stops at --frames / --seconds."""

    def __init__(self, job: CameraJob, recorder, virtual, outcome: _Outcome, deadline: float | None) -> None:
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

    def __init__(self, preview, controls: SharedValue[LiveControls], outcome: _Outcome) -> None:
        self.preview, self.controls, self.outcome = preview, controls, outcome
        self._samples: deque[tuple[float, int, int]] = deque()  # (time, frames written, depth updates)

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
            if result.depth is not None:
                status += f"   depth {depth_rate:4.1f}/s"
            status += f"   blur x{self.controls.get().blur_scale:.2f}"
            key = self.preview.write(result.output, lines=(status, KEYS_HELP))
        if key in (ord("q"), 27):
            return False
        self._handle_key(key)
        return True

    def _handle_key(self, key: int) -> None:
        self.controls.update(lambda live: _after_key(key, live))


def _after_key(key: int, live: LiveControls) -> LiveControls:
    """The live controls after a key press (unchanged for keys that mean nothing)."""
    from dataclasses import replace

    if key in (ord("+"), ord("=")):
        return replace(live, blur_scale=min(4.0, live.blur_scale * 1.25))
    if key in (ord("-"), ord("_")):
        return replace(live, blur_scale=max(0.0, live.blur_scale / 1.25))
    if key == ord("["):
        return replace(live, focus_offset=min(1.0, live.focus_offset + 0.05))
    if key == ord("]"):
        return replace(live, focus_offset=max(-1.0, live.focus_offset - 0.05))
    if key == ord("0"):
        return LiveControls()
    return live


def run_webcam(job: CameraJob, settings: EffectSettings, encoder: EncoderSettings = EncoderSettings(), *,
               preview_factory=None, virtual_factory=None) -> RunReport:
    """Live effect from a camera (or a lavfi test source) to a window, a recording and/or a virtual camera."""
    from .media.sources import CameraSource

    source = CameraSource(job.device, job.input_format, size=job.size, fps=job.fps, realtime=job.realtime)
    source.open()  # a missing camera fails here, before models load
    info = source.info
    models = None
    recorder = preview = virtual = None
    outcome = _Outcome()
    report = RunReport(output=job.output)
    try:
        models = load_models(resolve_approach(settings), "video")
        session = VideoSession(models)
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
        pipe = Pipeline(source, _process_fn(session, controls), sinks, PipelineSettings(queue_size=2, live=source.live),
                        display=window)
        if recorder is not None:
            _run_and_settle(pipe, recorder, outcome, report)
        else:
            _run_and_settle(pipe, _NoFile(), outcome, report)
            report.output = None
        if getattr(source, "disconnected", False):
            report.note = "the camera stopped delivering frames; recording kept"
        return report
    finally:
        source.close()
        for part in (preview, virtual):
            if part is not None:
                part.close()
        if models is not None:
            models.close()


class _NoFile:
    """Stand-in for a recording when there is none (nothing to finalize)."""

    path = None

    def close(self):
        return None

    def finalize(self):
        return None

    def abort(self):
        return None
