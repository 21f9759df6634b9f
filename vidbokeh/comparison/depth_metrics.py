"""Depth accuracy against ground truth: AbsRel and delta<1.25.

Relative depth networks (MiDaS, Depth-Anything) predict inverse depth up to an
unknown scale and shift, so the prediction is first aligned to the ground truth
by a least-squares fit ``s * pred + t ~= 1 / gt`` over the pixels that have a
reading, then converted back to depth and scored there.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..errors import InputError, InputNotFoundError

DELTA_THRESHOLD = 1.25


@dataclass(frozen=True)
class DepthFigures:
    abs_rel: float  # mean |d - gt| / gt over valid pixels (lower is better)
    delta1: float  # share of valid pixels with max(d/gt, gt/d) < 1.25 (higher is better)
    scale: float  # fitted s of s * pred + t = 1/gt
    shift: float  # fitted t
    valid_pixels: int


def load_depth_png(path: Path, depth_scale: float) -> np.ndarray:
    """A 16-bit depth image as metres (``value / depth_scale``); 0 stays 0 (no reading)."""
    path = Path(path)
    if not path.is_file():
        raise InputNotFoundError(f"ground-truth depth not found: {path}")
    if depth_scale <= 0:
        raise InputError(f"depth scale must be positive, got {depth_scale}")
    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if raw is None:
        raise InputError(f"cannot read ground-truth depth {path}")
    if raw.ndim != 2:
        raise InputError(f"ground-truth depth {path} has {raw.shape[2]} channels; expected one")
    if raw.dtype != np.uint16:
        raise InputError(f"ground-truth depth {path} is {raw.dtype}; expected a 16-bit PNG")
    return raw.astype(np.float32) / np.float32(depth_scale)


def fit_inverse_depth(pred: np.ndarray, gt_depth: np.ndarray, valid: np.ndarray) -> tuple[float, float]:
    """Least-squares ``(s, t)`` minimising ``|s * pred + t - 1/gt|^2`` over ``valid``."""
    x = pred[valid].astype(np.float64)
    y = 1.0 / gt_depth[valid].astype(np.float64)
    design = np.stack([x, np.ones_like(x)], axis=1)
    (scale, shift), *_ = np.linalg.lstsq(design, y, rcond=None)
    return float(scale), float(shift)


def depth_figures(pred: np.ndarray, gt_depth: np.ndarray) -> DepthFigures:
    """Score a relative inverse-depth map ``pred`` against metric ``gt_depth`` (0 = no reading).

    ``pred`` is resized to the ground truth's size if they differ. Aligned inverse
    depth is clamped to the range the ground truth spans, so a fit that goes
    negative in a few pixels cannot produce infinite or negative depth.
    """
    if pred.ndim != 2 or gt_depth.ndim != 2:
        raise InputError("depth maps must be two-dimensional")
    if pred.shape != gt_depth.shape:
        pred = cv2.resize(pred.astype(np.float32), (gt_depth.shape[1], gt_depth.shape[0]),
                          interpolation=cv2.INTER_LINEAR)
    valid = np.isfinite(gt_depth) & (gt_depth > 0) & np.isfinite(pred)
    count = int(valid.sum())
    if count < 2:
        raise InputError("ground-truth depth has fewer than two valid pixels")
    scale, shift = fit_inverse_depth(pred, gt_depth, valid)
    inv_gt = 1.0 / gt_depth[valid].astype(np.float64)
    aligned_inv = scale * pred[valid].astype(np.float64) + shift
    aligned_inv = np.clip(aligned_inv, inv_gt.min(), inv_gt.max())
    depth = 1.0 / aligned_inv
    gt = gt_depth[valid].astype(np.float64)
    abs_rel = float(np.mean(np.abs(depth - gt) / gt))
    ratio = np.maximum(depth / gt, gt / depth)
    delta1 = float(np.mean(ratio < DELTA_THRESHOLD))
    return DepthFigures(abs_rel=abs_rel, delta1=delta1, scale=scale, shift=shift, valid_pixels=count)


def constant_baseline(gt_depth: np.ndarray) -> DepthFigures:
    """The figures of a flat prediction (the best single depth): what a depth map must beat."""
    return depth_figures(np.zeros(gt_depth.shape, np.float32), gt_depth)
