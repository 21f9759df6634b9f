"""Display values <-> the values that are blurred.

Without highlight bloom the blur works on display values as they are. With it, it works in linear
light with an invertible per-channel boost of the brightest values (x + k (x - t)^2 above t), so
point lights spread into bright bokeh discs while pixels that are not blurred map back to themselves.
"""
from __future__ import annotations

import numpy as np

from .settings import BokehSettings

__all__ = ["Tone"]

_GAMMA = 2.2
_UNIT = np.arange(256, dtype=np.float64) / 255.0


class Tone:
    """The tone curve of one render, over a backend's array operations."""

    def __init__(self, settings: BokehSettings, ops):
        self.ops = ops
        self.bloom = settings.highlight_bloom
        self.t = settings.bloom_threshold
        self.k = (settings.bloom_gain - 1.0) / (1.0 - self.t) ** 2
        table = self._forward_host(_UNIT).astype(np.float32)
        self.lut = table
        # 4-channel table: colour channels transformed, the alpha channel (255) maps to 1
        self.lut4 = np.stack([table, table, table, _UNIT.astype(np.float32)], axis=-1)

    def _forward_host(self, unit: np.ndarray) -> np.ndarray:
        if not self.bloom:
            return unit
        lin = unit ** _GAMMA
        excess = np.maximum(lin - self.t, 0.0)
        return lin + self.k * excess * excess

    def rgb(self, pixels):
        """Working RGB float32 from uint8 pixels (a table) or from float pixels in [0, 1]."""
        ops = self.ops
        if self.ops.is_u8(pixels):
            return ops.lut(pixels, self.lut)
        if not self.bloom:
            return ops.as_float(pixels)
        lin = ops.power(pixels, _GAMMA)
        excess = ops.maximum(lin - self.t, 0.0)
        return lin + self.k * excess * excess

    def rgba(self, pixels):
        """Working RGBA float32 (alpha 1) from uint8 or float RGB pixels."""
        if self.ops.is_u8(pixels):
            return self.ops.lut(self.ops.add_alpha(pixels), self.lut4)
        return self.ops.add_alpha(self.rgb(pixels))

    def to_display_u8(self, work):
        """Working RGB float32 -> display uint8."""
        ops = self.ops
        if self.bloom:
            excess = ops.maximum(work - self.t, 0.0)
            root = ops.sqrt(1.0 + (4.0 * self.k) * excess)
            lin = ops.minimum(work, self.t) + (root - 1.0) * (1.0 / (2.0 * self.k))
            work = ops.power(ops.maximum(lin, 0.0), 1.0 / _GAMMA)
        return ops.to_u8(work, 255.0)

