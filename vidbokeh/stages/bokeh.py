"""Lens blur renderer: layered disc (or polygon) kernels, premultiplied, far-to-near.

Public API (all maps HxW, images HxWx3, same H and W):

    render_bokeh(rgb, coc, protect=None, settings=BokehSettings()) -> uint8 HxWx3
        rgb      uint8 HxWx3, or float in [0, 1] (RGBA: split the alpha off before, re-attach after).
        coc      float32 HxW, SIGNED circle-of-confusion radius in pixels (see focus.coc_map):
                 |coc| is the blur radius, 0 = sharp; coc > 0 lies behind the focus plane,
                 coc < 0 in front of it. A map without negative values is simply "background".
        protect  float32 HxW in [0, 1] or None; the output is ``protect * input + (1 - protect) *
                 blurred``, and bit-exactly the input where protect == 1. Pixels with protect >=
                 ``settings.protect_exclusion`` never feed the blur (no halo around the subject).
    render_uniform(rgb, radius_px, protect, settings=BokehSettings()) -> uint8 HxWx3
        The fast two-layer path (no depth): everything is blurred with one disc of ``radius_px``
        from the unprotected pixels only, then the input is composited over it with ``protect``.
    disc_kernel(radius, blades=None, rotation_deg=0.0) -> float32 kernel summing to 1.
    layer_radii(max_radius, settings) -> the blur radius of every layer (index 0 = sharp).

All functions are pure (the only shared state is a cache of kernels), so several threads may
render at once. OpenCV's own threads do the parallel work inside each call.

How it works. The signed CoC is mapped to a continuous layer coordinate g (steps of
``layer_step`` px for small radii, geometric with ``layer_ratio`` above, the top layer exactly at
the largest |CoC| so the most common blur renders as one crisp disc); each pixel belongs to the two
nearest integer layers with linear weights, so the blur grows smoothly with the CoC (no banding).
Every blurred layer is premultiplied colour + alpha blurred as such (normalised convolution), so
it holds only its own pixels: the sharp subject never smears into the background (no halo) and
what nearer layers hide is filled from the farther layers' own pixels. Layers are composited with
"over" far to near (largest positive CoC first); a pixel split between two layers occludes what
is behind it once, so it keeps its full coverage. The sharp layer (|coc| < ``layer_step``) is the
input itself; foreground layers (negative CoC) go over it, nearest last.

Cost. Blurred layers are built at half resolution or coarser: a layer of radius r is weighted and
blurred at pyramid level j >= 1 (image / 2**j), the finest where r / 2**j <= 3 (j = 1) or
``lowres_radius`` (j >= 2), then upsampled, so the cost per layer is bounded whatever the radius;
each layer is processed only over the rows and columns it covers. The full-resolution passes
(premultiplying, the final blends) run over strips of rows, so memory stays a small multiple of
the image's own size. ``full_resolution=True`` computes everything at full size (a slow reference).

``highlight_bloom`` blurs in linear light with an invertible per-channel boost of the brightest
values (x + k (x - t)^2 above t), so point lights spread into bright bokeh discs while pixels that
are not blurred map back to themselves.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from vidbokeh.errors import InputError, UsageError

__all__ = ["BokehSettings", "render_bokeh", "render_uniform", "disc_kernel", "layer_radii"]

_GAMMA = 2.2
_EPS = 1e-6
_FILL_EPS = 1e-6  # weight of a pixel's own colour where no blurred layer reaches it
_MAX_KERNEL_RADIUS = 64.0  # px at the level a layer is blurred at


@dataclass(frozen=True)
class BokehSettings:
    """How the blur is drawn (how much is the CoC map's job, see focus.FocusSettings)."""

    aperture_blades: int | None = None  # None: circular aperture; N >= 3: regular N-gon
    aperture_rotation_deg: float = 0.0  # rotation of the polygon (a vertex at this angle)
    highlight_bloom: bool = False  # blur in linear light and boost highlights into bright discs
    bloom_threshold: float = 0.7  # linear-light value above which a channel counts as highlight
    bloom_gain: float = 6.0  # what a pure white channel is worth while blurring (1 = no boost)
    layer_step: float = 1.0  # px between the first (small-radius) layers
    layer_ratio: float = 1.4  # radius ratio between consecutive larger layers
    max_layers: int = 24  # cap on blurred layers on each side of the focus plane
    lowres_radius: float = 8.0  # largest kernel radius (px) at the coarse levels (>= 2) a layer is blurred at
    full_resolution: bool = False  # blur every layer at full size (slow; a quality reference)
    protect_exclusion: float = 0.5  # pixels with protect >= this never feed a blurred layer

    def __post_init__(self) -> None:
        if self.aperture_blades is not None and self.aperture_blades < 3:
            raise UsageError(f"aperture_blades must be >= 3 or None, got {self.aperture_blades}")
        if not self.layer_ratio > 1.0:
            raise UsageError(f"layer_ratio must be > 1, got {self.layer_ratio}")
        if not self.layer_step > 0.0:
            raise UsageError(f"layer_step must be > 0, got {self.layer_step}")
        if self.max_layers < 1:
            raise UsageError(f"max_layers must be >= 1, got {self.max_layers}")
        if not self.lowres_radius >= 1.0:
            raise UsageError(f"lowres_radius must be >= 1, got {self.lowres_radius}")
        if not 0.0 < self.bloom_threshold < 1.0:
            raise UsageError(f"bloom_threshold must be in (0, 1), got {self.bloom_threshold}")
        if not self.bloom_gain >= 1.0:
            raise UsageError(f"bloom_gain must be >= 1, got {self.bloom_gain}")
        if not 0.0 < self.protect_exclusion <= 1.0:
            raise UsageError(f"protect_exclusion must be in (0, 1], got {self.protect_exclusion}")


# --------------------------------------------------------------------------- kernels


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
    """
    if not radius >= 0:
        raise UsageError(f"kernel radius must be >= 0, got {radius}")
    return _kernel_cached(int(round(radius * 1000)), blades, int(round(rotation_deg * 1000)))


def _filter(img: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Convolve with reflecting borders, also when the kernel is larger than the image."""
    h, w = img.shape[:2]
    half = kernel.shape[0] // 2
    if half == 0:
        return img
    if half < h and half < w:
        return cv2.filter2D(img, -1, kernel, borderType=cv2.BORDER_REFLECT)
    pads = ((half, half), (half, half)) + ((0, 0),) * (img.ndim - 2)
    padded = np.pad(img, pads, mode="symmetric")
    out = cv2.filter2D(padded, -1, kernel, borderType=cv2.BORDER_REPLICATE)
    return out[half:half + h, half:half + w]


def _down(img: np.ndarray, levels: int) -> np.ndarray:
    for _ in range(levels):
        h, w = img.shape[:2]
        img = cv2.resize(img, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
    return img


def _up(img: np.ndarray, levels: int) -> np.ndarray:
    """Bilinear upsampling by 2**levels in one step (repeated doubling would soften more)."""
    if levels <= 0:
        return img
    h, w = img.shape[:2]
    return cv2.resize(img, (w << levels, h << levels), interpolation=cv2.INTER_LINEAR)


# --------------------------------------------------------------------------- colour


_UNIT = np.arange(256, dtype=np.float64) / 255.0


class _Tone:
    """Display values <-> the values that are blurred (linear light with highlight boost, or as is)."""

    def __init__(self, settings: BokehSettings):
        self.bloom = settings.highlight_bloom
        self.t = settings.bloom_threshold
        self.k = (settings.bloom_gain - 1.0) / (1.0 - self.t) ** 2
        table = self._forward_np(_UNIT).astype(np.float32)
        # 4-channel LUT: colour channels transformed, the alpha channel (255) maps to 1
        self.lut4 = np.stack([table, table, table, _UNIT.astype(np.float32)], axis=-1).reshape(1, 256, 4)

    def _forward_np(self, unit: np.ndarray) -> np.ndarray:
        if not self.bloom:
            return unit
        lin = unit ** _GAMMA
        excess = np.maximum(lin - self.t, 0.0)
        return lin + self.k * excess * excess

    def rgb(self, pixels: np.ndarray) -> np.ndarray:
        """Working RGB float32 from uint8 pixels (a LUT) or from float pixels in [0, 1]."""
        if pixels.dtype == np.uint8:
            return cv2.LUT(pixels, self.lut4[..., 0].reshape(1, 256))
        return self._forward_np(pixels).astype(np.float32)

    def rgba(self, pixels: np.ndarray) -> np.ndarray:
        """Working RGBA float32 (alpha 1) from uint8 or float RGB pixels."""
        if pixels.dtype == np.uint8:
            return cv2.LUT(cv2.cvtColor(pixels, cv2.COLOR_RGB2RGBA), self.lut4)
        return cv2.cvtColor(self.rgb(pixels), cv2.COLOR_RGB2RGBA)

    def to_display_u8(self, work: np.ndarray) -> np.ndarray:
        """Working RGB float32 -> display uint8."""
        if self.bloom:
            excess = np.maximum(work - self.t, 0.0)
            root = np.sqrt(1.0 + (4.0 * self.k) * excess)
            lin = np.minimum(work, self.t) + (root - 1.0) * (1.0 / (2.0 * self.k))
            work = np.power(np.maximum(lin, 0.0), 1.0 / _GAMMA)
        return cv2.convertScaleAbs(work, alpha=255.0)


def _as_image(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """(uint8 original, float input in [0, 1] or None for uint8 input)."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.shape[0] == 0 or rgb.shape[1] == 0:
        raise InputError(f"expected an HxWx3 RGB image, got shape {rgb.shape}")
    if rgb.dtype == np.uint8:
        return np.ascontiguousarray(rgb), None
    if np.issubdtype(rgb.dtype, np.floating):
        unit = np.clip(np.nan_to_num(rgb.astype(np.float32)), 0.0, 1.0)
        return (unit * 255.0 + 0.5).astype(np.uint8), unit
    raise InputError(f"expected uint8 or float RGB, got {rgb.dtype}")


def _feed(protect: np.ndarray, settings: BokehSettings) -> np.ndarray:
    """Weight (0..1) with which each pixel may feed a blurred layer: 0 for protected pixels."""
    return np.clip(1.0 - protect * np.float32(1.0 / settings.protect_exclusion), 0.0, 1.0)


def _blend(a: np.ndarray, b: np.ndarray, weight_a: np.ndarray) -> np.ndarray:
    """a * weight_a + b * (1 - weight_a) for uint8 images with an 8-bit alpha; exactly a where
    weight_a == 1 and exactly b where it is 0 (2-3x faster than cv2.blendLinear)."""
    alpha = cv2.convertScaleAbs(np.ascontiguousarray(weight_a, dtype=np.float32), alpha=255.0)
    alpha = cv2.merge([alpha, alpha, alpha])
    kept = cv2.multiply(a, alpha, scale=1.0 / 255.0)
    return cv2.add(kept, cv2.multiply(b, cv2.bitwise_not(alpha), scale=1.0 / 255.0))


def _normalise(acc: np.ndarray, fallback: np.ndarray | None) -> np.ndarray:
    """Premultiplied RGBA -> RGB colour; where nothing was accumulated, the fallback's colour
    (None: the caller knows every pixel has some alpha)."""
    blended = acc if fallback is None else acc + _FILL_EPS * fallback
    alpha = cv2.extractChannel(blended, 3)
    if fallback is None:
        alpha = np.maximum(alpha, np.float32(_EPS))
    colour = cv2.divide(blended, cv2.merge([alpha, alpha, alpha, alpha]))
    return cv2.cvtColor(colour, cv2.COLOR_RGBA2RGB)


# --------------------------------------------------------------------------- layers


def _layer_constants(settings: BokehSettings) -> tuple[float, float, float]:
    log_ratio = math.log(settings.layer_ratio)
    knee = max(settings.layer_step, settings.layer_step / log_ratio)  # linear below, geometric above
    return settings.layer_step, knee, log_ratio


def _layer_coordinate(radius: np.ndarray, settings: BokehSettings) -> np.ndarray:
    """Continuous layer index of non-negative radii: r / step below the knee, logarithmic above."""
    step, knee, log_ratio = _layer_constants(settings)
    radius = np.ascontiguousarray(radius, dtype=np.float32)
    linear = np.minimum(radius, knee) * (1.0 / step)
    logs = np.log(np.maximum(radius, knee) * (1.0 / knee))
    return linear + logs * (1.0 / log_ratio)


def _radius_of_layer(g: np.ndarray, settings: BokehSettings) -> np.ndarray:
    step, knee, log_ratio = _layer_constants(settings)
    g_knee = knee / step
    return np.where(g <= g_knee, g * step, knee * np.exp((g - g_knee) * log_ratio))


def _plan_layers(max_radius: float, settings: BokehSettings) -> tuple[np.ndarray, float, int]:
    """(layer radii, g of max_radius, last regular layer) for CoC up to ``max_radius``.

    Regular layers follow the step/ratio rule; the top layer's radius is exactly ``max_radius``
    (the most common CoC in a portrait is the maximum: it renders as one crisp disc, not as a mix
    of two radii), with the coordinates above the last regular layer stretched to reach it.
    """
    g_max = float(_layer_coordinate(np.array([[max_radius]], np.float32), settings)[0, 0])
    last_regular = int(math.floor(g_max - 1e-6))
    if last_regular >= 1 and g_max - last_regular < 0.35:  # avoid a sliver of a top layer
        last_regular -= 1
    last_regular = max(0, min(last_regular, settings.max_layers - 1))
    regular = _radius_of_layer(np.arange(last_regular + 1, dtype=np.float64), settings)
    return np.append(regular, max_radius), g_max, last_regular


def _stretch_top(g_abs: np.ndarray, g_max: float, last_regular: int) -> np.ndarray:
    """Map |g| in [last_regular, g_max] linearly onto [last_regular, last_regular + 1]."""
    span = max(g_max - last_regular, 1e-6)
    above = g_abs > last_regular
    g_abs[above] = last_regular + (g_abs[above] - last_regular) / span
    return g_abs


def layer_radii(max_radius: float, settings: BokehSettings = BokehSettings()) -> np.ndarray:
    """Blur radius of each layer used for CoC up to ``max_radius`` (index 0 = the sharp layer)."""
    return _plan_layers(max_radius, settings)[0]


_FINE_LEVEL_CAPS = {0: 3.0, 1: 3.0}  # kernels up to 7x7 where the images are large (cost)


def _level_cap(level: int, settings: BokehSettings) -> float:
    """Largest kernel radius blurred at a pyramid level: small at fine levels (cost), larger coarse."""
    cap = min(settings.lowres_radius, _FINE_LEVEL_CAPS.get(level, settings.lowres_radius))
    return cap * (2.0 if settings.aperture_blades else 1.0)  # polygons need more pixels


def _level_for(radius: float, base: int, max_level: int, settings: BokehSettings) -> int:
    """Pyramid level a layer of this radius is blurred at: the finest with radius / 2**level <= cap."""
    level = base
    while level < max_level and radius / 2**level > _level_cap(level, settings):
        level += 1
    return level


def _levels_setup(h: int, w: int, max_radius: float, settings: BokehSettings) -> tuple[int, int]:
    """(base level for all blurred layers, deepest level), limited by the image size."""
    max_level = 0 if settings.full_resolution else int(math.floor(math.log2(min(h, w))))
    base = 0 if max_level == 0 else 1
    return base, _level_for(max_radius, base, max_level, settings)


def _pad(img: np.ndarray, multiple: int) -> np.ndarray:
    h, w = img.shape[:2]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph == 0 and pw == 0:
        return img
    return cv2.copyMakeBorder(img, 0, ph, 0, pw, cv2.BORDER_REFLECT)


def _blur_layer(layer: np.ndarray, radius: float, from_level: int, level: int, settings: BokehSettings) -> np.ndarray:
    """Blur a premultiplied layer given at ``from_level``; result at ``level``."""
    small = _down(layer, level - from_level)
    # only a very thin image can leave a huge radius at its deepest level: cap the kernel's cost there
    kernel_radius = min(radius / 2**level, _MAX_KERNEL_RADIUS)
    kernel = disc_kernel(kernel_radius, settings.aperture_blades, settings.aperture_rotation_deg)
    return _filter(small, kernel)


def _over(top: np.ndarray, below: np.ndarray) -> np.ndarray:
    """``top`` over ``below``: premultiplied RGBA in channels 0-3, the occluder in channel 4."""
    keep = 1.0 - np.minimum(cv2.extractChannel(top, 4), np.float32(1.0))
    return cv2.add(top, cv2.multiply(below, cv2.merge([keep] * 5)))


def _layer_span(mins: np.ndarray, maxs: np.ndarray, layer: int, margin: int, step: int) -> tuple[int, int] | None:
    """Rows (or columns) where ``layer`` may have weight, grown by ``margin``, aligned to ``step``."""
    hit = np.flatnonzero((mins <= layer) & (maxs >= layer - 1))
    if hit.size == 0:
        return None
    start = max(0, int(hit[0]) - margin) // step * step
    stop = min(mins.size, -(-(int(hit[-1]) + 1 + margin) // step) * step)
    return start, stop


class _Pyramid:
    """The blurred share of the image at each pyramid level from the base level down.

    Level images are 5-channel: premultiplied RGBA and, in channel 4, alpha again (the occluder
    source); with each level its signed layer coordinate g (from the premultiplied CoC, so sharp
    and protected pixels never pull a block's depth) and, per side, row/column layer ranges.
    """

    def __init__(self, stacked: np.ndarray, base: int, deepest: int, g_max: float, last_regular: int,
                 settings: BokehSettings):
        self._raw = {base: stacked}  # channel 4 = premultiplied CoC (until the level is made ready)
        self.deepest = deepest
        self._ready: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._spans: dict[tuple[int, bool], tuple[np.ndarray, ...] | None] = {}
        self._sides: dict[tuple[int, bool], np.ndarray] = {}
        self.g_max, self.last_regular, self.settings = g_max, last_regular, settings

    def at(self, level: int) -> tuple[np.ndarray, np.ndarray]:
        if level not in self._ready:
            if level not in self._raw:
                self._raw[level] = _down(self._raw[max(k for k in self._raw if k < level)],
                                         level - max(k for k in self._raw if k < level))
            raw = self._raw[level]
            if level < self.deepest and level + 1 not in self._raw:
                self._raw[level + 1] = _down(raw, 1)  # while channel 4 still holds the CoC
            alpha = raw[..., 3]
            coc = raw[..., 4] / np.maximum(alpha, np.float32(_EPS))
            g_abs = _layer_coordinate(np.abs(coc), self.settings)
            # blurred content belongs to layer >= 1: the sharp layer is drawn at full size
            g_abs = _stretch_top(np.clip(g_abs, 1.0, self.g_max), self.g_max, self.last_regular)
            g_abs[alpha < 1e-4] = 0.0  # no blurred content here: in no layer
            g = np.copysign(g_abs, coc).astype(np.float32)
            raw[..., 4] = alpha  # in place: the occluder source from now on
            self._ready[level] = (raw, g)
        return self._ready[level]

    def side(self, level: int, front: bool) -> np.ndarray:
        """|g| of one side's content (0 on the other side)."""
        key = (level, front)
        if key not in self._sides:
            g = self.at(level)[1]
            self._sides[key] = np.maximum(-g, 0.0) if front else np.maximum(g, 0.0)
        return self._sides[key]

    def spans(self, level: int, front: bool, side_g: np.ndarray) -> tuple[np.ndarray, ...] | None:
        """Per row and per column: the lowest and highest layer pair index present."""
        key = (level, front)
        if key not in self._spans:
            present = side_g >= 1.0
            if not present.any():
                self._spans[key] = None
            else:
                low = np.floor(side_g).astype(np.int32)
                big = np.int32(1 << 20)
                low_min, low_max = np.where(present, low, big), np.where(present, low, -big)
                self._spans[key] = (low_min.min(axis=1), low_max.max(axis=1),
                                    low_min.min(axis=0), low_max.max(axis=0))
        return self._spans[key]


def _stack(pyramid: _Pyramid, layers: list[int], radii: np.ndarray, base: int, deepest: int, front: bool,
           settings: BokehSettings) -> np.ndarray | None:
    """Blur and composite one side's layers in the given order (far to near); result at base level.

    A pixel at |g| between layers k and k + 1 gives them (k + 1 - |g|) and (|g| - k) of its colour
    (so the blur changes smoothly with the CoC); it occludes what lies behind it once, in the first
    of its two layers to be drawn, so a pixel split between two layers never hides half of itself.
    A layer is weighted at the pyramid level it is blurred at, over the rows and columns it covers.
    """
    acc: np.ndarray | None = None
    acc_level = base
    for layer in layers:
        radius = float(radii[layer])
        level = _level_for(radius, base, deepest, settings)
        image, _ = pyramid.at(level)
        side_g = pyramid.side(level, front)
        spans = pyramid.spans(level, front, side_g)
        if spans is None:
            continue
        margin = int(math.ceil(radius / 2**level)) + 2
        rows = _layer_span(spans[0], spans[1], layer, margin, 1)
        cols = _layer_span(spans[2], spans[3], layer, margin, 1)
        if rows is None or cols is None:
            continue
        g_roi = side_g[rows[0]:rows[1], cols[0]:cols[1]]
        weight = 1.0 - np.abs(g_roi - np.float32(layer))
        np.maximum(weight, 0.0, out=weight)
        if not weight.any():
            continue
        if front:  # drawn nearest last: a pixel in [k, k+1) occludes in layer k
            own = (g_roi >= layer) & (g_roi < layer + 1)
        else:  # drawn farthest first: a pixel in (k-1, k] occludes in layer k
            own = (g_roi > layer - 1) & (g_roi <= layer)
        weights = cv2.merge([weight, weight, weight, weight, own.astype(np.float32)])
        layer_img = cv2.multiply(image[rows[0]:rows[1], cols[0]:cols[1]], weights)
        blurred = _blur_layer(layer_img, radius, level, level, settings)
        if acc is None:
            acc_level = level
            acc = np.zeros(image.shape, np.float32)
        elif acc_level > level:
            acc = _up(acc, acc_level - level)
            acc_level = level
        f = level - acc_level
        blurred = _up(blurred, f)
        region = (slice(rows[0] << f, rows[1] << f), slice(cols[0] << f, cols[1] << f))
        acc[region] = _over(blurred, acc[region])
    if acc is None:
        return None
    return _up(acc, acc_level - base)  # channels 0-3 premultiplied RGBA (4: the last occluder)


_STRIP_ROWS = 128  # full-resolution passes run over strips of rows: bounded memory, cache friendly


def _reflect_rows(arr: np.ndarray, y0: int, y1: int) -> np.ndarray:
    """Rows y0..y1 of ``arr`` with rows past its end mirrored (OpenCV's BORDER_REFLECT)."""
    h = arr.shape[0]
    if y1 <= h:
        return arr[y0:y1]
    period = np.arange(y0, y1) % (2 * h)
    return arr[np.where(period < h, period, 2 * h - 1 - period)]


def _strip(arr: np.ndarray, y0: int, y1: int, width: int) -> np.ndarray:
    """A padded strip of rows of ``arr`` (reflected past the bottom and right edges)."""
    rows = _reflect_rows(arr, y0, y1)
    if rows.shape[1] < width:
        rows = cv2.copyMakeBorder(np.ascontiguousarray(rows), 0, 0, 0, width - rows.shape[1], cv2.BORDER_REFLECT)
        if arr.ndim == 3 and rows.ndim == 2:
            rows = rows[..., None]
    return rows


def _clean(rows: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """float32 copy clipped to [lo, hi], NaN -> 0."""
    out = np.clip(rows.astype(np.float32, copy=False), lo, hi)
    return cv2.patchNaNs(out, 0.0) if out.size > 1 else np.nan_to_num(out)


def _base_level_image(padded_h: int, padded_w: int, base: int, make_strip) -> np.ndarray:
    """Assemble the base-level image from full-resolution strips, each area-downsampled on its own."""
    step = max(1 << base, (_STRIP_ROWS >> base) << base)
    out: np.ndarray | None = None
    for y0 in range(0, padded_h, step):
        y1 = min(padded_h, y0 + step)
        block = _down(make_strip(y0, y1), base)
        if out is None:
            out = np.empty((padded_h >> base, padded_w >> base) + block.shape[2:], np.float32)
        out[y0 >> base:y1 >> base] = block
    assert out is not None
    return out


def _up_rows(img: np.ndarray, levels: int, y0: int, y1: int, width: int) -> np.ndarray:
    """Rows y0..y1 (first ``width`` columns) of ``_up(img, levels)``, computed from a band of img."""
    if levels == 0:
        return img[y0:y1, :width]
    f = 1 << levels
    s0, s1 = max(0, y0 // f - 1), min(img.shape[0], -(-y1 // f) + 1)
    band = _up(np.ascontiguousarray(img[s0:s1]), levels)
    return band[y0 - s0 * f:y1 - s0 * f, :width]


def _validated(name: str, arr: np.ndarray | None, shape: tuple[int, int]) -> np.ndarray | None:
    if arr is None:
        return None
    arr = np.asarray(arr)
    if arr.shape != shape:
        raise InputError(f"{name} must have shape {shape}, got {arr.shape}")
    if arr.dtype == np.bool_:
        return arr.astype(np.float32)
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise InputError(f"{name} must be numeric, got {arr.dtype}")
    return arr


def _extremes(arr: np.ndarray) -> tuple[float, float]:
    """(min, max) ignoring NaN, clipped to +-1e6; (0, 0) for an all-NaN map."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        lo, hi = float(np.nanmin(arr)), float(np.nanmax(arr))
    if math.isnan(lo) or math.isnan(hi):
        return 0.0, 0.0
    return max(lo, -1e6), min(hi, 1e6)


def render_bokeh(
    rgb: np.ndarray,
    coc: np.ndarray,
    protect: np.ndarray | None = None,
    settings: BokehSettings = BokehSettings(),
) -> np.ndarray:
    """Blur ``rgb`` by the signed CoC map (pixels), keep ``protect`` sharp; returns uint8 HxWx3."""
    original, unit = _as_image(rgb)
    h, w = original.shape[:2]
    coc_in = _validated("coc", coc, (h, w))
    protect_in = _validated("protect", protect, (h, w))
    coc_min, coc_max = _extremes(coc_in)
    max_radius = min(max(-coc_min, coc_max), math.hypot(h, w))  # more than the diagonal changes nothing
    if max_radius < 0.5:
        return original.copy()
    tone = _Tone(settings)
    radii, g_max, last_regular = _plan_layers(max_radius, settings)
    top = len(radii) - 1
    base, deepest = _levels_setup(h, w, max_radius, settings)
    multiple = 1 << deepest
    padded_h, padded_w = -(-h // multiple) * multiple, -(-w // multiple) * multiple
    inverse_first = np.float32(1.0 / radii[1])
    source = original if unit is None else unit

    def blurred_share(coc_rows: np.ndarray) -> np.ndarray:
        """Share of each pixel that is blurred at all (the rest is the sharp layer: the input)."""
        return np.minimum(np.abs(coc_rows) * inverse_first, np.float32(1.0))

    def premultiplied(y0: int, y1: int) -> np.ndarray:
        """Premultiplied colour, alpha and CoC of the blurred share of padded rows y0..y1."""
        coc_rows = _clean(_strip(coc_in, y0, y1, padded_w), -1e6, 1e6)
        feed = blurred_share(coc_rows)
        if protect_in is not None:
            feed = cv2.multiply(_feed(_clean(_strip(protect_in, y0, y1, padded_w), 0.0, 1.0), settings), feed)
        rows = _strip(source, y0, y1, padded_w)
        colour = cv2.multiply(tone.rgb(rows), cv2.merge([feed, feed, feed]))
        return cv2.merge([colour, feed, cv2.multiply(coc_rows, feed)])

    pyramid = _Pyramid(_base_level_image(padded_h, padded_w, base, premultiplied), base, deepest, g_max,
                       last_regular, settings)
    order = list(range(top, 0, -1))  # far to near behind the focus plane
    back = _stack(pyramid, order, radii, base, deepest, False, settings)
    front = None
    if coc_min <= -0.5:  # in front of the focus plane: nearest layer last
        front = _stack(pyramid, order[::-1], radii, base, deepest, True, settings)
    if back is None and front is None:
        return original.copy()

    del pyramid

    def display_rows(acc: np.ndarray, y0: int, y1: int) -> np.ndarray:
        """Output rows y0..y1 of a normalised layer stack, in display uint8."""
        f = 1 << base
        s0, s1 = max(0, y0 // f - 1), min(acc.shape[0], -(-y1 // f) + 1)
        band = np.ascontiguousarray(acc[s0:s1, :, :4])
        fallback = None  # the input's own colour, needed only where no layer reaches
        if float(band[..., 3].min()) < 1e-3:
            fallback = tone.rgba(_down(_strip(original, s0 * f, s1 * f, padded_w), base))
        band = tone.to_display_u8(_normalise(band, fallback))
        return _up_rows(band, base, y0 - s0 * f, y1 - s0 * f, w)

    front_alpha = None if front is None else np.minimum(cv2.extractChannel(front, 3), np.float32(1.0))
    out = np.empty_like(original)
    for y0 in range(0, h, _STRIP_ROWS):
        y1 = min(h, y0 + _STRIP_ROWS)
        orig_rows = original[y0:y1]
        keep = 1.0 - blurred_share(_clean(coc_in[y0:y1], -1e6, 1e6))  # sharp-layer alpha
        p_rows = None if protect_in is None else _clean(protect_in[y0:y1], 0.0, 1.0)
        if p_rows is not None and front is None:
            keep = p_rows + keep - p_rows * keep
        rows = orig_rows if back is None else _blend(orig_rows, display_rows(back, y0, y1), keep)
        if front is not None and front_alpha is not None:
            rows = _blend(display_rows(front, y0, y1), rows, _up_rows(front_alpha, base, y0, y1, w))
            if p_rows is not None:
                rows = _blend(orig_rows, rows, p_rows)
        out[y0:y1] = rows
    return out


def render_uniform(
    rgb: np.ndarray,
    radius_px: float,
    protect: np.ndarray | None,
    settings: BokehSettings = BokehSettings(),
) -> np.ndarray:
    """Two-layer fast path: the unprotected part blurred with one disc of ``radius_px``.

    For uint8 input without highlight bloom nothing at full resolution is float: strips of the
    premultiplied picture (exact uint16 products) go straight down to the blur level in one area
    resize, are blurred and normalised there in float, come back up as uint8 and are composited
    with an 8-bit alpha (exactly the input where ``protect`` is 1). Float input, highlight bloom
    and ``full_resolution`` take the float path.
    """
    original, unit = _as_image(rgb)
    h, w = original.shape[:2]
    protect_in = _validated("protect", protect, (h, w))
    if not radius_px >= 0:
        raise UsageError(f"blur radius must be >= 0, got {radius_px}")
    if radius_px < 0.5:
        return original.copy()
    radius_px = min(float(radius_px), math.hypot(h, w))  # more than the diagonal changes nothing
    if unit is not None or settings.highlight_bloom or settings.full_resolution:
        return _uniform_float(original, unit, float(radius_px), protect_in, settings)
    _, level = _levels_setup(h, w, float(radius_px), settings)
    prem, own = _uniform_shrunk(original, protect_in, level, settings)
    kernel_radius = min(float(radius_px) / 2**level, _MAX_KERNEL_RADIUS)
    kernel = disc_kernel(kernel_radius, settings.aperture_blades, settings.aperture_rotation_deg)
    colour = cv2.convertScaleAbs(_normalise(_filter(prem, kernel), own), alpha=255.0)
    out = np.empty_like(original)
    for y0 in range(0, h, _STRIP_ROWS):
        y1 = min(h, y0 + _STRIP_ROWS)
        rows = _up_rows(colour, level, y0, y1, w)
        if protect_in is None:
            out[y0:y1] = rows
        else:
            _uniform_composite(original[y0:y1], rows, _clean(protect_in[y0:y1], 0.0, 1.0), out[y0:y1])
    return out


def _uniform_shrunk(original: np.ndarray, protect: np.ndarray | None, level: int,
                    settings: BokehSettings) -> tuple[np.ndarray, np.ndarray]:
    """(premultiplied RGBA, own RGBA) float32 in [0, 1] at 1 / 2**level of the padded size.

    Built strip by strip: a pixel feeds with 255 * clip(1 - protect / exclusion, 0, 1) (uint8),
    its colour times that weight is exact in uint16 (a small weight keeps its colour), and the
    area resize averages colour and weight alike. ``own`` (the colour where no unprotected pixel is
    within reach of the disc) is a plain sample of the picture.
    """
    h, w = original.shape[:2]
    f = 1 << level
    padded_h, padded_w = -(-h // f) * f, -(-w // f) * f
    step = max(f, (_STRIP_ROWS // f) * f)
    small_size = (padded_h // f, padded_w // f)
    prem = np.empty(small_size + (4,), np.uint8 if protect is None else np.uint16)
    own = np.empty(small_size + (3,), np.uint8)
    for y0 in range(0, padded_h, step):
        y1 = min(padded_h, y0 + step)
        rows = _strip(original, y0, y1, padded_w)
        rgba = cv2.cvtColor(np.ascontiguousarray(rows), cv2.COLOR_RGB2RGBA)
        if protect is not None:
            p = _clean(_strip(protect, y0, y1, padded_w), 0.0, 1.0)
            feed = cv2.addWeighted(p, -255.0 / settings.protect_exclusion, p, 0.0, 255.0, dtype=cv2.CV_8U)
            rgba = cv2.multiply(rgba, cv2.merge([feed] * 4), dtype=cv2.CV_16U)
        band = slice(y0 // f, y1 // f)
        prem[band] = rgba if f == 1 else cv2.resize(rgba, (padded_w // f, (y1 - y0) // f),
                                                    interpolation=cv2.INTER_AREA)
        own[band] = rows[f // 2::f, f // 2::f]
    full = 255.0 if protect is None else 255.0 * 255.0
    own_rgba = cv2.cvtColor(own, cv2.COLOR_RGB2RGBA).astype(np.float32) * np.float32(1.0 / 255.0)
    return prem.astype(np.float32) * np.float32(1.0 / full), own_rgba


def _uniform_composite(original: np.ndarray, blurred: np.ndarray, protect: np.ndarray, out: np.ndarray) -> None:
    """out = protect * original + (1 - protect) * blurred with an 8-bit alpha; exactly ``original`` at 1."""
    alpha = cv2.merge([cv2.convertScaleAbs(protect, alpha=255.0)] * 3)  # rounds: protect == 1 -> 255
    kept = cv2.multiply(original, alpha, scale=1.0 / 255.0)
    cv2.add(kept, cv2.multiply(blurred, cv2.bitwise_not(alpha), scale=1.0 / 255.0), dst=out)


def _uniform_float(original: np.ndarray, unit: np.ndarray | None, radius_px: float, protect_in: np.ndarray | None,
                   settings: BokehSettings) -> np.ndarray:
    """The float uniform path (float input, highlight bloom, ``full_resolution``), in strips of rows."""
    h, w = original.shape[:2]
    tone = _Tone(settings)
    _, level = _levels_setup(h, w, float(radius_px), settings)
    multiple = 1 << level
    padded_h, padded_w = -(-h // multiple) * multiple, -(-w // multiple) * multiple
    source = original if unit is None else unit

    def premultiplied(y0: int, y1: int) -> np.ndarray:
        rows = _strip(source, y0, y1, padded_w)
        work = tone.rgb(rows)
        if protect_in is None:
            return cv2.cvtColor(work, cv2.COLOR_RGB2RGBA)
        feed = _feed(_clean(_strip(protect_in, y0, y1, padded_w), 0.0, 1.0), settings)
        return cv2.merge([cv2.multiply(work, cv2.merge([feed, feed, feed])), feed])

    # the premultiplied image goes straight from full-resolution strips to the blur's level
    blurred = _blur_layer(_base_level_image(padded_h, padded_w, level, premultiplied), float(radius_px), level,
                          level, settings)
    fallback = tone.rgba(_down(_pad(original, multiple), level))
    blurred_u8 = tone.to_display_u8(_normalise(blurred, fallback))
    out = np.empty_like(original)
    for y0 in range(0, h, _STRIP_ROWS):
        y1 = min(h, y0 + _STRIP_ROWS)
        rows = _up_rows(blurred_u8, level, y0, y1, w)
        if protect_in is None:
            out[y0:y1] = rows
        else:
            out[y0:y1] = _blend(original[y0:y1], rows, _clean(protect_in[y0:y1], 0.0, 1.0))
    return out
