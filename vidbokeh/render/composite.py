"""The layered renderer: ``render_bokeh`` (signed CoC map -> blurred image).

Every blurred layer is premultiplied colour + alpha blurred as such (normalised convolution), so it
holds only its own pixels: the sharp subject never smears into the background (no halo) and what
nearer layers hide is filled from the farther layers' own pixels. Layers are composited with "over"
far to near (largest positive CoC first); a pixel split between two layers occludes what is behind
it once, so it keeps its full coverage. The sharp layer (|coc| < ``layer_step``) is the input
itself; foreground layers (negative CoC) go over it, nearest last.

Cost. Blurred layers are built at half resolution or coarser (see plan.py), each only over the
rows and columns it covers; the full-resolution passes (premultiplying, the final blends) run over
strips of rows, so memory stays a small multiple of the image's own size.
"""
from __future__ import annotations

import math

import numpy as np

from .ops import ArrayOps
from .ops_opencv import OPENCV
from .passes import (as_image, base_level_image, blur_layer, checked_map, down, extremes, feed, normalise,
                     padded_size, strip, up, up_rows)
from .plan import layer_coordinate, layer_span, level_for, levels_setup, plan_layers, stretch_top
from .pyramid import Pyramid
from .settings import BokehSettings
from .tone import Tone

__all__ = ["render_bokeh"]


def _over(ops, top, below):
    """``top`` over ``below``: premultiplied RGBA in channels 0-3, the occluder in channel 4."""
    keep = 1.0 - ops.minimum(top[..., 4], 1.0)
    return top + ops.scale_channels(below, keep)


def _stack(ops, pyramid: Pyramid, layers: list[int], radii: np.ndarray, base: int, deepest: int, front: bool,
           settings: BokehSettings):
    """Blur and composite one side's layers in the given order (far to near): (result, its pyramid level).

    A pixel at |g| between layers k and k + 1 gives them (k + 1 - |g|) and (|g| - k) of its colour
    (so the blur changes smoothly with the CoC); it occludes what lies behind it once, in the first
    of its two layers to be drawn, so a pixel split between two layers never hides half of itself.
    A layer is weighted at the pyramid level it is blurred at, over the rows and columns it covers.
    """
    acc = None
    acc_level = base
    for layer in layers:
        radius = float(radii[layer])
        level = level_for(radius, base, deepest, settings)
        image, _ = pyramid.at(level)
        side_g = pyramid.side(level, front)
        spans = pyramid.spans(level, front, side_g)
        if spans is None:
            continue
        margin = int(math.ceil(radius / 2**level)) + 2
        rows = layer_span(spans[0], spans[1], layer, margin)
        cols = layer_span(spans[2], spans[3], layer, margin)
        if rows is None or cols is None:
            continue
        g_roi = side_g[rows[0]:rows[1], cols[0]:cols[1]]
        weight = ops.maximum(1.0 - ops.abs(g_roi - layer), 0.0)
        if not ops.any(weight):
            continue
        if front:  # drawn nearest last: a pixel in [k, k+1) occludes in layer k
            own = (g_roi >= layer) & (g_roi < layer + 1)
        else:  # drawn farthest first: a pixel in (k-1, k] occludes in layer k
            own = (g_roi > layer - 1) & (g_roi <= layer)
        weights = ops.merge([weight, weight, weight, weight, ops.as_float(own)])
        layer_img = ops.scale_channels(image[rows[0]:rows[1], cols[0]:cols[1]], weights)
        blurred = blur_layer(ops, layer_img, radius, level, settings)
        if acc is None:
            acc_level = level
            acc = ops.zeros(tuple(image.shape))
        elif acc_level > level:
            acc = up(ops, acc, acc_level - level)
            acc_level = level
        f = level - acc_level
        blurred = up(ops, blurred, f)
        region = (slice(rows[0] << f, rows[1] << f), slice(cols[0] << f, cols[1] << f))
        acc[region] = _over(ops, blurred, acc[region])
    if acc is None:
        return None
    return acc, acc_level  # channels 0-3 premultiplied RGBA (4: the last occluder), at the finest level drawn


def _first_layer(ops, coc_min: float, coc, feeding, g_max: float, last_regular: int, settings: BokehSettings) -> int:
    """The nearest layer behind the focus plane that can hold anything. Where no CoC is negative, a pixel's CoC at
    any pyramid level is a weighted mean of feeding pixels' CoCs, so no smaller than the least of them: the layers
    wholly below it are empty (in hybrid, everything that feeds the blur lies above the background floor), and
    their level-by-level bookkeeping is skipped."""
    if coc_min < 0:
        return 1
    least = ops.min_value(ops.where(feeding > 0, coc, 1e6))
    if least >= 1e6:
        return 1
    g = layer_coordinate(OPENCV, np.array([[least]], np.float32), settings)
    g = float(stretch_top(OPENCV, np.clip(g, 1.0, g_max), g_max, last_regular)[0, 0])
    return max(1, int(math.floor(g - 1e-3)))  # layer k holds weight for g in (k - 1, k + 1)


def render_bokeh(rgb, coc, protect=None, settings: BokehSettings = BokehSettings(),
                 ops: ArrayOps = OPENCV) -> np.ndarray:
    """Blur ``rgb`` by the signed CoC map (pixels), keep ``protect`` sharp; returns uint8 HxWx3.

    rgb      uint8 HxWx3, or float in [0, 1] (RGBA: split the alpha off before, re-attach after).
    coc      float32 HxW, SIGNED circle-of-confusion radius in pixels (see focus.coc_map):
             |coc| is the blur radius, 0 = sharp; coc > 0 lies behind the focus plane,
             coc < 0 in front of it. A map without negative values is simply "background".
    protect  float32 HxW in [0, 1] or None; the output is ``protect * input + (1 - protect) *
             blurred``, and bit-exactly the input where protect == 1. Pixels with protect >=
             ``settings.protect_exclusion`` never feed the blur (no halo around the subject).
    ops      the array operations to run on (ops.get_ops): the inputs are uploaded once and the
             result comes back once, as a host uint8 array.
    """
    with ops.guard():
        return ops.download(_render(ops, rgb, coc, protect, settings))


def _render(ops: ArrayOps, rgb, coc, protect, settings: BokehSettings):
    original, unit = as_image(ops, rgb)
    h, w = original.shape[:2]
    coc_in = checked_map(ops, "coc", coc, (h, w))
    protect_in = checked_map(ops, "protect", protect, (h, w))
    coc_min, coc_max = extremes(ops, coc_in)
    max_radius = min(max(-coc_min, coc_max), math.hypot(h, w))  # more than the diagonal changes nothing
    if max_radius < 0.5:
        return ops.copy(original)
    tone = Tone(settings, ops)
    radii, g_max, last_regular = plan_layers(max_radius, settings)
    top = len(radii) - 1
    base, deepest = levels_setup(h, w, max_radius, settings)
    padded_h, padded_w = padded_size(h, w, 1 << deepest)
    inverse_first = 1.0 / float(radii[1])
    source = original if unit is None else unit
    # full-size maps made once for both full-resolution passes (the layers' input and the final blends)
    coc_clean = ops.clean(coc_in, -1e6, 1e6)
    blurred = ops.minimum(ops.abs(coc_clean) * inverse_first, 1.0)  # the share of each pixel blurred at all
    protect_clean = None if protect_in is None else ops.clean(protect_in, 0.0, 1.0)
    feeding = blurred if protect_clean is None else feed(ops, protect_clean, settings) * blurred
    del coc_in, protect_in

    def premultiplied(y0: int, y1: int):
        """Premultiplied colour and alpha, and premultiplied CoC, of the blurred share of padded rows y0..y1
        (two arrays: OpenCV halves four channels and one far faster than five)."""
        share = strip(ops, feeding, y0, y1, padded_w)
        colour = ops.scale_channels(tone.rgb(strip(ops, source, y0, y1, padded_w)), share)
        return [ops.merge([colour, share]), strip(ops, coc_clean, y0, y1, padded_w) * share]

    pyramid = Pyramid(ops, base_level_image(ops, padded_h, padded_w, base, premultiplied), base, deepest, g_max,
                      last_regular, settings)
    first = _first_layer(ops, coc_min, coc_clean, feeding, g_max, last_regular, settings)
    order = list(range(top, first - 1, -1))  # far to near behind the focus plane
    back = _stack(ops, pyramid, order, radii, base, deepest, False, settings)
    front = None
    if coc_min <= -0.5:  # in front of the focus plane: nearest layer last
        front = _stack(ops, pyramid, order[::-1], radii, base, deepest, True, settings)
    if back is None and front is None:
        return ops.copy(original)
    del pyramid

    def display_rows(stack, y0: int, y1: int):
        """Output rows y0..y1 of a normalised layer stack, in display uint8."""
        acc, level = stack
        f = 1 << level
        s0, s1 = max(0, y0 // f - 1), min(acc.shape[0], -(-y1 // f) + 1)
        band = ops.contiguous(acc[s0:s1, :, :4])
        fallback = None  # the input's own colour, needed only where no layer reaches
        if ops.min_value(band[..., 3]) < 1e-3:
            fallback = tone.rgba(down(ops, strip(ops, original, s0 * f, s1 * f, padded_w), level))
        band = tone.to_display_u8(normalise(ops, band, fallback))
        return up_rows(ops, band, level, y0 - s0 * f, y1 - s0 * f, w)

    front_alpha = None if front is None else (ops.minimum(front[0][..., 3], 1.0), front[1])
    out = ops.empty_like(original)
    for y0 in range(0, h, ops.strip_rows):
        y1 = min(h, y0 + ops.strip_rows)
        orig_rows = original[y0:y1]
        keep = 1.0 - blurred[y0:y1]  # sharp-layer alpha
        p_rows = None if protect_clean is None else protect_clean[y0:y1]
        if p_rows is not None and front is None:
            keep = p_rows + keep - p_rows * keep
        rows = orig_rows if back is None else ops.blend_u8(orig_rows, display_rows(back, y0, y1), keep)
        if front is not None and front_alpha is not None:
            alpha_rows = up_rows(ops, front_alpha[0], front_alpha[1], y0, y1, w)
            rows = ops.blend_u8(display_rows(front, y0, y1), rows, alpha_rows)
            if p_rows is not None:
                rows = ops.blend_u8(orig_rows, rows, p_rows)
        out[y0:y1] = rows
    return out
