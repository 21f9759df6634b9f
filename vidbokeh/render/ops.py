"""The array operations the renderer is written over, and the choice of their implementation.

One algorithm, several backends (as Kornia writes image operations over tensors that run wherever
they live): ``render/`` (tone, plan, pyramid, composite, uniform) calls only the methods below
plus Python operators (``+ - * /`` and their in-place forms, comparisons, ``& ~``), basic slicing (``a[y0:y1, x0:x1]``,
``a[..., 3]``, ``a[::2]``), slice assignment and ``.shape``, which numpy arrays and torch tensors
share. A backend implements the methods:

- ``ops_opencv.OpenCVOps``: numpy arrays, OpenCV's routines (the CPU path, bit-exact with what the
  renderer has always produced);
- ``ops_torch.TorchOps``: torch tensors on any device (CPU for tests, CUDA or MPS for speed).

Layout: images are H x W x C (channels last), maps H x W; float images are float32. A backend may
keep them in any memory format as long as the indexing above behaves as on numpy.
"""
from __future__ import annotations

import sys
from abc import ABC, abstractmethod
from typing import Any, Sequence

import numpy as np

from vidbokeh.errors import UsageError

__all__ = ["ArrayOps", "FRAME_BACKENDS", "get_ops", "resolve_frame_backend"]

Array = Any  # a backend's array type (numpy.ndarray, torch.Tensor)
FRAME_BACKENDS = ("auto", "opencv", "torch")


class ArrayOps(ABC):
    """The array operations of one backend. Implementations hold no per-call state (caches only),
    so several threads may render with one instance at once."""

    name: str = ""
    strip_rows: int = 128  # rows per full-resolution pass (bounded memory; any multiple of 64 works)

    # ---------------------------------------------------------------- data in and out
    @abstractmethod
    def upload(self, arr: Array) -> Array:
        """A host numpy array (or this backend's own array, returned as is) as this backend's array."""

    @abstractmethod
    def download(self, x: Array) -> np.ndarray:
        """This backend's array as a host numpy array (one transfer)."""

    @abstractmethod
    def owns(self, x: Array) -> bool:
        """True for this backend's own array type."""

    @abstractmethod
    def is_u8(self, x: Array) -> bool:
        """True for uint8 pixels."""

    @abstractmethod
    def zeros(self, shape: tuple[int, ...]) -> Array:
        """float32 zeros."""

    @abstractmethod
    def copy(self, x: Array) -> Array:
        """An independent copy."""

    @abstractmethod
    def empty_like(self, x: Array) -> Array:
        """An uninitialised array of x's shape and dtype."""

    @abstractmethod
    def concat_rows(self, parts: Sequence[Array]) -> Array:
        """Arrays stacked along the row axis (axis 0)."""

    @abstractmethod
    def merge(self, parts: Sequence[Array]) -> Array:
        """H x W maps (and H x W x C images) stacked as channels of one H x W x C' image."""

    @abstractmethod
    def window(self, x: Array, y0: int, y1: int, x0: int, x1: int) -> Array:
        """Rows y0..y1, columns x0..x1 of x, mirrored past every edge (BORDER_REFLECT, 'symmetric':
        the edge pixel repeats), for any distance past the edge. A copy or a view."""

    @abstractmethod
    def contiguous(self, x: Array) -> Array:
        """x in a dense layout (a slice handed to routines that need one)."""

    @abstractmethod
    def float32(self, x: Array) -> Array:
        """x as float32: x itself when it already is, else a converted copy."""

    # ---------------------------------------------------------------- geometry
    @abstractmethod
    def downsample(self, x: Array, factor: int) -> Array:
        """Area average over factor x factor blocks (H, W multiples of factor); integer input is
        rounded back to its dtype."""

    @abstractmethod
    def upsample(self, x: Array, factor: int) -> Array:
        """Bilinear enlargement by an integer factor in one step (pixel centres at half-integers,
        edges replicated); integer input is rounded back to its dtype."""

    @abstractmethod
    def resize(self, x: Array, size: tuple[int, int], mode: str) -> Array:
        """x resized to ``size`` = (width, height): mode 'area' (pixel-area average, to shrink) or
        'linear' (bilinear, pixel centres at half-integers); integer input is rounded back to its dtype."""

    # ---------------------------------------------------------------- filtering
    @abstractmethod
    def filter2d(self, x: Array, kernel: np.ndarray) -> Array:
        """Correlation of every channel with a square host kernel, borders reflected
        (BORDER_REFLECT), also when the kernel is larger than the image."""

    @abstractmethod
    def box_filter(self, x: Array, ksize: int, border: str = "reflect") -> Array:
        """Mean over ksize x ksize windows (odd ksize), borders 'reflect'ed (BORDER_REFLECT) or 'replicate'd."""

    @abstractmethod
    def dilate(self, mask: Array, radius: int) -> Array:
        """Grey dilation of a map by an elliptical (disc) structuring element of this radius."""

    @abstractmethod
    def displace(self, x: Array, flow: Array) -> Array:
        """A map sampled at each pixel's own position plus ``flow`` (H x W x 2 float, x then y, in pixels):
        bilinear, positions past the edges clamped to them (cv2.remap, INTER_LINEAR, BORDER_REPLICATE)."""

    # ---------------------------------------------------------------- colour and 8-bit pixels
    @abstractmethod
    def lut(self, x: Array, table: np.ndarray) -> Array:
        """float32 values of uint8 pixels through a host table: shape (256,) for every channel or
        (256, C) one column per channel."""

    @abstractmethod
    def luma(self, x: Array) -> Array:
        """uint8 luma of uint8 RGB (ITU-R BT.601 weights, OpenCV's 15-bit fixed point)."""

    @abstractmethod
    def add_alpha(self, x: Array) -> Array:
        """RGB -> RGBA with an opaque alpha (255 for uint8, 1 for float)."""

    @abstractmethod
    def drop_alpha(self, x: Array) -> Array:
        """RGBA -> RGB."""

    @abstractmethod
    def to_u8(self, x: Array, scale: float = 1.0, offset: float = 0.0) -> Array:
        """uint8 of x * scale + offset, rounded to nearest, saturated to 0..255."""

    @abstractmethod
    def blend_u8(self, a: Array, b: Array, weight: Array) -> Array:
        """a * weight + b * (1 - weight) for uint8 images with an 8-bit alpha (weight float H x W
        in [0, 1], rounded to 1/255): exactly a where weight == 1, exactly b where it is 0."""

    @abstractmethod
    def mul_u16(self, x: Array, weight: Array) -> Array:
        """Exact uint16 products of every channel of a uint8 image and a uint8 map."""

    @abstractmethod
    def scale_channels(self, x: Array, weight: Array) -> Array:
        """Every channel of a float image times a float map."""

    @abstractmethod
    def divide_channels(self, x: Array, divisor: Array) -> Array:
        """Every channel of a float image divided by a float map (0 where the divisor is 0)."""

    # ---------------------------------------------------------------- elementwise
    @abstractmethod
    def as_float(self, x: Array) -> Array:
        """float32 copy (booleans -> 0/1)."""

    @abstractmethod
    def clean(self, x: Array, lo: float, hi: float) -> Array:
        """float32 copy clipped to [lo, hi], NaN -> 0."""

    @abstractmethod
    def minimum(self, x: Array, y: Array | float) -> Array: ...

    @abstractmethod
    def maximum(self, x: Array, y: Array | float) -> Array: ...

    @abstractmethod
    def clip(self, x: Array, lo: float, hi: float) -> Array: ...

    @abstractmethod
    def abs(self, x: Array) -> Array: ...

    @abstractmethod
    def sqrt(self, x: Array) -> Array: ...

    @abstractmethod
    def log(self, x: Array) -> Array: ...

    @abstractmethod
    def power(self, x: Array, exponent: float) -> Array: ...

    @abstractmethod
    def floor(self, x: Array) -> Array: ...

    @abstractmethod
    def finite(self, x: Array) -> Array:
        """Boolean map: True where x is neither NaN nor infinite."""

    @abstractmethod
    def where(self, condition: Array, x: Array | float, y: Array | float) -> Array: ...

    @abstractmethod
    def copysign(self, magnitude: Array, sign: Array) -> Array: ...

    @abstractmethod
    def ramp(self, x: Array, origin: float, scale: float, lo: float | None = None,
             hi: float | None = None) -> Array:
        """float32 ``(x - origin) * scale`` (origin and scale rounded to float32 first), clipped to
        [lo, hi] when given; NaN stays NaN. A new array."""

    # ---------------------------------------------------------------- reductions (host results)
    @abstractmethod
    def extremes(self, x: Array) -> tuple[float, float]:
        """(min, max) ignoring NaN; (nan, nan) when every value is NaN."""

    @abstractmethod
    def min_value(self, x: Array) -> float: ...

    @abstractmethod
    def any(self, x: Array) -> bool: ...

    @abstractmethod
    def count(self, mask: Array) -> int:
        """Number of true (non-zero) values."""

    @abstractmethod
    def median(self, x: Array, where: Array | None = None) -> float:
        """Median of the values (of those where ``where`` is true), the two middle ones averaged
        (numpy's rule); NaN when there are none."""

    @abstractmethod
    def percentiles(self, x: Array, q: Sequence[float]) -> list[float] | None:
        """The q-th percentiles (0..100) of x's finite values, interpolated linearly (numpy's
        default); None when no value is finite."""

    @abstractmethod
    def take(self, x: Array, index: np.ndarray) -> np.ndarray:
        """The values of x at flat positions ``index`` (a host integer array, row-major), as a host float32
        array: a few samples of a map brought to the host, never the map."""

    @abstractmethod
    def histogram_u8(self, x: Array) -> np.ndarray:
        """Counts of each value 0..255 of a uint8 map, as a host int64 array of 256."""

    @abstractmethod
    def axis_min(self, x: Array, axis: int) -> np.ndarray:
        """Minimum along an axis, as a host array."""

    @abstractmethod
    def axis_max(self, x: Array, axis: int) -> np.ndarray:
        """Maximum along an axis, as a host array."""

    # ---------------------------------------------------------------- running
    def guard(self):
        """Context manager around one render: turns the backend's resource errors into typed ones."""
        from contextlib import nullcontext

        return nullcontext()


def resolve_frame_backend(backend: str, device: str | None) -> str:
    """The backend that runs: 'opencv' or 'torch'.

    'auto' is torch on a CUDA or MPS device and OpenCV on the CPU. With the device itself 'auto' (or None)
    it is torch only when torch is already loaded (a depth model) and sees a GPU: choosing the backend
    never imports torch (the selfie approach runs without it).
    """
    if backend not in FRAME_BACKENDS:
        raise UsageError(f"frame backend must be one of {', '.join(FRAME_BACKENDS)}, got {backend!r}")
    if backend != "auto":
        return backend
    kind = _device_kind(device)
    return "torch" if kind in ("cuda", "mps") else "opencv"


def _device_kind(device: str | None) -> str:
    kind = (device or "auto").split(":")[0]
    if kind != "auto":
        return kind
    torch = sys.modules.get("torch")
    if torch is None:
        return "cpu"
    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    return "mps" if mps is not None and mps.is_available() else "cpu"


def get_ops(backend: str = "opencv", device: str | None = None) -> ArrayOps:
    """The array operations for a backend ('opencv', 'torch', 'auto') on a device ('cpu', 'cuda',
    'cuda:1', 'mps', 'auto' or None; torch with 'auto' takes a GPU when there is one). Shared instances."""
    chosen = resolve_frame_backend(backend, device)
    if chosen == "opencv":
        from .ops_opencv import OPENCV

        return OPENCV
    from .ops_torch import torch_ops

    if device in (None, "auto"):
        import torch  # noqa: F401  (the torch backend was asked for: its device is looked up)

        device = _device_kind("auto")
    return torch_ops(device)
