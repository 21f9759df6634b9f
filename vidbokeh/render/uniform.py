"""The uniform renderer: ``render_uniform`` (no depth: one disc for everything unprotected).

Everything is blurred with one disc of ``radius_px`` from the unprotected pixels only, then the
input is composited over it with ``protect``. For uint8 input without highlight bloom nothing at
full resolution is float: strips of the premultiplied picture (exact uint16 products) go straight
down to the blur level in one area resize, are blurred and normalised there in float, come back up
as uint8 and are composited with an 8-bit alpha (exactly the input where ``protect`` is 1). Float
input, highlight bloom and ``full_resolution`` take the float path.
"""
from __future__ import annotations

import math

import numpy as np

from vidbokeh.errors import UsageError

from .ops import ArrayOps
from .ops_opencv import OPENCV
from .passes import (as_image, base_level_image, blur_layer, checked_map, down, feed, normalise, padded_size,
                     strip, up_rows)
from .plan import levels_setup
from .settings import BokehSettings
from .tone import Tone

__all__ = ["render_uniform"]


def render_uniform(rgb, radius_px: float, protect, settings: BokehSettings = BokehSettings(),
                   ops: ArrayOps = OPENCV) -> np.ndarray:
    """Two-layer fast path: the unprotected part blurred with one disc of ``radius_px``; uint8 HxWx3.

    ``protect`` as for render_bokeh (float HxW in [0, 1] or None); ``ops`` the array operations
    to run on: the inputs are uploaded once and the result comes back once, as a host uint8 array.
    """
    with ops.guard():
        return ops.download(_render(ops, rgb, radius_px, protect, settings))


def _render(ops: ArrayOps, rgb, radius_px: float, protect, settings: BokehSettings):
    original, unit = as_image(ops, rgb)
    h, w = original.shape[:2]
    protect_in = checked_map(ops, "protect", protect, (h, w))
    if not radius_px >= 0:
        raise UsageError(f"blur radius must be >= 0, got {radius_px}")
    if radius_px < 0.5:
        return ops.copy(original)
    radius_px = min(float(radius_px), math.hypot(h, w))  # more than the diagonal changes nothing
    if unit is not None or settings.highlight_bloom or settings.full_resolution:
        return _uniform_float(ops, original, unit, radius_px, protect_in, settings)
    _, level = levels_setup(h, w, radius_px, settings)
    prem, own = _uniform_shrunk(ops, original, protect_in, level, settings)
    colour = ops.to_u8(normalise(ops, blur_layer(ops, prem, radius_px, level, settings), own), 255.0)
    return _upsampled_over(ops, original, colour, level, protect_in)


def _uniform_shrunk(ops: ArrayOps, original, protect, level: int, settings: BokehSettings):
    """(premultiplied RGBA, own RGBA) float32 in [0, 1] at 1 / 2**level of the padded size.

    Built strip by strip: a pixel feeds with 255 * clip(1 - protect / exclusion, 0, 1) (uint8),
    its colour times that weight is exact in uint16 (a small weight keeps its colour), and the
    area resize averages colour and weight alike. ``own`` (the colour where no unprotected pixel is
    within reach of the disc) is a plain sample of the picture.
    """
    h, w = original.shape[:2]
    f = 1 << level
    padded_h, padded_w = padded_size(h, w, f)
    step = max(f, (ops.strip_rows // f) * f)
    prem_parts, own_parts = [], []
    for y0 in range(0, padded_h, step):
        y1 = min(padded_h, y0 + step)
        rows = strip(ops, original, y0, y1, padded_w)
        rgba = ops.add_alpha(rows)
        if protect is not None:
            p = ops.clean(strip(ops, protect, y0, y1, padded_w), 0.0, 1.0)
            rgba = ops.mul_u16(rgba, ops.to_u8(p, -255.0 / settings.protect_exclusion, 255.0))
        prem_parts.append(ops.downsample(rgba, f))
        own_parts.append(rows[f // 2::f, f // 2::f])
    full = 255.0 if protect is None else 255.0 * 255.0
    prem = ops.as_float(ops.concat_rows(prem_parts)) * (1.0 / full)
    own_rgba = ops.as_float(ops.add_alpha(ops.contiguous(ops.concat_rows(own_parts)))) * (1.0 / 255.0)
    return prem, own_rgba


def _uniform_float(ops: ArrayOps, original, unit, radius_px: float, protect_in, settings: BokehSettings):
    """The float uniform path (float input, highlight bloom, ``full_resolution``), in strips of rows."""
    h, w = original.shape[:2]
    tone = Tone(settings, ops)
    _, level = levels_setup(h, w, radius_px, settings)
    multiple = 1 << level
    padded_h, padded_w = padded_size(h, w, multiple)
    source = original if unit is None else unit

    def premultiplied(y0: int, y1: int):
        work = tone.rgb(strip(ops, source, y0, y1, padded_w))
        if protect_in is None:
            return ops.add_alpha(work)
        share = feed(ops, ops.clean(strip(ops, protect_in, y0, y1, padded_w), 0.0, 1.0), settings)
        return ops.merge([ops.scale_channels(work, share), share])

    # the premultiplied image goes straight from full-resolution strips to the blur's level
    blurred = blur_layer(ops, base_level_image(ops, padded_h, padded_w, level, premultiplied), radius_px, level,
                         settings)
    fallback = tone.rgba(down(ops, ops.window(original, 0, padded_h, 0, padded_w), level))
    blurred_u8 = tone.to_display_u8(normalise(ops, blurred, fallback))
    return _upsampled_over(ops, original, blurred_u8, level, protect_in)


def _upsampled_over(ops, original, small_u8, level: int, protect_in):
    """The blurred picture (``small_u8``, ``level`` halvings down) brought back to full size in strips of rows,
    with the original kept where ``protect_in`` says so (None: the blurred picture everywhere)."""
    h, w = original.shape[:2]
    out = ops.empty_like(original)
    for y0 in range(0, h, ops.strip_rows):
        y1 = min(h, y0 + ops.strip_rows)
        rows = up_rows(ops, small_u8, level, y0, y1, w)
        if protect_in is None:
            out[y0:y1] = rows
        else:
            out[y0:y1] = ops.blend_u8(original[y0:y1], rows, ops.clean(protect_in[y0:y1], 0.0, 1.0))
    return out
