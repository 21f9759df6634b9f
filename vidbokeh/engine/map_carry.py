"""A map made on an earlier frame (depth, the person probability), carried to the current frame.

Live depth: in live mode depth runs at its own rate beside the per-frame stages (engine/video.py hands frames to
a worker), so each frame is shown with a map made a few frames earlier. The map was already aligned to the
running estimate (scale and shift) by the smoother; what remains is motion: dense optical flow (OpenCV's DIS, on
small grey copies) from the current frame back to the frame the map was made on tells where each pixel's value
is in that map, and the map is resampled there. A moving subject keeps its depth instead of leaving it behind.

The person segmentation in video runs every few frames (VideoProfile.segment_every); the frames between take its
latest map carried the same way, so the protected outline follows the person between runs.
"""
from __future__ import annotations

import cv2
import numpy as np

from ..stages.flow import dis_flow, small_grey


class MapCarry:
    """``anchor(map, rgb)`` keeps the newest map and its frame; ``carry(rgb)`` returns it warped to ``rgb``.

    ``flow_side``: the long side of the grey copies the flow is computed on (0 = no flow: the map as it is)."""

    def __init__(self, flow_side: int) -> None:
        self.flow_side = flow_side
        self._map: np.ndarray | None = None
        self._frame: np.ndarray | None = None
        self._grey: np.ndarray | None = None
        self._flow = None  # cv2.DISOpticalFlow, made on first use
        self._grid: tuple[np.ndarray, np.ndarray] | None = None

    @property
    def latest(self) -> np.ndarray | None:
        """The newest map as it was made (None before the first)."""
        return self._map

    def anchor(self, values: np.ndarray, rgb: np.ndarray) -> None:
        self._map, self._frame = values, rgb
        self._grey = small_grey(rgb, self.flow_side) if self.flow_side > 0 else None

    def carry(self, rgb: np.ndarray) -> np.ndarray | None:
        values = self._map
        if values is None or self._grey is None or rgb is self._frame:
            return values
        grey = small_grey(rgb, self.flow_side)
        if grey.shape != self._grey.shape:  # the stream changed size: the old map says nothing here
            return values
        if self._flow is None:
            self._flow = dis_flow(0)  # the copies are small already: the preset's 1/4 scale loses the motion
        flow = self._flow.calc(grey, self._grey, None)  # current pixel -> where it was in the anchor frame
        h, w = values.shape[:2]
        sy, sx = h / grey.shape[0], w / grey.shape[1]
        flow = cv2.resize(flow, (w, h), interpolation=cv2.INTER_LINEAR)
        gx, gy = self._pixel_grid(h, w)
        map_x = gx + flow[..., 0] * np.float32(sx)
        map_y = gy + flow[..., 1] * np.float32(sy)
        return cv2.remap(values, map_x, map_y, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)

    def _pixel_grid(self, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
        if self._grid is None or self._grid[0].shape != (h, w):
            gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
            self._grid = (gx, gy)
        return self._grid
