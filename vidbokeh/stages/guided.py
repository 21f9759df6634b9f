"""The guided filter (He, Sun & Tang): edge-aware refinement of a mask by the picture it belongs to.

One function with a stable signature, ``guided_refine(rgb, mask, radius, eps, max_side, *, color=False,
ops=None)``. The luma-guided filter is written over the renderer's array operations
(vidbokeh/render/ops.py), so it runs on numpy with OpenCV (the default) or on torch tensors on a GPU;
the colour-guided one is opencv-contrib's.
"""
from __future__ import annotations

import cv2
import numpy as np

from vidbokeh.render.ops_opencv import OPENCV


def guided_refine(
    rgb, mask, radius: int, eps: float, max_side: int, *, color: bool = False, ops=None
):
    """Edge-aware refinement of ``mask`` guided by the picture; float32 in [0, 1], the backend's array.

    Luma guide: the fast guided filter (He & Sun 2015): the local linear coefficients
    ``q = a * I + b`` are fitted on a copy at most ``max_side`` px long, then applied to the
    full-resolution luma, so the edges come from the full-resolution picture. Colour guide:
    opencv-contrib's guided filter on a copy at most ``max_side`` px long (slower; on the host).
    ``ops``: the array operations (render.get_ops); None = numpy with OpenCV.
    """
    ops = OPENCV if ops is None else ops
    h, w = mask.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small_radius = max(1, int(round(radius * scale)))
    if color:
        return ops.upload(_colour_guided(_host_uint8(ops, rgb), np.asarray(ops.download(ops.upload(mask))),
                                         size, scale, small_radius, eps))
    guide = ops.upload(rgb) if isinstance(rgb, np.ndarray) and rgb.dtype == np.uint8 else ops.upload(
        _host_uint8(ops, rgb))
    luma8 = ops.luma(guide)
    small8 = ops.resize(luma8, size, "area") if scale < 1.0 else luma8
    small_luma = ops.as_float(small8)
    small_luma *= 1.0 / 255.0
    mask = ops.upload(mask)
    small_mask = ops.resize(mask, size, "area") if scale < 1.0 else mask
    ksize = 2 * small_radius + 1
    # the four local means in one 4-channel box filter, the two coefficient means in one 2-channel one
    means = ops.box_filter(ops.merge([small_luma, small_mask, small_luma * small_luma, small_luma * small_mask]),
                           ksize)
    mean_i, mean_p, mean_ii, mean_ip = (means[..., c] for c in range(4))
    a = mean_ip - mean_i * mean_p  # the covariance of guide and mask ...
    a /= mean_ii - mean_i * mean_i + eps  # ... over the guide's variance
    b = mean_p - a * mean_i
    a *= 1.0 / 255.0  # applied below to the full-resolution luma as it is (0..255): one pass fewer there
    coefficients = ops.box_filter(ops.merge([a, b]), ksize)
    if scale < 1.0:
        coefficients = ops.resize(coefficients, (w, h), "linear")
    out = coefficients[..., 0] * luma8  # q = a * I + b
    out += coefficients[..., 1]
    return ops.clip(out, 0.0, 1.0)


def _colour_guided(guide: np.ndarray, mask: np.ndarray, size: tuple[int, int], scale: float, radius: int,
                   eps: float) -> np.ndarray:
    h, w = mask.shape[:2]
    small_guide = cv2.resize(guide, size, interpolation=cv2.INTER_AREA) if scale < 1.0 else guide
    src = cv2.resize(mask, size, interpolation=cv2.INTER_AREA) if scale < 1.0 else mask
    refined = cv2.ximgproc.guidedFilter(small_guide.astype(np.float32) * (1.0 / 255.0), src, radius, eps)
    if scale < 1.0:
        refined = cv2.resize(refined, (w, h), interpolation=cv2.INTER_LINEAR)
    return np.clip(refined, 0.0, 1.0).astype(np.float32)


def _host_uint8(ops, image) -> np.ndarray:
    """uint8 pixels of a uint8, uint16 or float image (on the host)."""
    image = image if isinstance(image, np.ndarray) else ops.download(image)
    if image.dtype == np.uint8:
        return image
    if image.dtype == np.uint16:
        return (image >> 8).astype(np.uint8)
    return np.clip(image.astype(np.float32) * 255.0 + 0.5, 0, 255).astype(np.uint8)
