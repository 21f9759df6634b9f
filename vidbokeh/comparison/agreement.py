"""Agreement between approaches when no ground truth is given.

Depth maps are compared by Spearman rank correlation (invariant to the unknown
scale, shift and any monotonic remapping an approach applies); protection masks
by intersection over union of their "kept sharp" regions.
"""
from __future__ import annotations

import cv2
import numpy as np

MAX_SIDE = 256  # rank correlation on maps downsampled to this long side
MASK_THRESHOLD = 0.5


def downsample(values: np.ndarray, max_side: int = MAX_SIDE) -> np.ndarray:
    h, w = values.shape
    factor = max(h, w) / max_side
    if factor <= 1:
        return values.astype(np.float32)
    size = (max(1, round(w / factor)), max(1, round(h / factor)))
    return cv2.resize(values.astype(np.float32), size, interpolation=cv2.INTER_AREA)


def average_ranks(values: np.ndarray) -> np.ndarray:
    """Ranks 0..n-1 of a flat array, ties sharing their average rank."""
    flat = values.ravel()
    _, inverse, counts = np.unique(flat, return_inverse=True, return_counts=True)
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    return (first + (counts - 1) / 2.0)[inverse].astype(np.float64)


def spearman(a: np.ndarray, b: np.ndarray) -> float | None:
    """Spearman rank correlation of two same-shaped maps; None when one is constant."""
    if a.shape != b.shape:
        b = cv2.resize(b.astype(np.float32), (a.shape[1], a.shape[0]), interpolation=cv2.INTER_LINEAR)
    a_small, b_small = downsample(a), downsample(b)
    finite = np.isfinite(a_small) & np.isfinite(b_small)
    ra, rb = average_ranks(a_small[finite]), average_ranks(b_small[finite])
    ra -= ra.mean()
    rb -= rb.mean()
    denom = float(np.sqrt((ra * ra).sum() * (rb * rb).sum()))
    if denom == 0.0:
        return None
    return float((ra * rb).sum() / denom)


def mask_iou(a: np.ndarray, b: np.ndarray, threshold: float = MASK_THRESHOLD) -> float | None:
    """IoU of ``a > threshold`` and ``b > threshold``; None when both are empty."""
    if a.shape != b.shape:
        b = cv2.resize(b.astype(np.float32), (a.shape[1], a.shape[0]), interpolation=cv2.INTER_LINEAR)
    sa, sb = a > threshold, b > threshold
    union = int(np.count_nonzero(sa | sb))
    if union == 0:
        return None
    return float(np.count_nonzero(sa & sb) / union)
