"""What every render path shares: checking its inputs, full-resolution passes over strips of rows
(bounded memory), pyramid steps, blurring a premultiplied layer and normalising it back to colour.

Everything here is written over a backend's array operations (``ops``, see ops.py).
"""
from __future__ import annotations

import math

import numpy as np

from vidbokeh.errors import InputError

from .kernels import MAX_KERNEL_RADIUS, disc_kernel
from .settings import BokehSettings

__all__ = ["as_image", "checked_map", "extremes", "strip", "down", "up", "up_rows", "feed", "normalise",
           "blur_layer", "base_level_image", "padded_size"]

EPS = 1e-6
FILL_EPS = 1e-6  # weight of a pixel's own colour where no blurred layer reaches it


def as_image(ops, rgb):
    """(uint8 original, float input in [0, 1] or None for uint8 input), as the backend's arrays.

    Host input: uint8 or float HxWx3. A backend's own array (a frame already on the device): uint8.
    """
    shape = tuple(rgb.shape)
    if len(shape) != 3 or shape[2] != 3 or shape[0] == 0 or shape[1] == 0:
        raise InputError(f"expected an HxWx3 RGB image, got shape {shape}")
    if not isinstance(rgb, np.ndarray):
        if not ops.is_u8(rgb):
            raise InputError(f"expected a uint8 RGB frame on the {ops.name} backend, got {rgb.dtype}")
        return ops.upload(rgb), None
    if rgb.dtype == np.uint8:
        return ops.upload(np.ascontiguousarray(rgb)), None
    if np.issubdtype(rgb.dtype, np.floating):
        unit = np.clip(np.nan_to_num(rgb.astype(np.float32)), 0.0, 1.0)
        return ops.upload((unit * 255.0 + 0.5).astype(np.uint8)), ops.upload(unit)
    raise InputError(f"expected uint8 or float RGB, got {rgb.dtype}")


def checked_map(ops, name: str, arr, shape: tuple[int, int]):
    """A CoC or protection map checked against the image's shape, as the backend's array (or None)."""
    if arr is None:
        return None
    if not (isinstance(arr, np.ndarray) or ops.owns(arr)):
        arr = np.asarray(arr)
    if tuple(arr.shape) != shape:
        raise InputError(f"{name} must have shape {shape}, got {tuple(arr.shape)}")
    if isinstance(arr, np.ndarray):
        if arr.dtype == np.bool_:
            arr = arr.astype(np.float32)
        elif not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
            raise InputError(f"{name} must be numeric, got {arr.dtype}")
        return ops.upload(arr)
    return ops.as_float(arr) if str(arr.dtype).endswith("bool") else arr


def extremes(ops, arr) -> tuple[float, float]:
    """(min, max) ignoring NaN, clipped to +-1e6; (0, 0) for an all-NaN map."""
    lo, hi = ops.extremes(arr)
    if math.isnan(lo) or math.isnan(hi):
        return 0.0, 0.0
    return max(lo, -1e6), min(hi, 1e6)


def padded_size(h: int, w: int, multiple: int) -> tuple[int, int]:
    return -(-h // multiple) * multiple, -(-w // multiple) * multiple


def strip(ops, arr, y0: int, y1: int, width: int):
    """A strip of rows of ``arr``, ``width`` wide (reflected past the bottom and right edges)."""
    return ops.window(arr, y0, y1, 0, width)


def down(ops, img, levels: int):
    """Area-halved ``levels`` times."""
    for _ in range(levels):
        img = ops.downsample(img, 2)
    return img


def up(ops, img, levels: int):
    """Bilinear upsampling by 2**levels in one step (repeated doubling would soften more)."""
    return img if levels <= 0 else ops.upsample(img, 1 << levels)


def up_rows(ops, img, levels: int, y0: int, y1: int, width: int):
    """Rows y0..y1 (first ``width`` columns) of ``up(img, levels)``, computed from a band of img."""
    if levels == 0:
        return img[y0:y1, :width]
    f = 1 << levels
    s0, s1 = max(0, y0 // f - 1), min(img.shape[0], -(-y1 // f) + 1)
    band = up(ops, ops.contiguous(img[s0:s1]), levels)
    return band[y0 - s0 * f:y1 - s0 * f, :width]


def feed(ops, protect, settings: BokehSettings):
    """Weight (0..1) with which each pixel may feed a blurred layer: 0 for protected pixels."""
    return ops.clip(1.0 - protect * (1.0 / settings.protect_exclusion), 0.0, 1.0)


def normalise(ops, acc, fallback):
    """Premultiplied RGBA -> RGB colour; where nothing was accumulated, the fallback's colour
    (None: the caller knows every pixel has some alpha)."""
    blended = acc if fallback is None else acc + FILL_EPS * fallback
    alpha = blended[..., 3]
    if fallback is None:
        alpha = ops.maximum(alpha, EPS)
    return ops.drop_alpha(ops.divide_channels(blended, alpha))


def blur_layer(ops, layer, radius: float, level: int, settings: BokehSettings):
    """Blur a premultiplied layer held at pyramid ``level`` with the aperture of ``radius`` (full-size px)."""
    # only a very thin image can leave a huge radius at its deepest level: cap the kernel's cost there
    kernel_radius = min(radius / 2**level, MAX_KERNEL_RADIUS)
    kernel = disc_kernel(kernel_radius, settings.aperture_blades, settings.aperture_rotation_deg)
    return ops.filter2d(layer, kernel)


def base_level_image(ops, padded_h: int, padded_w: int, base: int, make_strip):
    """Assemble the base-level image from full-resolution strips, each area-downsampled on its own.

    ``make_strip(y0, y1)`` returns the strip's image, or a list of arrays whose channels make it (each is
    downsampled on its own and the parts are merged at the base level: cheaper where one part is wide)."""
    step = max(1 << base, (ops.strip_rows >> base) << base)

    def block(y0: int):
        made = make_strip(y0, min(padded_h, y0 + step))
        if isinstance(made, list):
            return ops.merge([down(ops, part, base) for part in made])
        return down(ops, made, base)

    return ops.concat_rows([block(y0) for y0 in range(0, padded_h, step)])
