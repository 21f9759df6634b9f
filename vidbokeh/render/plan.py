"""The layer plan: which blur radius each layer has, where a CoC falls between layers, and at which
pyramid level each layer is blurred. Host-side arithmetic on small arrays and scalars, shared by
every backend; the per-pixel layer coordinate is written over the array operations (``ops``).

The signed CoC is mapped to a continuous layer coordinate g: steps of ``layer_step`` px for small
radii, geometric with ``layer_ratio`` above, the top layer exactly at the largest |CoC| so that the
most common blur renders as one crisp disc. A layer of radius r is blurred at pyramid level j >= 1
(image / 2**j), the finest where r / 2**j <= 3 (j = 1) or ``lowres_radius`` (j >= 2).
"""
from __future__ import annotations

import math

import numpy as np

from .ops_opencv import OPENCV
from .settings import BokehSettings

__all__ = ["layer_radii", "plan_layers", "layer_coordinate", "stretch_top", "level_for", "levels_setup",
           "layer_span"]

_FINE_LEVEL_CAPS = {0: 3.0, 1: 3.0}  # kernels up to 7x7 where the images are large (cost)


def _layer_constants(settings: BokehSettings) -> tuple[float, float, float]:
    log_ratio = math.log(settings.layer_ratio)
    knee = max(settings.layer_step, settings.layer_step / log_ratio)  # linear below, geometric above
    return settings.layer_step, knee, log_ratio


def layer_coordinate(ops, radius, settings: BokehSettings):
    """Continuous layer index of non-negative radii (float32 map): r / step below the knee,
    logarithmic above."""
    step, knee, log_ratio = _layer_constants(settings)
    linear = ops.minimum(radius, knee) * (1.0 / step)
    logs = ops.log(ops.maximum(radius, knee) * (1.0 / knee))
    return linear + logs * (1.0 / log_ratio)


def _radius_of_layer(g: np.ndarray, settings: BokehSettings) -> np.ndarray:
    step, knee, log_ratio = _layer_constants(settings)
    g_knee = knee / step
    return np.where(g <= g_knee, g * step, knee * np.exp((g - g_knee) * log_ratio))


def plan_layers(max_radius: float, settings: BokehSettings) -> tuple[np.ndarray, float, int]:
    """(layer radii, g of max_radius, last regular layer) for CoC up to ``max_radius``.

    Regular layers follow the step/ratio rule; the top layer's radius is exactly ``max_radius``
    (the most common CoC in a portrait is the maximum: it renders as one crisp disc, not as a mix
    of two radii), with the coordinates above the last regular layer stretched to reach it.
    """
    g_max = float(layer_coordinate(OPENCV, np.array([[max_radius]], np.float32), settings)[0, 0])
    last_regular = int(math.floor(g_max - 1e-6))
    if last_regular >= 1 and g_max - last_regular < 0.35:  # avoid a sliver of a top layer
        last_regular -= 1
    last_regular = max(0, min(last_regular, settings.max_layers - 1))
    regular = _radius_of_layer(np.arange(last_regular + 1, dtype=np.float64), settings)
    return np.append(regular, max_radius), g_max, last_regular


def stretch_top(ops, g_abs, g_max: float, last_regular: int):
    """Map |g| in [last_regular, g_max] linearly onto [last_regular, last_regular + 1]."""
    span = max(g_max - last_regular, 1e-6)
    return ops.where(g_abs > last_regular, last_regular + (g_abs - last_regular) / span, g_abs)


def layer_radii(max_radius: float, settings: BokehSettings = BokehSettings()) -> np.ndarray:
    """Blur radius of each layer used for CoC up to ``max_radius`` (index 0 = the sharp layer)."""
    return plan_layers(max_radius, settings)[0]


def _level_cap(level: int, settings: BokehSettings) -> float:
    """Largest kernel radius blurred at a pyramid level: small at fine levels (cost), larger coarse."""
    cap = min(settings.lowres_radius, _FINE_LEVEL_CAPS.get(level, settings.lowres_radius))
    return cap * (2.0 if settings.aperture_blades else 1.0)  # polygons need more pixels


def level_for(radius: float, base: int, max_level: int, settings: BokehSettings) -> int:
    """Pyramid level a layer of this radius is blurred at: the finest with radius / 2**level <= cap."""
    level = base
    while level < max_level and radius / 2**level > _level_cap(level, settings):
        level += 1
    return level


def levels_setup(h: int, w: int, max_radius: float, settings: BokehSettings) -> tuple[int, int]:
    """(base level for all blurred layers, deepest level), limited by the image size."""
    max_level = 0 if settings.full_resolution else int(math.floor(math.log2(min(h, w))))
    base = 0 if max_level == 0 else 1
    return base, level_for(max_radius, base, max_level, settings)


def layer_span(mins: np.ndarray, maxs: np.ndarray, layer: int, margin: int) -> tuple[int, int] | None:
    """Rows (or columns) where ``layer`` may have weight, grown by ``margin`` (host arrays of the
    lowest and highest layer pair index present per row or column)."""
    hit = np.flatnonzero((mins <= layer) & (maxs >= layer - 1))
    if hit.size == 0:
        return None
    return max(0, int(hit[0]) - margin), min(mins.size, int(hit[-1]) + 1 + margin)
