"""The array operations on torch tensors, on any device (CPU for tests, CUDA or MPS for speed).

Images are H x W x C tensors (channels last, as on numpy); routines that want N x C x H x W see the
same memory through a permuted view (``channels_last``), so no layout copies are made. Float
values are float32; the exact uint16 products of ``mul_u16`` are held in int32. Integer results
of ``downsample`` and ``upsample`` round half up, as OpenCV's fixed-point paths do.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from contextlib import contextmanager
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from vidbokeh.errors import DeviceMemoryError

from .ops import ArrayOps
from .ops_opencv import reflect_indices

__all__ = ["TorchOps", "torch_ops"]


def _nchw(x: torch.Tensor) -> torch.Tensor:
    return x[None, None] if x.ndim == 2 else x.permute(2, 0, 1)[None]


def _hwc(y: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return y[0, 0] if like.ndim == 2 else y[0].permute(1, 2, 0)


def _channels(x: torch.Tensor) -> int:
    return 1 if x.ndim == 2 else x.shape[2]


def _per_channel(weight: torch.Tensor) -> torch.Tensor:
    return weight[..., None] if weight.ndim == 2 else weight


def _area_weights(size: int, out: int) -> np.ndarray:
    """out x size matrix: the share of each input pixel in each output pixel of an area shrink."""
    scale = size / out
    edges = np.arange(out + 1) * scale
    starts, stops = edges[:-1, None], edges[1:, None]
    pixels = np.arange(size)[None, :]
    overlap = np.clip(np.minimum(stops, pixels + 1) - np.maximum(starts, pixels), 0.0, None)
    return (overlap / scale).astype(np.float32)


class TorchOps(ArrayOps):
    name = "torch"

    def __init__(self, device: str | torch.device = "cpu"):
        self.device = torch.device(device)
        # one pass covers a 2160p frame in a few strips on a GPU; smaller on a CPU (cache)
        self.strip_rows = 128 if self.device.type == "cpu" else 2048
        self._consts: OrderedDict = OrderedDict()  # host kernels and tables, uploaded once
        self._lock = threading.Lock()

    def _const(self, host: np.ndarray, channels: int = 0) -> torch.Tensor:
        def make() -> torch.Tensor:
            t = torch.from_numpy(np.array(host, np.float32)).to(self.device)
            if channels:  # a depthwise convolution weight: C x 1 x k x k
                t = t[None, None].expand(channels, 1, *host.shape).contiguous()
            return t

        return self._cached((host.shape, host.tobytes(), channels), make)

    def _index(self, host: np.ndarray) -> torch.Tensor:
        """A host index array on the device, uploaded once (the smoother's samples are the same every frame)."""
        return self._cached(("index", host.shape, host.tobytes()),
                            lambda: torch.from_numpy(np.array(host, np.int64)).to(self.device))

    def _cached(self, key: tuple, make) -> torch.Tensor:
        """Host kernels, tables and indices uploaded once: a bounded cache, not one upload per call."""
        with self._lock:
            hit = self._consts.get(key)
            if hit is not None:
                self._consts.move_to_end(key)
                return hit
        t = make()
        with self._lock:
            self._consts[key] = t
            while len(self._consts) > 256:
                self._consts.popitem(last=False)
        return t

    # ---------------------------------------------------------------- data in and out
    def upload(self, arr):
        if isinstance(arr, torch.Tensor):
            t = arr.to(self.device)
        else:
            arr = np.asarray(arr)
            if arr.dtype != np.uint8:
                arr = arr.astype(np.float32)
            arr = np.ascontiguousarray(arr)
            if not arr.flags.writeable:  # torch.from_numpy wants memory it could write (it never does here)
                arr = arr.copy()
            t = torch.from_numpy(arr).to(self.device)
        if t.dtype not in (torch.uint8, torch.float32):
            t = t.to(torch.float32)
        return t

    def download(self, x):
        return x.detach().cpu().numpy()

    def owns(self, x) -> bool:
        return isinstance(x, torch.Tensor)

    def is_u8(self, x) -> bool:
        return x.dtype == torch.uint8

    def zeros(self, shape):
        return torch.zeros(shape, dtype=torch.float32, device=self.device)

    def copy(self, x):
        return x.clone()

    def empty_like(self, x):
        return torch.empty_like(x)

    def concat_rows(self, parts: Sequence[torch.Tensor]):
        return parts[0] if len(parts) == 1 else torch.cat(list(parts), dim=0)

    def merge(self, parts: Sequence[torch.Tensor]):
        return torch.cat([p[..., None] if p.ndim == 2 else p for p in parts], dim=-1)

    def window(self, x, y0, y1, x0, x1, border: str = "reflect"):
        h, w = x.shape[:2]
        rows = x[y0:y1] if y0 >= 0 and y1 <= h else x.index_select(0, self._indices(y0, y1, h, border))
        if x0 >= 0 and x1 <= w:
            return rows[:, x0:x1]
        return rows.index_select(1, self._indices(x0, x1, w, border))

    def _indices(self, start: int, stop: int, size: int, border: str = "reflect") -> torch.Tensor:
        clamped = border == "replicate"
        host = np.clip(np.arange(start, stop), 0, size - 1) if clamped else reflect_indices(start, stop, size)
        return torch.from_numpy(host).to(self.device)

    def contiguous(self, x):
        return x.contiguous()

    def float32(self, x):
        return x if x.dtype == torch.float32 else x.to(torch.float32)

    # ---------------------------------------------------------------- geometry
    def downsample(self, x, factor):
        if factor == 1:
            return x
        y = _hwc(F.avg_pool2d(_nchw(x.to(torch.float32)), factor), x)
        return y if x.dtype == torch.float32 else torch.floor(y + 0.5).to(x.dtype)

    def upsample(self, x, factor):
        if factor == 1:
            return x
        h, w = x.shape[:2]
        y = F.interpolate(_nchw(x.to(torch.float32)), size=(h * factor, w * factor), mode="bilinear",
                          align_corners=False)
        y = _hwc(y, x)
        if x.dtype == torch.float32:
            return y
        return torch.floor(y + 0.5).clamp_(0, 255 if x.dtype == torch.uint8 else 2**31 - 1).to(x.dtype)

    def resize(self, x, size, mode):
        width, height = size
        h, w = x.shape[:2]
        if (width, height) == (w, h):
            return x
        if mode == "area" and h % height == 0 and w % width == 0 and h // height == w // width:
            return self.downsample(x, h // height)
        if mode == "area" and height <= h and width <= w:  # exact pixel-area weights, one matrix per axis
            rows, cols = self._const(_area_weights(h, height)), self._const(_area_weights(w, width))
            y = torch.einsum("ih,hwc,jw->ijc", rows, x.to(torch.float32).reshape(h, w, -1), cols)
            y = y.reshape((height, width) + tuple(x.shape[2:]))
        else:
            y = _hwc(F.interpolate(_nchw(x.to(torch.float32)), size=(height, width), mode="bilinear",
                                   align_corners=False), x)
        return y if x.dtype == torch.float32 else torch.floor(y + 0.5).clamp_(0, 255).to(x.dtype)

    # ---------------------------------------------------------------- filtering
    def filter2d(self, x, kernel):
        k = kernel.shape[0]
        half = k // 2
        if half == 0:
            return x
        h, w = x.shape[:2]
        padded = self.window(x, -half, h + half, -half, w + half)
        c = _channels(x)
        y = F.conv2d(_nchw(padded), self._const(np.asarray(kernel), c), groups=c)
        return _hwc(y, x)

    def box_filter(self, x, ksize, border="reflect"):
        half, (h, w) = ksize // 2, x.shape[:2]
        padded = _nchw(self.window(x, -half, h + half, -half, w + half, border))
        # separable: a row mean then a column mean (2k adds per pixel, not k * k)
        return _hwc(F.avg_pool2d(F.avg_pool2d(padded, (1, ksize), stride=1), (ksize, 1), stride=1), x)

    def dilate(self, mask, radius):
        if radius <= 0:
            return mask
        import cv2

        disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
        h, w = mask.shape[:2]
        lowest = torch.finfo(torch.float32).min
        src = _nchw(mask.to(torch.float32))
        src = F.pad(src, (radius, radius, radius, radius), value=lowest)
        out = None
        for dy in range(2 * radius + 1):  # each row of the disc: a horizontal max over its run
            run = np.flatnonzero(disc[dy])
            if run.size == 0:
                continue
            lo, hi = int(run[0]), int(run[-1])
            rows = src[:, :, dy:dy + h, lo:lo + w + hi - lo]
            part = F.max_pool2d(rows, (1, hi - lo + 1), stride=1)
            out = part if out is None else torch.maximum(out, part)
        return _hwc(out, mask).to(mask.dtype)

    def displace(self, x, flow):
        h, w = x.shape[:2]
        # grid_sample's coordinates: -1 and 1 are the centres of the first and last pixels (align_corners)
        step_x, step_y = 2.0 / max(w - 1, 1), 2.0 / max(h - 1, 1)
        cols = torch.arange(w, dtype=torch.float32, device=self.device) * step_x - 1.0
        rows = torch.arange(h, dtype=torch.float32, device=self.device) * step_y - 1.0
        grid = torch.stack([cols[None, :] + flow[..., 0] * step_x, rows[:, None] + flow[..., 1] * step_y], dim=-1)
        y = F.grid_sample(_nchw(x.to(torch.float32)), grid[None], mode="bilinear", padding_mode="border",
                          align_corners=True)
        return _hwc(y, x)

    # ---------------------------------------------------------------- colour and 8-bit pixels
    def lut(self, x, table):
        t = self._const(np.asarray(table, np.float32))
        idx = x.long()
        if t.ndim == 1:
            return t[idx]
        return t[idx, torch.arange(t.shape[1], device=self.device)]

    def luma(self, x):
        rgb = x.to(torch.int32)
        y = rgb[..., 0] * 9798 + rgb[..., 1] * 19235 + rgb[..., 2] * 3735 + 16384
        return (y >> 15).to(torch.uint8)

    def add_alpha(self, x):
        opaque = torch.full(x.shape[:2] + (1,), 255 if x.dtype == torch.uint8 else 1, dtype=x.dtype,
                            device=x.device)
        return torch.cat([x, opaque], dim=-1)

    def drop_alpha(self, x):
        return x[..., :3].contiguous()

    def to_u8(self, x, scale=1.0, offset=0.0):
        y = x.to(torch.float32) * scale
        if offset:
            y = y + offset
        return torch.round(y).clamp_(0, 255).to(torch.uint8)

    def blend_u8(self, a, b, weight):
        alpha = torch.round(weight.to(torch.float32) * 255.0).clamp_(0, 255)[..., None]
        kept = torch.round(a.to(torch.float32) * alpha * (1.0 / 255.0))
        other = torch.round(b.to(torch.float32) * (255.0 - alpha) * (1.0 / 255.0))
        return (kept + other).clamp_(0, 255).to(torch.uint8)

    def mul_u16(self, x, weight):
        return x.to(torch.int32) * _per_channel(weight).to(torch.int32)

    def scale_channels(self, x, weight):
        return x * _per_channel(weight)

    def divide_channels(self, x, divisor):
        d = _per_channel(divisor)
        return torch.where(d != 0, x / d, torch.zeros((), dtype=x.dtype, device=x.device))

    # ---------------------------------------------------------------- elementwise
    def as_float(self, x):
        return x.to(torch.float32, copy=True)

    def clean(self, x, lo, hi):
        return torch.nan_to_num(x.to(torch.float32).clamp(lo, hi), nan=0.0)

    def minimum(self, x, y):
        return torch.clamp(x, max=y) if isinstance(y, (int, float)) else torch.minimum(x, y)

    def maximum(self, x, y):
        return torch.clamp(x, min=y) if isinstance(y, (int, float)) else torch.maximum(x, y)

    def clip(self, x, lo, hi):
        return torch.clamp(x, lo, hi)

    def abs(self, x):
        return torch.abs(x)

    def sqrt(self, x):
        return torch.sqrt(x)

    def log(self, x):
        return torch.log(x)

    def power(self, x, exponent):
        return torch.pow(x, exponent)

    def floor(self, x):
        return torch.floor(x)

    def finite(self, x):
        return torch.isfinite(x)

    def where(self, condition, x, y):
        return torch.where(condition, x, y)

    def copysign(self, magnitude, sign):
        return torch.copysign(magnitude, sign)

    def ramp(self, x, origin, scale, lo=None, hi=None):
        out = x.to(torch.float32) - float(np.float32(origin))
        out *= float(np.float32(scale))
        return out if lo is None and hi is None else out.clamp_(lo, hi)

    # ---------------------------------------------------------------- reductions
    def extremes(self, x):
        x = x.to(torch.float32)
        nan = torch.isnan(x)
        lo = torch.where(nan, torch.inf, x).amin()
        hi = torch.where(nan, -torch.inf, x).amax()
        lo_v, hi_v = torch.stack([lo, hi]).cpu().tolist()
        if lo_v > hi_v:  # every value NaN
            return float("nan"), float("nan")
        return float(lo_v), float(hi_v)

    def min_value(self, x):
        return float(x.amin())

    def any(self, x):
        return bool(x.any())

    def count(self, mask):
        return int(torch.count_nonzero(mask))

    def median(self, x, where=None):
        values = (x if where is None else x[where]).reshape(-1)
        n = values.numel()
        if n == 0:
            return float("nan")
        # the two middle values (kthvalue has no size limit, unlike quantile), averaged in the values' own
        # precision as numpy does
        if values.device.type == "mps":  # no kthvalue there
            ordered = torch.sort(values).values
            low, high = ordered[(n - 1) // 2], ordered[n // 2]
        else:
            low, high = values.kthvalue((n + 1) // 2).values, values.kthvalue(n // 2 + 1).values
        return float((low + high) / 2)

    def percentiles(self, x, q):
        values = x.reshape(-1).to(torch.float32)
        values = values[torch.isfinite(values)]
        if values.numel() == 0:
            return None
        precise = torch.float32 if values.device.type == "mps" else torch.float64  # MPS has no float64
        qs = torch.tensor([v / 100.0 for v in q], dtype=precise, device=values.device)
        return [float(v) for v in torch.quantile(values.to(precise), qs).cpu().tolist()]

    def take(self, x, index):
        flat = x.reshape(-1).index_select(0, self._index(np.asarray(index, np.int64)))
        return self.download(flat.to(torch.float32))  # the one transfer (counted with the others)

    def histogram_u8(self, x):
        return torch.bincount(x.reshape(-1).to(torch.int64), minlength=256).cpu().numpy().astype(np.int64)

    def axis_min(self, x, axis):
        return x.amin(dim=axis).cpu().numpy()

    def axis_max(self, x, axis):
        return x.amax(dim=axis).cpu().numpy()

    # ---------------------------------------------------------------- running
    @contextmanager
    def guard(self):
        """No autograd; a device out-of-memory error becomes one line naming what to lower."""
        try:
            with torch.inference_mode():
                yield
        except torch.OutOfMemoryError as exc:
            raise DeviceMemoryError(
                f"{self.device} ran out of memory while rendering: lower --max-blur, --depth-size or the "
                f"frame size, or use --frame-backend opencv ({str(exc).splitlines()[0][:80]})") from None


_INSTANCES: dict[str, TorchOps] = {}
_INSTANCES_LOCK = threading.Lock()


def torch_ops(device: str = "cpu") -> TorchOps:
    """The shared TorchOps of a device ('cpu', 'cuda', 'cuda:1', 'mps')."""
    key = str(torch.device(device))
    with _INSTANCES_LOCK:
        if key not in _INSTANCES:
            _INSTANCES[key] = TorchOps(key)
        return _INSTANCES[key]
