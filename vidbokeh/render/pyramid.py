"""The blurred share of the image at each pyramid level, with every pixel's signed layer coordinate."""
from __future__ import annotations

from .passes import EPS, down
from .plan import layer_coordinate, stretch_top
from .settings import BokehSettings

__all__ = ["Pyramid"]


class Pyramid:
    """The blurred share of the image at each pyramid level from the base level down.

    Level images are 5-channel: premultiplied RGBA and, in channel 4, alpha again (the occluder
    source); with each level its signed layer coordinate g (from the premultiplied CoC, so sharp
    and protected pixels never pull a block's depth) and, per side, row/column layer ranges.
    """

    def __init__(self, ops, stacked, base: int, deepest: int, g_max: float, last_regular: int,
                 settings: BokehSettings):
        self.ops = ops
        self._raw = {base: stacked}  # channel 4 = premultiplied CoC (until the level is made ready)
        self.deepest = deepest
        self._ready: dict = {}
        self._spans: dict = {}
        self._sides: dict = {}
        self.g_max, self.last_regular, self.settings = g_max, last_regular, settings

    def at(self, level: int):
        """(5-channel level image, signed layer coordinate g) at ``level``."""
        ops = self.ops
        if level not in self._ready:
            if level not in self._raw:
                finer = max(k for k in self._raw if k < level)
                self._raw[level] = down(ops, self._raw[finer], level - finer)
            raw = self._raw[level]
            if level < self.deepest and level + 1 not in self._raw:
                self._raw[level + 1] = down(ops, raw, 1)  # while channel 4 still holds the CoC
            alpha = raw[..., 3]
            coc = raw[..., 4] / ops.maximum(alpha, EPS)
            g_abs = layer_coordinate(ops, ops.abs(coc), self.settings)
            # blurred content belongs to layer >= 1: the sharp layer is drawn at full size
            g_abs = stretch_top(ops, ops.clip(g_abs, 1.0, self.g_max), self.g_max, self.last_regular)
            g_abs = ops.where(alpha < 1e-4, 0.0, g_abs)  # no blurred content here: in no layer
            g = ops.copysign(g_abs, coc)
            raw[..., 4] = alpha  # in place: the occluder source from now on
            self._ready[level] = (raw, g)
        return self._ready[level]

    def side(self, level: int, front: bool):
        """|g| of one side's content (0 on the other side)."""
        key = (level, front)
        if key not in self._sides:
            g = self.at(level)[1]
            self._sides[key] = self.ops.maximum(-g, 0.0) if front else self.ops.maximum(g, 0.0)
        return self._sides[key]

    def spans(self, level: int, front: bool, side_g):
        """Per row and per column (host arrays): the lowest and highest layer pair index present."""
        key = (level, front)
        if key not in self._spans:
            ops = self.ops
            present = side_g >= 1.0
            if not ops.any(present):
                self._spans[key] = None
            else:
                low = ops.floor(side_g)
                big = float(1 << 20)
                low_min, low_max = ops.where(present, low, big), ops.where(present, low, -big)
                self._spans[key] = (ops.axis_min(low_min, 1), ops.axis_max(low_max, 1),
                                    ops.axis_min(low_min, 0), ops.axis_max(low_max, 0))
        return self._spans[key]
