"""Aperture kernels: anti-aliased discs and regular polygons, float32 on the host, summing to 1.

Every backend blurs with these same kernels (a backend uploads and caches them itself).
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from vidbokeh.errors import UsageError

__all__ = ["disc_kernel", "MAX_KERNEL_RADIUS"]

MAX_KERNEL_RADIUS = 64.0  # px at the pyramid level a layer is blurred at


@lru_cache(maxsize=512)
def _kernel_cached(radius_milli: int, blades: int | None, rotation_milli: int) -> np.ndarray:
    radius = radius_milli / 1000.0
    half = int(math.ceil(radius))
    sub = 8  # supersampling per pixel side: the kernel changes continuously with the radius
    offsets = (np.arange(sub, dtype=np.float64) + 0.5) / sub - 0.5
    axis = (np.arange(-half, half + 1, dtype=np.float64)[:, None] + offsets[None, :]).ravel()
    ys, xs = np.meshgrid(axis, axis, indexing="ij")
    if blades is None:
        inside = xs * xs + ys * ys <= radius * radius
    else:
        inside = np.ones_like(xs, dtype=bool)
        apothem = radius * math.cos(math.pi / blades)
        rotation = math.radians(rotation_milli / 1000.0)
        for i in range(blades):
            normal = rotation + (i + 0.5) * 2.0 * math.pi / blades
            inside &= xs * math.cos(normal) + ys * math.sin(normal) <= apothem
    size = 2 * half + 1
    cover = inside.reshape(size, sub, size, sub).mean(axis=(1, 3))
    if cover.sum() <= 0.0:  # radius far below a pixel
        cover[half, half] = 1.0
    kernel = (cover / cover.sum()).astype(np.float32)
    kernel.setflags(write=False)
    return kernel


def disc_kernel(radius: float, blades: int | None = None, rotation_deg: float = 0.0) -> np.ndarray:
    """Anti-aliased disc (or regular polygon of circumradius ``radius``) kernel summing to 1.

    Polygon vertices sit at ``rotation_deg + k * 360 / blades`` degrees (x right, y down).
    The result is read-only and shared (cached by radius, blades and rotation to 1/1000).
    """
    if not radius >= 0:
        raise UsageError(f"kernel radius must be >= 0, got {radius}")
    return _kernel_cached(int(round(radius * 1000)), blades, int(round(rotation_deg * 1000)))
