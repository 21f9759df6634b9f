"""Preprocessing of the official pipelines, derived from a ``DepthVariant``.

Public functions (stable; family modules and the model wrapper use them):

* ``constrain_to_multiple(x, multiple_of, min_val=0, max_val=None) -> int``
* ``net_input_size(height, width, target_height, target_width, *, multiple_of,
  method, keep_aspect_ratio) -> (new_height, new_width)``: the official resize rule
  (MiDaS ``midas/transforms.py`` and Depth-Anything ``util/transform.py`` agree).
* ``preprocess(rgb, variant, input_size=None) -> np.ndarray``: HxWx3 uint8 RGB ->
  3xhxw float32: /255, ``cv2.resize(INTER_CUBIC)``, ``(img - mean) / std``, HWC->CHW, all in
  float32 (the official pipelines work in float64: within 1e-4 of them, at half the cost).
* ``preprocess_tensor(frames, variant, input_size=None) -> torch.Tensor``: the same on the
  frames' own device: N x H x W x 3 uint8 tensor -> N x 3 x h x w float32 (torch's bicubic is
  OpenCV's INTER_CUBIC kernel, a = -0.75, with the same clamped borders).
* ``net_input_shape(height, width, variant, input_size=None) -> (h, w)``.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

import cv2
import numpy as np

from ..errors import InputError, UsageError
from .registry import DepthVariant

if TYPE_CHECKING:
    import torch

RESIZE_METHODS = ("lower_bound", "upper_bound", "minimal")


def constrain_to_multiple(x: float, multiple_of: int, min_val: int = 0, max_val: int | None = None) -> int:
    """Round ``x`` to a multiple (numpy half-to-even), redone with floor above ``max_val``
    and with ceil below ``min_val`` (in that order, like the official code)."""
    y = int(np.round(x / multiple_of) * multiple_of)
    if max_val is not None and y > max_val:
        y = int(math.floor(x / multiple_of) * multiple_of)
    if y < min_val:
        y = int(math.ceil(x / multiple_of) * multiple_of)
    return y


def net_input_size(
    height: int,
    width: int,
    target_height: int,
    target_width: int,
    *,
    multiple_of: int,
    method: str,
    keep_aspect_ratio: bool,
) -> tuple[int, int]:
    """The official network input size (new_height, new_width) for an image."""
    if method not in RESIZE_METHODS:
        raise ValueError(f"unknown resize method {method!r}")
    scale_h = target_height / height
    scale_w = target_width / width
    if keep_aspect_ratio:
        if method == "lower_bound":
            scale = max(scale_w, scale_h)
        elif method == "upper_bound":
            scale = min(scale_w, scale_h)
        else:  # minimal: the scale closer to 1; a tie fits the height
            scale = scale_w if abs(1 - scale_w) < abs(1 - scale_h) else scale_h
        scale_h = scale_w = scale
    if method == "lower_bound":
        new_h = constrain_to_multiple(scale_h * height, multiple_of, min_val=target_height)
        new_w = constrain_to_multiple(scale_w * width, multiple_of, min_val=target_width)
    elif method == "upper_bound":
        new_h = constrain_to_multiple(scale_h * height, multiple_of, max_val=target_height)
        new_w = constrain_to_multiple(scale_w * width, multiple_of, max_val=target_width)
    else:
        new_h = constrain_to_multiple(scale_h * height, multiple_of)
        new_w = constrain_to_multiple(scale_w * width, multiple_of)
    return new_h, new_w


def resolve_input_size(variant: DepthVariant, input_size: int | None) -> int:
    """The target side: the variant's default, or ``input_size`` (checked)."""
    if input_size is None:
        return variant.input_size
    if isinstance(input_size, bool) or not isinstance(input_size, (int, np.integer)) or input_size < 1:
        raise UsageError(f"input_size must be a positive integer, got {input_size!r}")
    if variant.fixed_input_size and int(input_size) != variant.input_size:
        raise UsageError(
            f"{variant.name} runs only at input size {variant.input_size} (got {input_size})"
        )
    return int(input_size)


def net_input_shape(height: int, width: int, variant: DepthVariant, input_size: int | None = None) -> tuple[int, int]:
    side = resolve_input_size(variant, input_size)
    return net_input_size(
        height,
        width,
        side,
        side,
        multiple_of=variant.multiple_of,
        method=variant.resize_method,
        keep_aspect_ratio=variant.keep_aspect_ratio,
    )


def check_rgb(rgb: np.ndarray) -> np.ndarray:
    """Validate an HxWx3 uint8 RGB image."""
    if not isinstance(rgb, np.ndarray) or rgb.ndim != 3 or rgb.shape[2] != 3:
        shape = getattr(rgb, "shape", None)
        raise InputError(f"expected an HxWx3 RGB image, got shape {shape}")
    if rgb.dtype != np.uint8:
        raise InputError(f"expected a uint8 RGB image, got dtype {rgb.dtype}")
    if rgb.shape[0] < 1 or rgb.shape[1] < 1:
        raise InputError(f"empty image of shape {rgb.shape}")
    return rgb


def preprocess(rgb: np.ndarray, variant: DepthVariant, input_size: int | None = None) -> np.ndarray:
    """HxWx3 uint8 RGB -> 3xhxw float32 network input, exactly as the official pipelines."""
    check_rgb(rgb)
    h, w = rgb.shape[:2]
    new_h, new_w = net_input_shape(h, w, variant, input_size)
    img = rgb.astype(np.float32)
    img *= np.float32(1.0 / 255.0)
    img = cv2.resize(img, (new_w, new_h), interpolation=cv2.INTER_CUBIC)
    img -= np.asarray(variant.mean, dtype=np.float32)
    img *= np.asarray(1.0 / np.asarray(variant.std, dtype=np.float64), dtype=np.float32)
    return np.ascontiguousarray(img.transpose(2, 0, 1))


def preprocess_tensor(frames: "torch.Tensor", variant: DepthVariant, input_size: int | None = None) -> "torch.Tensor":
    """N x H x W x 3 uint8 RGB tensor (on any device) -> N x 3 x h x w float32 network input, on that device."""
    import torch
    import torch.nn.functional as F

    if frames.ndim != 4 or frames.shape[3] != 3 or frames.dtype != torch.uint8:
        raise InputError(f"expected N x H x W x 3 uint8 frames, got {tuple(frames.shape)} {frames.dtype}")
    h, w = int(frames.shape[1]), int(frames.shape[2])
    new_h, new_w = net_input_shape(h, w, variant, input_size)
    x = frames.permute(0, 3, 1, 2).to(torch.float32) * (1.0 / 255.0)
    if (new_h, new_w) != (h, w):
        x = F.interpolate(x, size=(new_h, new_w), mode="bicubic", align_corners=False)
    mean = torch.tensor(variant.mean, dtype=torch.float32, device=x.device).view(1, 3, 1, 1)
    scale = torch.tensor([1.0 / s for s in variant.std], dtype=torch.float32, device=x.device).view(1, 3, 1, 1)
    return ((x - mean) * scale).contiguous()
