"""The guided filter (He, Sun & Tang): edge-aware refinement of a mask by the picture it belongs to.

One function with a stable signature, ``guided_refine(rgb, mask, radius, eps, max_side, *, color=False)``,
so another array backend can take it over as it is.
"""
from __future__ import annotations

import cv2
import numpy as np


def guided_refine(
    rgb: np.ndarray, mask: np.ndarray, radius: int, eps: float, max_side: int, *, color: bool = False
) -> np.ndarray:
    """Edge-aware refinement of ``mask`` guided by the picture.

    Luma guide: the fast guided filter (He & Sun 2015): the local linear coefficients
    ``q = a * I + b`` are fitted on a copy at most ``max_side`` px long, then applied to the
    full-resolution luma, so the edges come from the full-resolution picture. Colour guide:
    opencv-contrib's guided filter on a copy at most ``max_side`` px long (slower).
    """
    h, w = mask.shape
    scale = min(1.0, max_side / max(h, w))
    guide = rgb if rgb.dtype == np.uint8 else _to_uint8(rgb)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small_radius = max(1, int(round(radius * scale)))
    if color:
        small_guide = cv2.resize(guide, size, interpolation=cv2.INTER_AREA) if scale < 1.0 else guide
        src = cv2.resize(mask, size, interpolation=cv2.INTER_AREA) if scale < 1.0 else mask
        refined = cv2.ximgproc.guidedFilter(small_guide.astype(np.float32) * (1.0 / 255.0), src, small_radius, eps)
        if scale < 1.0:
            refined = cv2.resize(refined, (w, h), interpolation=cv2.INTER_LINEAR)
        return np.clip(refined, 0.0, 1.0).astype(np.float32)
    luma8 = cv2.cvtColor(guide, cv2.COLOR_RGB2GRAY)
    small8 = cv2.resize(luma8, size, interpolation=cv2.INTER_AREA) if scale < 1.0 else luma8
    small_luma = small8.astype(np.float32) * np.float32(1.0 / 255.0)
    small_mask = cv2.resize(mask, size, interpolation=cv2.INTER_AREA) if scale < 1.0 else mask
    ksize = (2 * small_radius + 1, 2 * small_radius + 1)

    def box(x: np.ndarray) -> np.ndarray:
        return cv2.boxFilter(x, -1, ksize, borderType=cv2.BORDER_REFLECT)

    # the four local means in one 4-channel box filter, the two coefficient means in one 2-channel one
    means = box(cv2.merge([small_luma, small_mask, small_luma * small_luma, small_luma * small_mask]))
    mean_i, mean_p, mean_ii, mean_ip = cv2.split(means)
    var_i = mean_ii - mean_i * mean_i
    cov_ip = mean_ip - mean_i * mean_p
    a = cov_ip / (var_i + np.float32(eps))
    b = mean_p - a * mean_i
    mean_a, mean_b = cv2.split(box(cv2.merge([a, b])))
    if scale < 1.0:
        mean_a = cv2.resize(mean_a, (w, h), interpolation=cv2.INTER_LINEAR)
        mean_b = cv2.resize(mean_b, (w, h), interpolation=cv2.INTER_LINEAR)
    # q = a * I + b on the full-resolution luma (I in [0, 1]), in place
    if luma8.size <= 4:  # OpenCV's bindings take an array this small for a scalar (a 1x1 image came out 4x1)
        out = (mean_a * (luma8.astype(np.float32) * np.float32(1.0 / 255.0)) + mean_b).astype(np.float32)
    else:
        out = cv2.multiply(mean_a, luma8.astype(np.float32), scale=1.0 / 255.0)
        cv2.add(out, mean_b, dst=out)
    return np.clip(out, 0.0, 1.0, out=out)


def _to_uint8(image: np.ndarray) -> np.ndarray:
    if image.dtype == np.uint16:
        return (image >> 8).astype(np.uint8)
    return np.clip(image.astype(np.float32) * 255.0 + 0.5, 0, 255).astype(np.uint8)
