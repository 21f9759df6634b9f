"""Scene-cut detection from the frames themselves: colour-histogram distance of small frames.

A cut is a frame whose joint RGB histogram differs from the previous frame's by more than a
threshold (Hellinger distance, 0 = identical, 1 = disjoint). Histograms ignore where things are,
so people moving in a static shot barely change them, while an edit to other content does.
"""
from __future__ import annotations

import math

import numpy as np

HISTOGRAM_BITS_PER_CHANNEL = 3  # 8 levels per channel -> 512 joint RGB bins
_HISTOGRAM_BINS = 1 << (3 * HISTOGRAM_BITS_PER_CHANNEL)
_MAX_HISTOGRAM_PIXELS = 16384  # larger frames are sampled on a regular grid (same histogram, cheaper)


def colour_histogram(frame_rgb: np.ndarray) -> np.ndarray:
    """Normalised joint RGB histogram (512 bins, sums to 1) of a uint8 HxWx3 frame (any size)."""
    if frame_rgb.ndim != 3 or frame_rgb.shape[2] != 3 or frame_rgb.dtype != np.uint8:
        raise ValueError(f"expected a uint8 HxWx3 RGB frame, got {frame_rgb.dtype} {frame_rgb.shape}")
    if frame_rgb.shape[0] * frame_rgb.shape[1] > _MAX_HISTOGRAM_PIXELS:  # big frame: sample a grid
        stride = math.ceil(math.sqrt(frame_rgb.shape[0] * frame_rgb.shape[1] / _MAX_HISTOGRAM_PIXELS))
        frame_rgb = frame_rgb[::stride, ::stride]
    shift = 8 - HISTOGRAM_BITS_PER_CHANNEL
    levels = (frame_rgb >> shift).astype(np.intp)
    bins = (levels[..., 0] << (2 * HISTOGRAM_BITS_PER_CHANNEL)) | (
        levels[..., 1] << HISTOGRAM_BITS_PER_CHANNEL) | levels[..., 2]
    counts = np.bincount(bins.ravel(), minlength=_HISTOGRAM_BINS).astype(np.float64)
    total = counts.sum()
    return counts / total if total > 0 else counts


def histogram_distance(hist_a: np.ndarray, hist_b: np.ndarray) -> float:
    """Hellinger distance in [0, 1] between two normalised histograms."""
    bhattacharyya = float(np.sum(np.sqrt(hist_a * hist_b)))
    return float(np.sqrt(max(0.0, 1.0 - min(1.0, bhattacharyya))))


class SceneCutDetector:
    """Flags frames whose colour histogram jumps away from the previous frame's."""

    def __init__(self, threshold: float = 0.5):
        if not 0.0 < threshold <= 1.0:
            raise ValueError(f"scene-cut threshold must be in (0, 1], got {threshold}")
        self.threshold = threshold
        self._previous: np.ndarray | None = None
        self.last_distance = 0.0

    def update(self, frame_small_rgb: np.ndarray) -> bool:
        """Take the next (small) frame; True when it starts a new scene. The first frame is no cut."""
        hist = colour_histogram(frame_small_rgb)
        previous, self._previous = self._previous, hist
        if previous is None:
            self.last_distance = 0.0
            return False
        self.last_distance = histogram_distance(previous, hist)
        return self.last_distance > self.threshold

    def reset(self) -> None:
        self._previous = None
        self.last_distance = 0.0
