"""What a video run reports: frames written, speed, frames skipped or dropped, latency; the summary line."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass
class RunReport:
    output: Path | None
    frames_in: int = 0
    frames_written: int = 0
    skipped: int = 0  # undecodable frames/packets the source skipped
    skipped_estimated: bool = False  # the container gives no frame count: skipped is duration x fps - decoded
    input_cut: bool = False  # the input ended early (cut off, or damaged beyond reading)
    dropped: int = 0  # live frames dropped because processing was slower than the camera
    depth_updates: int = 0  # live: frames that came with a fresh depth map (depth runs at its own rate)
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
        if self.depth_updates and self.seconds > 0:
            parts.append(f"depth {self.depth_updates / self.seconds:.1f}/s")
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
        if self.interrupted:  # what was recorded is kept: the file is closed properly (a window alone keeps nothing)
            text = "interrupted: " + text + (" (finalized, playable)" if self.output is not None else "")
        if self.note:
            text += f"; {self.note}"
        return text


def lost_frames(source, largest_gap: float, *, read_to_end: bool = True) -> tuple[int, bool]:
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
