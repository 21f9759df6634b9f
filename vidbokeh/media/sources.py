"""Frame sources: video files and cameras, decoded with PyAV into RGB frames.

Plain synchronous iterators; the pipeline decides which thread runs them.

    with FileSource("in.mp4") as source:
        for frame in source:          # Frame(index, rgb, pts, time_base, time, capture_time, ...)
            ...
        print(source.skipped)         # undecodable packets skipped on the way

Frames come upright (display orientation, EXIF-like rotation metadata applied)
unless `upright=False`; `VideoFileSink` turns them back to the stored orientation
and keeps the rotation tag, so the output matches the input's layout.
"""
from __future__ import annotations

import os
import platform
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from av.video.reformatter import Interpolation, VideoReformatter

from vidbokeh.errors import InputError, UsageError
from vidbokeh.media.probe import (
    VideoInfo,
    VideoSource,
    check_input_file,
    demux_tolerant,
    in_memory,
    info_from_container,
    open_input,
    probe,
)

#: Consecutive demux/decode failures after which a source gives up (stops, never hangs).
MAX_CONSECUTIVE_ERRORS = 64
CAMERA_GONE_ERRORS = 8  # read errors in a row after which a camera counts as disconnected


@dataclass(frozen=True, eq=False)
class Frame:
    """One decoded video frame."""

    index: int  # 0-based position among the frames this source yielded
    rgb: np.ndarray  # uint8 HxWx3
    pts: int  # presentation timestamp in time_base units
    time_base: Fraction
    time: float  # pts in seconds
    capture_time: float  # time.monotonic() when the frame left the decoder
    rotation: int = 0  # rotation that was applied to make rgb upright (0 when upright=False)
    duration: int | None = None  # display duration in time_base units, when the container says


def upright(rgb: np.ndarray, rotation: int) -> np.ndarray:
    """Coded -> display orientation (rotation counterclockwise, as PyAV's frame.rotation)."""
    k = (rotation // 90) % 4
    return np.ascontiguousarray(np.rot90(rgb, k)) if k else rgb


def stored(rgb: np.ndarray, rotation: int) -> np.ndarray:
    """Display -> coded orientation: the inverse of `upright`."""
    k = (rotation // 90) % 4
    return np.ascontiguousarray(np.rot90(rgb, -k)) if k else rgb


#: swscale flags for RGB <-> YUV both ways. The default (bicubic, fast rounding, chroma not
#: interpolated) darkens a decode + encode round trip; accurate rounding with full chroma
#: interpolation keeps it unbiased, for a little more time per decode (docs/benchmarks.md).
COLOR_FLAGS = Interpolation.BILINEAR | Interpolation.ACCURATE_RND | Interpolation.FULL_CHR_H_INT


def to_rgb(frame: av.VideoFrame, reformatter: VideoReformatter | None = None,
           size: tuple[int, int] | None = None) -> np.ndarray:
    """Any pixel format (8/10-bit YUV, full or limited range) -> uint8 RGB, per the frame's colour tags.

    `size` (width, height) scales the frame in the same pass.
    """
    reformatter = reformatter or VideoReformatter()
    width, height = size if size is not None else (None, None)
    return reformatter.reformat(frame, format="rgb24", width=width, height=height,
                                interpolation=COLOR_FLAGS).to_ndarray()


class _DecodingSource:
    """Shared demux/decode loop with corruption tolerance."""

    info: VideoInfo
    skipped: int  # packets that failed to read or decode
    truncated: bool  # the stream ended early: before its announced duration, or after repeated errors

    def __init__(self, upright: bool) -> None:
        self._upright = upright
        self._container: av.container.InputContainer | None = None
        self._stream: av.VideoStream | None = None
        self.skipped = 0
        self._failures_in_a_row = 0
        self.truncated = False
        self.frames_read = 0
        self._closed = False
        self._reformatter = VideoReformatter()
        self._coded_size: tuple[int, int] | None = None  # scale decoded frames to this (width, height)

    # -- lifecycle
    def __enter__(self):
        self.open()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def open(self):  # pragma: no cover - overridden; returns self
        raise NotImplementedError

    def close(self) -> None:
        self._closed = True
        if self._container is not None:
            try:
                self._container.close()
            except Exception:
                pass
            self._container = None

    # -- decoding
    def _packets(self) -> Iterator[av.Packet]:
        """Demux video packets; a read error is counted and reading resumes, up to a limit."""
        yield from self._tolerant_packets(MAX_CONSECUTIVE_ERRORS)
        if self._failures_in_a_row >= MAX_CONSECUTIVE_ERRORS:
            self.truncated = True

    def _tolerant_packets(self, limit: int) -> Iterator[av.Packet]:
        assert self._container is not None and self._stream is not None
        self._failures_in_a_row = 0

        def failed() -> None:
            self.skipped += 1
            self._failures_in_a_row += 1

        for packet in demux_tolerant(self._container, self._stream, max_failures=limit, on_failure=failed,
                                     keep_going=lambda: not self._closed):
            self._failures_in_a_row = 0
            yield packet

    @property
    def missing(self) -> int | None:
        """Frames the container announced but this source did not yield (None if not announced).

        `skipped` counts what was seen failing (packets that did not decode, read errors);
        damage can also swallow whole packets silently, which only this difference shows.
        """
        if not self.info or not self.info.frame_count:
            return None
        return max(0, self.info.frame_count - self.frames_read)

    def _decoded(self) -> Iterator[av.VideoFrame]:
        assert self._stream is not None
        failures = 0
        for packet in self._packets():
            try:
                frames = self._stream.decode(packet)
            except (av.FFmpegError, ValueError):
                # an empty/flush packet (dts None) at the end is normal, not damage
                if packet.size:
                    self.skipped += 1
                failures += 1
                if failures >= MAX_CONSECUTIVE_ERRORS * 4:
                    self.truncated = True
                    return
                continue
            failures = 0
            yield from frames
        try:  # flush (already done when demux ended with its empty packet; then EOF is harmless)
            yield from self._stream.decode(None)
        except (av.FFmpegError, ValueError):
            pass

    def _frames(self) -> Iterator[Frame]:
        tb = self.info.time_base
        step = int(round(1 / (float(self.info.fps) * tb))) if self.info.fps else 1
        last_pts: int | None = None
        for vf in self._decoded():
            pts = vf.pts
            if pts is None:
                pts = (last_pts + step) if last_pts is not None else 0
            elif last_pts is not None and pts <= last_pts:
                # out-of-order or repeated timestamps after damage: keep pts strictly increasing
                pts = last_pts + 1
            last_pts = pts
            try:
                rgb = to_rgb(vf, self._reformatter, self._coded_size)
            except (av.FFmpegError, ValueError):
                self.skipped += 1
                continue
            rotation = 0
            if self._upright and self.info.rotation:
                rotation = self.info.rotation
                rgb = upright(rgb, rotation)
            frame = Frame(
                index=self.frames_read,
                rgb=rgb,
                pts=int(pts),
                time_base=tb,
                time=float(pts * tb),
                capture_time=time.monotonic(),
                rotation=rotation,
                duration=int(vf.duration) if vf.duration else None,
            )
            self.frames_read += 1
            yield frame
        info = self.info
        if info.duration and info.fps and last_pts is not None:
            end = (info.start_time or 0.0) + info.duration
            if float(last_pts * tb) + 2.5 / float(info.fps) < end:
                self.truncated = True


class FileSource(_DecodingSource):
    """Decode a video file, or a video held in memory as bytes, frame by frame (every decodable frame, in
    order, never dropped)."""

    def __init__(self, source: VideoSource, *, upright: bool = True, threads: bool = True) -> None:
        super().__init__(upright)
        self._data = bytes(source) if in_memory(source) else None
        self.path = Path(source) if self._data is None else None  # None for bytes
        self.info = probe(self._data if self._data is not None else self.path)  # typed errors before anything starts
        self._threads = threads

    def open(self) -> "FileSource":
        if self._container is not None:
            return self
        if self._data is not None:
            self._container = open_input(self._data)
        else:
            check_input_file(self.path)
            self._container = open_input(self.path)
        self._stream = self._container.streams.video[0]
        if self._threads:
            self._stream.thread_type = "AUTO"
        return self

    def __iter__(self) -> Iterator[Frame]:
        if self._container is None:
            self.open()
        return self._frames()


def default_camera() -> tuple[str, str]:
    """(device, input format) of the platform's default camera."""
    system = platform.system()
    if system == "Darwin":
        return "0", "avfoundation"
    if system == "Windows":
        return "video=Integrated Camera", "dshow"
    return "/dev/video0", "v4l2"


class CameraSource(_DecodingSource):
    """A live camera (or a lavfi test source, or a clip played at its own rate).

    `CameraSource()` opens the platform default; tests use
    `CameraSource("testsrc2=size=640x480:rate=30", input_format="lavfi")`.
    `CameraSource(path, realtime=True)` plays a file paced by its timestamps, as a camera would
    deliver it. A device that stops delivering ends iteration cleanly with `disconnected` set.

    `live` says how to read it: a device (or a clip with `realtime`) delivers frames on its own clock
    and waits for nobody, so the newest frame wins; a lavfi graph or a clip without `realtime` is read
    like a file, every frame at the reader's pace. `size` is asked of the device and, where the source
    delivers another size (a device that picked its nearest mode, a graph, a clip), frames are scaled to
    it. `fps` is asked of devices only: a graph and a clip have their own rate, so it is refused there.
    """

    def __init__(
        self,
        device: str | os.PathLike[str] | None = None,
        input_format: str | None = None,
        *,
        size: tuple[int, int] | None = None,
        fps: float | Fraction | None = None,
        options: Mapping[str, str] | None = None,
        realtime: bool = False,
        upright: bool = True,
    ) -> None:
        super().__init__(upright)
        if device is None:
            device, default_format = default_camera()
            input_format = input_format or default_format
        self.device = str(device)
        self.input_format = input_format
        self.realtime = realtime
        self.disconnected = False
        self.size = (int(size[0]), int(size[1])) if size is not None else None
        self.source_size: tuple[int, int] | None = None  # what the source delivers (known after open)
        opts = dict(options or {})
        device_like = input_format not in (None, "lavfi")
        if fps is not None and not device_like:
            what = ("a lavfi graph sets its own rate (rate=... in the graph)" if input_format == "lavfi"
                    else "a video file plays at its own rate")
            raise UsageError(f"--fps applies to camera devices; {what}")
        if self.size is not None and device_like:
            opts.setdefault("video_size", f"{self.size[0]}x{self.size[1]}")
        if fps is not None:
            opts.setdefault("framerate", str(fps))
        self.options = opts
        self.info: VideoInfo | None = None  # known after open()
        self._first: av.VideoFrame | None = None
        self._opened_once = False

    def open(self) -> "CameraSource":
        if self._container is not None:
            return self
        if self.input_format is None:
            check_input_file(Path(self.device))
        try:
            self._container = av.open(
                self.device, "r", format=self.input_format, options=self.options or None
            )
        except FileNotFoundError as exc:
            raise InputError(f"{self.device}: camera not found ({exc.strerror or exc})") from exc
        except (av.FFmpegError, OSError, ValueError) as exc:
            what = f"{self.input_format} device" if self.input_format else "file"
            hint = ""
            if self.input_format == "dshow":
                hint = " (name the camera with --device 'video=NAME'; `ffmpeg -list_devices true -f dshow -i dummy` lists them)"
            reason = getattr(exc, "strerror", None) or exc
            raise InputError(f"{self.device}: cannot open {what}: {reason}{hint}") from exc
        if not self._container.streams.video:
            self._container.close()
            self._container = None
            raise InputError(f"{self.device}: no video stream")
        self._stream = self._container.streams.video[0]
        if self._stream.codec_context is None:
            self.close()
            raise InputError(f"{self.device}: unknown or unsupported video codec")
        # no threaded decoding for live sources: frame threads add latency
        if self.input_format is None:
            self.info = probe(self.device)  # a clip played as a camera: rotation, colour tags...
        else:
            self.info = info_from_container(self.device, self._container, self._stream, None)
        self._apply_size()
        return self

    @property
    def live(self) -> bool:
        """True for a device or a clip played in real time (newest frame wins), False for a graph or a clip."""
        return self.realtime or self.input_format not in (None, "lavfi")

    def _apply_size(self) -> None:
        """Scale frames to the requested size where the source delivers another (info says the result)."""
        info = self.info
        assert info is not None
        self.source_size = info.display_size
        if self.size is None or self.size == info.display_size:
            return
        width, height = self.size
        coded = (height, width) if info.rotation % 180 else (width, height)
        self._coded_size = coded
        self.info = replace(info, width=coded[0], height=coded[1])

    def _packets(self) -> Iterator[av.Packet]:
        yield from self._tolerant_packets(CAMERA_GONE_ERRORS)
        if self._failures_in_a_row >= CAMERA_GONE_ERRORS:
            # the device went away (v4l2 ENODEV/EIO): stop cleanly, let the caller report it
            self.disconnected = True

    def __iter__(self) -> Iterator[Frame]:
        if self._container is None:
            self.open()
        frames = self._frames()
        if not self.realtime:
            return frames
        return self._paced(frames)

    def _paced(self, frames: Iterator[Frame]) -> Iterator[Frame]:
        """Release each frame no earlier than its timestamp after the first (monotonic clock)."""
        start_clock: float | None = None
        start_time = 0.0
        for frame in frames:
            now = time.monotonic()
            if start_clock is None:
                start_clock, start_time = now, frame.time
            else:
                due = start_clock + (frame.time - start_time)
                if due > now:
                    time.sleep(due - now)
            yield Frame(
                index=frame.index,
                rgb=frame.rgb,
                pts=frame.pts,
                time_base=frame.time_base,
                time=frame.time,
                capture_time=time.monotonic(),
                rotation=frame.rotation,
                duration=frame.duration,
            )
