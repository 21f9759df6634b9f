"""Cutting a video into keyframe-aligned segments that workers process independently.

``scan`` reads the video stream's packets without decoding them (fast: no pixels) and returns every
frame's pts and which of them are keyframes. ``plan_segments`` cuts at the first keyframe at least
``segment_seconds`` after the previous cut, so each segment starts where a decoder can start, and gives
each segment after the first a warm-up: the ``warmup_seconds`` of frames before its start, which its
worker runs through the effect (depth smoothing, the focus puller, faces every N) without writing them,
so the temporal state at the cut is close to what one pass over the whole file would have.

``segment_frames`` decodes one segment: it seeks to the keyframe at or before the warm-up's first frame
and yields ``(frame, warm_up)`` pairs from there up to the segment's end.
"""
from __future__ import annotations

import bisect
import math
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from ..errors import InputError, UsageError
from ..media.probe import demux_tolerant, open_input
from ..media.sources import MAX_CONSECUTIVE_ERRORS, FileSource, Frame


@dataclass(frozen=True)
class Scan:
    """Every frame's pts (sorted) and the keyframes' pts of a file's first video stream."""

    pts: tuple[int, ...]
    keyframes: tuple[int, ...]
    time_base: Fraction

    @property
    def frames(self) -> int:
        return len(self.pts)

    def seconds(self, pts: int) -> float:
        return float((pts - self.pts[0]) * self.time_base) if self.pts else 0.0


@dataclass(frozen=True)
class Segment:
    """Frames ``start_pts <= pts < end_pts`` are written; ``warmup_pts <= pts < start_pts`` are warm-up."""

    index: int
    start_pts: int | None  # None: from the first frame
    end_pts: int | None  # None: to the last frame
    warmup_pts: int | None  # None: no warm-up (the first segment)
    frames: int  # frames written, from the scan
    warmup_frames: int

    def __post_init__(self) -> None:
        if self.index < 0 or self.frames < 0 or self.warmup_frames < 0:
            raise ValueError(f"segment {self.index}: negative index or frame count")
        if self.start_pts is not None and self.end_pts is not None and self.end_pts <= self.start_pts:
            raise ValueError(f"segment {self.index}: ends at {self.end_pts}, before its start {self.start_pts}")


@dataclass(frozen=True)
class SegmentPlan:
    segment_seconds: float = 60.0
    warmup_seconds: float = 1.0

    def __post_init__(self) -> None:
        if not self.segment_seconds > 0 or math.isinf(self.segment_seconds):
            raise UsageError(f"--segment-seconds must be a number > 0, got {self.segment_seconds}")
        if not 0 <= self.warmup_seconds < math.inf:
            raise UsageError(f"warm-up must be >= 0 seconds, got {self.warmup_seconds}")


def scan(path: Path) -> Scan:
    """Demux (no decoding) the first video stream: frame timestamps and keyframes."""
    try:
        with open_input(path) as container:
            if not container.streams.video:
                raise InputError(f"{path}: no video stream")
            stream = container.streams.video[0]
            pts: list[int] = []
            keys: list[int] = []
            for packet in demux_tolerant(container, stream, max_failures=MAX_CONSECUTIVE_ERRORS,
                                          on_failure=lambda: None):
                if packet.size == 0 or packet.pts is None:
                    continue
                pts.append(int(packet.pts))
                if packet.is_keyframe:
                    keys.append(int(packet.pts))
            time_base = stream.time_base
    except av.FFmpegError as exc:
        raise InputError(f"{path}: cannot read: {exc}") from exc
    return Scan(pts=tuple(sorted(set(pts))), keyframes=tuple(sorted(set(keys))), time_base=time_base)


def plan_segments(found: Scan, plan: SegmentPlan) -> list[Segment]:
    """Keyframe-aligned segments of at least ``plan.segment_seconds`` (the last may be shorter).

    One segment for the whole file when it is short, has one keyframe, or lacks timestamps."""
    pts = found.pts
    if not pts:
        return [Segment(0, None, None, None, 0, 0)]
    cuts: list[int] = []
    last = pts[0]
    for key in found.keyframes:
        if key > pts[0] and float((key - last) * found.time_base) >= plan.segment_seconds:
            cuts.append(key)
            last = key
    step = _frame_step(pts)
    warm = int(math.ceil(plan.warmup_seconds / float(step * found.time_base))) if step else 0
    bounds = [None, *cuts, None]
    segments: list[Segment] = []
    for i in range(len(bounds) - 1):
        start, end = bounds[i], bounds[i + 1]
        lo = 0 if start is None else bisect.bisect_left(pts, start)
        hi = len(pts) if end is None else bisect.bisect_left(pts, end)
        first_warm = max(0, lo - warm)
        warmup_pts = pts[first_warm] if start is not None and warm and lo > 0 else None
        segments.append(Segment(index=i, start_pts=start, end_pts=end, warmup_pts=warmup_pts,
                                frames=hi - lo, warmup_frames=(lo - first_warm) if warmup_pts is not None else 0))
    return segments


def _frame_step(pts: tuple[int, ...]) -> int:
    """The median step between frames (robust to a few VFR jumps)."""
    if len(pts) < 2:
        return 0
    steps = sorted(b - a for a, b in zip(pts, pts[1:]))
    return steps[len(steps) // 2]


class _SeekingSource(FileSource):
    """A file source that starts decoding at the keyframe at or before ``seek_pts``."""

    def __init__(self, path: Path, seek_pts: int | None) -> None:
        super().__init__(path)
        self._seek_pts = seek_pts

    def open(self) -> "_SeekingSource":
        fresh = self._container is None
        super().open()
        if fresh and self._seek_pts is not None:
            assert self._container is not None and self._stream is not None
            self._container.seek(self._seek_pts, stream=self._stream, backward=True)
        return self


def frames_between(path: Path, first_pts: int, last_pts: int) -> list[Frame]:
    """The decoded frames with ``first_pts <= pts <= last_pts`` (upright RGB)."""
    frames: list[Frame] = []
    with _SeekingSource(path, first_pts - 1) as source:
        for frame in source:
            if frame.pts > last_pts:
                break
            if frame.pts >= first_pts:
                frames.append(frame)
    return frames


def segment_frames(path: Path, segment: Segment) -> Iterator[tuple[Frame, bool]]:
    """Decode one segment: ``(frame, warm_up)`` from the warm-up's first frame to the segment's end."""
    first = segment.warmup_pts if segment.warmup_pts is not None else segment.start_pts
    # a segment that does not start the file always seeks before its start, so that frames decoded
    # with references to the previous group of pictures (open GOP) come out whole
    seek = None if first is None else first - 1
    with _SeekingSource(path, seek) as source:
        for frame in source:
            if first is not None and frame.pts < first:
                continue
            if segment.end_pts is not None and frame.pts >= segment.end_pts:
                break
            warm = segment.start_pts is not None and frame.pts < segment.start_pts
            yield frame, warm
