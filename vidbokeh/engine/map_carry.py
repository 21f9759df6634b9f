"""A map made on an earlier frame (depth, the person probability), carried to the current frame.

Live depth: in live mode depth runs at its own rate beside the per-frame stages (engine/video.py hands frames to
a worker), so each frame is shown with a map made a few frames earlier. The map was already aligned to the
running estimate (scale and shift) by the smoother; what remains is motion: dense optical flow (OpenCV's DIS, on
small grey copies, on the host) from the current frame back to the frame the map was made on tells where each
pixel's value is in that map, and the map is resampled there with the array operations the map lives on
(render/ops.py): on the torch frame path only the small flow goes up and the depth map never leaves the device.
A moving subject keeps its depth instead of leaving it behind.

The person segmentation in video runs every few frames (VideoProfile.segment_every); the frames between take its
latest map carried the same way, so the protected outline follows the person between runs.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..stages.flow import dis_flow, small_grey

if TYPE_CHECKING:
    from ..render.ops import ArrayOps


class MapCarry:
    """``anchor(map, rgb)`` keeps the newest map and its frame; ``carry(rgb)`` returns it warped to ``rgb``.

    ``flow_side``: the long side of the grey copies the flow is computed on (0 = no flow: the map as it is).
    ``ops``: the array operations the map lives on (None = OpenCV's on numpy); the frames are host arrays.
    ``map_side``: a larger map is resampled on a copy no longer than this (area-averaged once, when anchored) and
    brought back to its own size (bilinear) each frame: a depth map made at the network's ~200 px and enlarged to
    the frame holds no more than that copy does (0: the map at its own size)."""

    def __init__(self, flow_side: int, ops: "ArrayOps | None" = None, map_side: int = 0) -> None:
        from ..render.ops_opencv import OPENCV

        self.flow_side = flow_side
        self.map_side = map_side
        self._ops = OPENCV if ops is None else ops
        self._map: Any = None
        self._small: Any = None  # the map resampled each frame (the map itself, or its reduced copy)
        self._frame: np.ndarray | None = None
        self._grey: np.ndarray | None = None
        self._flow = None  # cv2.DISOpticalFlow, made on first use

    @property
    def latest(self) -> Any:
        """The newest map as it was made (None before the first)."""
        return self._map

    def anchor(self, values: Any, rgb: np.ndarray) -> None:
        self._map, self._frame = self._ops.upload(values), rgb
        self._grey = small_grey(rgb, self.flow_side) if self.flow_side > 0 else None
        h, w = self._map.shape[:2]
        scale = self.map_side / max(h, w) if self.map_side > 0 else 1.0
        self._small = self._map if scale >= 1.0 else self._ops.resize(
            self._map, (max(1, round(w * scale)), max(1, round(h * scale))), "area")

    def carry(self, rgb: np.ndarray) -> Any:
        values = self._map
        if values is None or self._grey is None or rgb is self._frame:
            return values
        grey = small_grey(rgb, self.flow_side)
        if grey.shape != self._grey.shape:  # the stream changed size: the old map says nothing here
            return values
        if self._flow is None:
            self._flow = dis_flow(0)  # the copies are small already: the preset's 1/4 scale loses the motion
        flow = self._flow.calc(grey, self._grey, None)  # current pixel -> where it was in the anchor frame
        small = self._small
        h, w = small.shape[:2]
        flow[..., 0] *= np.float32(w / grey.shape[1])  # in the resampled map's pixels (on the small copy's grid)
        flow[..., 1] *= np.float32(h / grey.shape[0])
        ops = self._ops
        carried = ops.displace(small, ops.resize(ops.upload(flow), (w, h), "linear"))
        if small is values:
            return carried
        return ops.resize(carried, (values.shape[1], values.shape[0]), "linear")
