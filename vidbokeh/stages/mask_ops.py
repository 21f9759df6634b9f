"""Small operations on soft masks: a probability turned into a mask, holes inside a subject filled."""
from __future__ import annotations

import cv2
import numpy as np


def soft_threshold(prob: np.ndarray, low: float, high: float) -> np.ndarray:
    """0 below ``low``, 1 above ``high``, linear between (a new float32 array)."""
    if prob.size <= 4:  # OpenCV's bindings take an array this small for a scalar
        out = prob.astype(np.float32) - np.float32(low)
    else:
        out = cv2.subtract(prob.astype(np.float32, copy=False), float(low))
    out *= np.float32(1.0 / (high - low))
    return np.clip(out, 0.0, 1.0, out=out)


def fill_small_holes(mask: np.ndarray, max_area: float, max_side: int = 512) -> np.ndarray:
    """Set to 1 the background regions enclosed by the subject that are smaller than ``max_area``
    (px of the full image). Found on a copy at most ``max_side`` px long (speed)."""
    h, w = mask.shape
    scale = min(1.0, max_side / max(h, w))
    small = mask if scale == 1.0 else cv2.resize(
        mask, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA
    )
    background = (small < 0.5).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(background, connectivity=4)
    if count <= 1:
        return mask
    sh, sw = small.shape
    x, y, bw, bh, area = (stats[:, i] for i in range(5))
    touches_border = (x == 0) | (y == 0) | (x + bw == sw) | (y + bh == sh)
    holes = (area <= max_area * scale * scale) & ~touches_border
    holes[0] = False  # label 0 is the subject itself
    if not holes.any():
        return mask
    fill = holes[labels].astype(np.float32)
    if scale < 1.0:
        fill = cv2.resize(fill, (w, h), interpolation=cv2.INTER_LINEAR)
    return np.maximum(mask, fill)
