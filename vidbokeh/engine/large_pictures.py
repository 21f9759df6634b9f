"""Very large pictures: every stage runs on a copy reduced to ``MAX_WORK_PIXELS``, and the result is brought
back to full size and composited over the original, so the sharp subject keeps its full-resolution pixels.

Full size, a 12000x8000 photo peaked at 7.7 GB (the blur and the mask build float planes of 16 B/px); a blur
this wide loses nothing visible at a third of the size.
"""
from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from .frame import FrameResult, scale_faces

if TYPE_CHECKING:
    from ..stages.focus import FocusSettings

MAX_WORK_PIXELS = 16_000_000
_COMPOSITE_ROWS = 1024  # full-size compositing runs in strips of this many rows (bounded temporaries)


def is_large(rgb: np.ndarray) -> bool:
    return rgb.shape[0] * rgb.shape[1] > MAX_WORK_PIXELS


def resized(rgb: np.ndarray, scale: float) -> np.ndarray:
    """``rgb`` scaled down by ``scale`` (area averaging), at least one pixel each way."""
    import cv2

    h, w = rgb.shape[:2]
    return cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)


def reduce(rgb: np.ndarray) -> np.ndarray:
    """``rgb`` shrunk to about MAX_WORK_PIXELS (sides rounded), or as it is when already that small."""
    h, w = rgb.shape[:2]
    if h * w <= MAX_WORK_PIXELS:
        return rgb
    return resized(rgb, (MAX_WORK_PIXELS / (h * w)) ** 0.5)


def focus_on_reduced(focus: "FocusSettings", original: np.ndarray, work: np.ndarray) -> "FocusSettings":
    """``focus`` with a focus point given in the original's pixels moved into the working copy's pixels."""
    point = focus.focus_point
    if work is original or point is None or (point[0] <= 1 and point[1] <= 1):  # none, same size, or fractions
        return focus
    scale = work.shape[1] / original.shape[1]
    return replace(focus, focus_point=(point[0] * scale, point[1] * scale))


def to_full_size(result: FrameResult, original: np.ndarray) -> FrameResult:
    """A result computed on a reduced copy, at the original's size: the maps upsampled, the output the original
    where protected and the upsampled blur elsewhere (blended by the upsampled protection mask)."""
    import cv2

    h, w = original.shape[:2]
    sh, sw = result.output.shape[:2]
    if (sh, sw) == (h, w):
        return result

    def up(a: np.ndarray) -> np.ndarray:
        return cv2.resize(a, (w, h), interpolation=cv2.INTER_LINEAR)

    protect = np.clip(up(result.protect.astype(np.float32, copy=False)), 0.0, 1.0)
    blurred = up(result.output)
    output = np.empty_like(original)
    for y0 in range(0, h, _COMPOSITE_ROWS):
        y1 = min(h, y0 + _COMPOSITE_ROWS)
        keep = np.ascontiguousarray(protect[y0:y1])
        output[y0:y1] = cv2.blendLinear(np.ascontiguousarray(original[y0:y1]), np.ascontiguousarray(blurred[y0:y1]),
                                        keep, 1.0 - keep)
    del blurred
    sx, sy = w / sw, h / sh
    coc = up(result.coc.astype(np.float32, copy=False))
    coc *= np.float32(sx)  # radii in full-size pixels
    depth = None if result.depth is None else up(result.depth.astype(np.float32, copy=False))
    return FrameResult(output=output, depth=depth, protect=protect, coc=coc, focus=result.focus,
                       faces=scale_faces(result.faces, sx, sy), timings=result.timings)
