"""Frame sources: video files (and what every decoding source shares), decoded with PyAV into RGB frames.

Cameras, generated sources and clips played as a camera: media/camera.py.

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

import time
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from av.video.reformatter import Interpolation, VideoReformatter

from vidbokeh.media.probe import (
    VideoInfo,
    VideoSource,
    check_input_file,
    demux_tolerant,
    in_memory,
    open_input,
    probe,
)

#: Consecutive demux/decode failures after which a source gives up (stops, never hangs).
MAX_CONSECUTIVE_ERRORS = 64


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


class DecodingSource:
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


class FileSource(DecodingSource):
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


def __getattr__(name: str):
    """The camera source lives in media/camera.py; its names stay importable from here."""
    if name in ("CameraSource", "default_camera"):
        from vidbokeh.media import camera

        return getattr(camera, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
