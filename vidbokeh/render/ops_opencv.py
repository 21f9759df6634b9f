"""The array operations on numpy arrays with OpenCV's routines (the CPU backend).

These are the exact calls the renderer has always made, so its output is unchanged; OpenCV's own
threads do the parallel work inside each call.
"""
from __future__ import annotations

import warnings
from functools import lru_cache
from typing import Sequence

import cv2
import numpy as np

from .ops import ArrayOps

__all__ = ["OpenCVOps", "OPENCV", "reflect_indices"]


def reflect_indices(start: int, stop: int, size: int) -> np.ndarray:
    """Indices start..stop into an axis of ``size`` mirrored past both ends (BORDER_REFLECT)."""
    period = np.arange(start, stop) % (2 * size)
    return np.where(period < size, period, 2 * size - 1 - period)


_BORDERS = {"reflect": cv2.BORDER_REFLECT, "replicate": cv2.BORDER_REPLICATE}


@lru_cache(maxsize=4)
def _pixel_grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Each pixel's column and row as float32 maps (shared, read-only)."""
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    gx.flags.writeable = gy.flags.writeable = False
    return gx, gy


def _channels_like(weight: np.ndarray, channels: int) -> np.ndarray:
    return weight if weight.ndim == 3 else cv2.merge([weight] * channels)


def _channels(x: np.ndarray) -> int:
    return 1 if x.ndim == 2 else x.shape[2]


class OpenCVOps(ArrayOps):
    name = "opencv"
    strip_rows = 128  # cache friendly for OpenCV's row loops

    # ---------------------------------------------------------------- data in and out
    def upload(self, arr):
        return np.asarray(arr)

    def download(self, x):
        return np.asarray(x)

    def owns(self, x) -> bool:
        return isinstance(x, np.ndarray)

    def is_u8(self, x) -> bool:
        return x.dtype == np.uint8

    def zeros(self, shape):
        return np.zeros(shape, np.float32)

    def copy(self, x):
        return x.copy()

    def empty_like(self, x):
        return np.empty_like(x)

    def concat_rows(self, parts: Sequence[np.ndarray]):
        return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=0)

    def merge(self, parts: Sequence[np.ndarray]):
        return cv2.merge(list(parts))

    def window(self, x, y0, y1, x0, x1):
        h, w = x.shape[:2]
        if y0 >= 0 and y1 <= h:
            rows = x[y0:y1]
        else:
            rows = x[reflect_indices(y0, y1, h)]
        if x0 >= 0 and x1 <= w:
            return rows[:, x0:x1]
        if x0 == 0:  # past the right edge only: OpenCV's border copy
            out = cv2.copyMakeBorder(np.ascontiguousarray(rows[:, :w]), 0, 0, 0, x1 - w, cv2.BORDER_REFLECT)
            return out[..., None] if x.ndim == 3 and out.ndim == 2 else out
        return rows[:, reflect_indices(x0, x1, w)]

    def contiguous(self, x):
        return np.ascontiguousarray(x)

    def float32(self, x):
        return np.asarray(x, dtype=np.float32)

    # ---------------------------------------------------------------- geometry
    def downsample(self, x, factor):
        if factor == 1:
            return x
        h, w = x.shape[:2]
        return cv2.resize(x, (w // factor, h // factor), interpolation=cv2.INTER_AREA)

    def upsample(self, x, factor):
        if factor == 1:
            return x
        h, w = x.shape[:2]
        return cv2.resize(x, (w * factor, h * factor), interpolation=cv2.INTER_LINEAR)

    def resize(self, x, size, mode):
        return cv2.resize(x, size, interpolation=cv2.INTER_AREA if mode == "area" else cv2.INTER_LINEAR)

    # ---------------------------------------------------------------- filtering
    def filter2d(self, x, kernel):
        h, w = x.shape[:2]
        half = kernel.shape[0] // 2
        if half == 0:
            return x
        if half < h and half < w:
            return cv2.filter2D(x, -1, kernel, borderType=cv2.BORDER_REFLECT)
        pads = ((half, half), (half, half)) + ((0, 0),) * (x.ndim - 2)
        padded = np.pad(x, pads, mode="symmetric")
        out = cv2.filter2D(padded, -1, kernel, borderType=cv2.BORDER_REPLICATE)
        return out[half:half + h, half:half + w]

    def box_filter(self, x, ksize, border="reflect"):
        return cv2.boxFilter(x, -1, (ksize, ksize), borderType=_BORDERS[border])

    def dilate(self, mask, radius):
        if radius <= 0:
            return mask
        disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
        return cv2.dilate(mask, disc)

    def displace(self, x, flow):
        h, w = x.shape[:2]
        gx, gy = _pixel_grid(h, w)
        return cv2.remap(x, gx + flow[..., 0], gy + flow[..., 1], interpolation=cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_REPLICATE)

    # ---------------------------------------------------------------- colour and 8-bit pixels
    def lut(self, x, table):
        table = np.asarray(table, np.float32)
        return cv2.LUT(x, table.reshape((1, 256) + table.shape[1:]))

    def luma(self, x):
        return cv2.cvtColor(x, cv2.COLOR_RGB2GRAY)

    def add_alpha(self, x):
        return cv2.cvtColor(np.ascontiguousarray(x), cv2.COLOR_RGB2RGBA)

    def drop_alpha(self, x):
        return cv2.cvtColor(np.ascontiguousarray(x), cv2.COLOR_RGBA2RGB)

    def to_u8(self, x, scale=1.0, offset=0.0):
        x = np.ascontiguousarray(x)
        if offset == 0.0:
            return cv2.convertScaleAbs(x, alpha=scale)  # |x * scale|: callers pass x >= 0
        return cv2.addWeighted(x, scale, x, 0.0, offset, dtype=cv2.CV_8U)

    def blend_u8(self, a, b, weight):
        # an 8-bit alpha composite, exact where the weight is 1 (its speed: docs/benchmarks.md)
        alpha = cv2.convertScaleAbs(np.ascontiguousarray(weight, dtype=np.float32), alpha=255.0)
        alpha = cv2.merge([alpha] * _channels(a))
        kept = cv2.multiply(a, alpha, scale=1.0 / 255.0)
        return cv2.add(kept, cv2.multiply(b, cv2.bitwise_not(alpha), scale=1.0 / 255.0))

    def mul_u16(self, x, weight):
        return cv2.multiply(x, _channels_like(weight, _channels(x)), dtype=cv2.CV_16U)

    def scale_channels(self, x, weight):
        return cv2.multiply(x, _channels_like(weight, _channels(x)))

    def divide_channels(self, x, divisor):
        return cv2.divide(x, _channels_like(divisor, _channels(x)))

    # ---------------------------------------------------------------- elementwise
    def as_float(self, x):
        return x.astype(np.float32)

    def clean(self, x, lo, hi):
        out = np.clip(x.astype(np.float32, copy=False), lo, hi)
        return cv2.patchNaNs(out, 0.0) if out.size > 1 else np.nan_to_num(out)

    def minimum(self, x, y):
        return np.minimum(x, y)

    def maximum(self, x, y):
        return np.maximum(x, y)

    def clip(self, x, lo, hi):
        return np.clip(x, lo, hi)

    def abs(self, x):
        return np.abs(x)

    def sqrt(self, x):
        return np.sqrt(x)

    def log(self, x):
        return np.log(x)

    def power(self, x, exponent):
        return np.power(x, exponent)

    def floor(self, x):
        return np.floor(x)

    def finite(self, x):
        return np.isfinite(x)

    def where(self, condition, x, y):
        return np.where(condition, x, y).astype(np.float32, copy=False)

    def copysign(self, magnitude, sign):
        return np.copysign(magnitude, sign).astype(np.float32, copy=False)

    def ramp(self, x, origin, scale, lo=None, hi=None):
        out = np.subtract(x, np.float32(origin), dtype=np.float32)  # worked on in place: one full-size array
        out *= np.float32(scale)
        if lo is not None or hi is not None:
            np.clip(out, lo, hi, out=out)
        return out

    # ---------------------------------------------------------------- reductions
    def extremes(self, x):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return float(np.nanmin(x)), float(np.nanmax(x))

    def min_value(self, x):
        return float(x.min())

    def any(self, x):
        return bool(x.any())

    def count(self, mask):
        return int(np.count_nonzero(mask))

    def median(self, x, where=None):
        values = x if where is None else x[where]
        return float(np.median(values)) if values.size else float("nan")

    def percentiles(self, x, q):
        values = x[np.isfinite(x)]
        if values.size == 0:
            return None
        return list(np.percentile(values, list(q)))  # numpy scalars: the arithmetic on them stays numpy's

    def take(self, x, index):
        return x.reshape(-1)[index].astype(np.float32, copy=False)

    def histogram_u8(self, x):
        return np.bincount(np.asarray(x, np.uint8).reshape(-1), minlength=256).astype(np.int64)

    def axis_min(self, x, axis):
        return x.min(axis=axis)

    def axis_max(self, x, axis):
        return x.max(axis=axis)


OPENCV = OpenCVOps()
