"""Dense optical flow on small grey copies: what live depth's carry and the video subject's motion cue share.

OpenCV's DIS (ultrafast preset) on grey copies no longer than a given side; the finest scale is chosen by the
caller (0: every pixel of the copy, for a map carried to a frame; 1: half that grid, a quarter of the CPU).
"""
from __future__ import annotations

import cv2
import numpy as np


def small_grey(rgb: np.ndarray, side: int) -> np.ndarray:
    """``rgb`` (or a grey picture) as grey uint8, no longer than ``side`` px (area averaging; 8 px at least)."""
    h, w = rgb.shape[:2]
    scale = min(1.0, side / max(h, w))
    small = rgb if scale == 1.0 else cv2.resize(rgb, (max(8, round(w * scale)), max(8, round(h * scale))),
                                                interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(small, cv2.COLOR_RGB2GRAY) if small.ndim == 3 else small


def dis_flow(finest_scale: int):
    """A DIS flow (``calc(a, b, None)``: each pixel of ``a`` -> where it is in ``b``) on the ultrafast preset."""
    flow = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST)
    flow.setFinestScale(finest_scale)
    return flow
