"""The protection mask: where the picture must stay sharp (1) whatever the depth says.

Built from the person probability (segmenter) and the detected faces:
1. the probability is turned into a soft mask by a linear ramp between two thresholds;
2. every face adds an ellipse covering the head and hair (from its box), fully sharp (a
   low-score face only where the person mask confirms it);
3. the outline is refined against the full-resolution picture with the (fast) guided filter,
   so it follows hair and shoulders rather than the segmenter's 256-px blur;
4. a small dilation adds a safety margin: blurring a few background pixels next to the subject
   is invisible, blurring the subject's own edge is not.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np

from vidbokeh.errors import InputError, UsageError
from vidbokeh.stages.faces import Face


@dataclass(frozen=True)
class MaskSettings:
    person_low: float = 0.4  # probability at and below which a pixel is background
    person_high: float = 0.7  # probability at and above which a pixel is person
    protect_faces: bool = True
    face_sure_score: float = 0.75  # weaker faces are protected only where the person mask agrees
    face_width_scale: float = 1.35  # head ellipse width / face box width
    face_height_scale: float = 1.7  # head ellipse height / face box height (hair above)
    face_center_shift: float = 0.2  # ellipse centre above the box centre, x box height
    guided: bool = True  # refine edges with the guided filter
    guided_radius_frac: float = 0.006  # guided filter radius, fraction of the diagonal
    guided_eps: float = 1e-3  # guided filter regularisation (guide in [0, 1])
    guided_color: bool = False  # colour guide (4x slower) instead of luma
    guided_max_side: int = 640  # filter coefficients fitted on a copy no longer than this (speed)
    dilate_frac: float = 0.002  # safety margin, fraction of the diagonal (0 = none)
    fill_holes_frac: float = 0.002  # holes inside the subject smaller than this x area are filled
    fill_holes_max_side: int = 512  # holes are looked for on a copy no longer than this (speed)

    def __post_init__(self) -> None:
        if not 0.0 <= self.person_low < self.person_high <= 1.0:
            raise UsageError("need 0 <= person_low < person_high <= 1")
        if self.dilate_frac < 0 or self.guided_radius_frac < 0 or self.fill_holes_frac < 0:
            raise UsageError("mask radii must be >= 0")


def build_protection_mask(
    rgb: np.ndarray,
    person_prob: np.ndarray | None,
    faces: Sequence[Face],
    settings: MaskSettings = MaskSettings(),
) -> np.ndarray:
    """HxW float32 in [0, 1], 1 = keep sharp. ``person_prob`` may be None (faces only)."""
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise InputError(f"expected an HxWx3 image, got {rgb.shape}")
    h, w = rgb.shape[:2]
    diag = math.hypot(h, w)
    if person_prob is None:
        mask = np.zeros((h, w), np.float32)
    else:
        if person_prob.shape != (h, w):
            raise InputError(f"person mask {person_prob.shape} does not match image {(h, w)}")
        mask = soft_threshold(person_prob, settings.person_low, settings.person_high)
        if settings.fill_holes_frac > 0:
            mask = fill_small_holes(mask, settings.fill_holes_frac * h * w, settings.fill_holes_max_side)
    heads = None
    if settings.protect_faces and faces:
        kept = trusted_faces(faces, person_prob, settings.face_sure_score)
        heads = face_ellipses((h, w), kept, settings) if kept else None
    if heads is not None:
        np.maximum(mask, heads, out=mask)
    if settings.guided and mask.any():
        radius = max(1, int(round(settings.guided_radius_frac * diag)))
        mask = guided_refine(
            rgb, mask, radius, settings.guided_eps, settings.guided_max_side, color=settings.guided_color
        )
        if heads is not None:  # the filter may soften a face's edge: not allowed
            np.maximum(mask, heads, out=mask)
    dilate = int(round(settings.dilate_frac * diag))
    if dilate > 0 and mask.any():
        disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * dilate + 1, 2 * dilate + 1))
        mask = cv2.dilate(mask, disc)
    return np.clip(mask, 0.0, 1.0, out=mask) if mask.dtype == np.float32 else np.clip(mask, 0, 1).astype(np.float32)


def soft_threshold(prob: np.ndarray, low: float, high: float) -> np.ndarray:
    """0 below ``low``, 1 above ``high``, linear between (a new float32 array)."""
    if prob.size <= 4:  # OpenCV's bindings take an array this small for a scalar
        out = prob.astype(np.float32) - np.float32(low)
    else:
        out = cv2.subtract(prob.astype(np.float32, copy=False), float(low))
    out *= np.float32(1.0 / (high - low))
    return np.clip(out, 0.0, 1.0, out=out)


def fill_small_holes(mask: np.ndarray, max_area: float, max_side: int = 512) -> np.ndarray:
    """Set to 1 the background regions enclosed by the subject that are smaller than ``max_area``
    (px of the full image). Found on a copy at most ``max_side`` px long (speed)."""
    h, w = mask.shape
    scale = min(1.0, max_side / max(h, w))
    small = mask if scale == 1.0 else cv2.resize(
        mask, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA
    )
    background = (small < 0.5).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(background, connectivity=4)
    if count <= 1:
        return mask
    sh, sw = small.shape
    x, y, bw, bh, area = (stats[:, i] for i in range(5))
    touches_border = (x == 0) | (y == 0) | (x + bw == sw) | (y + bh == sh)
    holes = (area <= max_area * scale * scale) & ~touches_border
    holes[0] = False  # label 0 is the subject itself
    if not holes.any():
        return mask
    fill = holes[labels].astype(np.float32)
    if scale < 1.0:
        fill = cv2.resize(fill, (w, h), interpolation=cv2.INTER_LINEAR)
    return np.maximum(mask, fill)


def trusted_faces(faces: Sequence[Face], person_prob: np.ndarray | None, sure_score: float) -> list[Face]:
    """Faces to force sharp: all confident ones; a weak one only if the segmenter sees a person
    over its middle (a weak detection on a patterned background must not carve out a sharp
    disc). Without a person mask every face counts."""
    if person_prob is None:
        return list(faces)
    kept = []
    h, w = person_prob.shape
    for face in faces:
        if face.score >= sure_score:
            kept.append(face)
            continue
        cx, cy = face.center
        qx, qy = 0.25 * face.width, 0.25 * face.height
        x0, x1 = int(max(0, cx - qx)), int(min(w, cx + qx + 1))
        y0, y1 = int(max(0, cy - qy)), int(min(h, cy + qy + 1))
        if x1 > x0 and y1 > y0 and float(person_prob[y0:y1, x0:x1].mean()) >= 0.5:
            kept.append(face)
    return kept


def face_ellipses(shape: tuple[int, int], faces: Sequence[Face], settings: MaskSettings) -> np.ndarray:
    """1 inside an ellipse over each face's head and hair, with a soft edge of ~6% of its size."""
    h, w = shape
    out = np.zeros((h, w), np.float32)
    for face in faces:
        cx, cy = face.center
        cy -= settings.face_center_shift * face.height
        ax = 0.5 * settings.face_width_scale * face.width
        ay = 0.5 * settings.face_height_scale * face.height
        if ax < 1 or ay < 1:
            continue
        x0, x1 = max(0, int(cx - ax) - 1), min(w, int(cx + ax) + 2)
        y0, y1 = max(0, int(cy - ay) - 1), min(h, int(cy + ay) + 2)
        if x1 <= x0 or y1 <= y0:
            continue
        # normalised distance from the centre, from two 1-D terms (one 2-D pass each step, float32)
        dx2 = np.square((np.arange(x0, x1, dtype=np.float32) - np.float32(cx)) / np.float32(ax))
        dy2 = np.square((np.arange(y0, y1, dtype=np.float32) - np.float32(cy)) / np.float32(ay))
        soft = np.sqrt(dy2[:, None] + dx2[None, :])
        soft -= 1.0
        soft *= np.float32(-1.0 / 0.06)  # 1 inside, 0 outside, thin ramp at the rim
        np.clip(soft, 0.0, 1.0, out=soft)
        np.maximum(out[y0:y1, x0:x1], soft, out=out[y0:y1, x0:x1])
    return out


def guided_refine(
    rgb: np.ndarray, mask: np.ndarray, radius: int, eps: float, max_side: int, *, color: bool = False
) -> np.ndarray:
    """Edge-aware refinement of ``mask`` guided by the picture.

    Luma guide: the fast guided filter (He & Sun 2015): the local linear coefficients
    ``q = a * I + b`` are fitted on a copy at most ``max_side`` px long, then applied to the
    full-resolution luma, so the edges come from the full-resolution picture. Colour guide:
    opencv-contrib's guided filter on a copy at most ``max_side`` px long (slower).
    """
    h, w = mask.shape
    scale = min(1.0, max_side / max(h, w))
    guide = rgb if rgb.dtype == np.uint8 else _to_uint8(rgb)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small_radius = max(1, int(round(radius * scale)))
    if color:
        small_guide = cv2.resize(guide, size, interpolation=cv2.INTER_AREA) if scale < 1.0 else guide
        src = cv2.resize(mask, size, interpolation=cv2.INTER_AREA) if scale < 1.0 else mask
        refined = cv2.ximgproc.guidedFilter(small_guide.astype(np.float32) * (1.0 / 255.0), src, small_radius, eps)
        if scale < 1.0:
            refined = cv2.resize(refined, (w, h), interpolation=cv2.INTER_LINEAR)
        return np.clip(refined, 0.0, 1.0).astype(np.float32)
    luma8 = cv2.cvtColor(guide, cv2.COLOR_RGB2GRAY)
    small8 = cv2.resize(luma8, size, interpolation=cv2.INTER_AREA) if scale < 1.0 else luma8
    small_luma = small8.astype(np.float32) * np.float32(1.0 / 255.0)
    small_mask = cv2.resize(mask, size, interpolation=cv2.INTER_AREA) if scale < 1.0 else mask
    ksize = (2 * small_radius + 1, 2 * small_radius + 1)

    def box(x: np.ndarray) -> np.ndarray:
        return cv2.boxFilter(x, -1, ksize, borderType=cv2.BORDER_REFLECT)

    # the four local means in one 4-channel box filter, the two coefficient means in one 2-channel one
    means = box(cv2.merge([small_luma, small_mask, small_luma * small_luma, small_luma * small_mask]))
    mean_i, mean_p, mean_ii, mean_ip = cv2.split(means)
    var_i = mean_ii - mean_i * mean_i
    cov_ip = mean_ip - mean_i * mean_p
    a = cov_ip / (var_i + np.float32(eps))
    b = mean_p - a * mean_i
    mean_a, mean_b = cv2.split(box(cv2.merge([a, b])))
    if scale < 1.0:
        mean_a = cv2.resize(mean_a, (w, h), interpolation=cv2.INTER_LINEAR)
        mean_b = cv2.resize(mean_b, (w, h), interpolation=cv2.INTER_LINEAR)
    # q = a * I + b on the full-resolution luma (I in [0, 1]), in place
    if luma8.size <= 4:  # OpenCV's bindings take an array this small for a scalar (a 1x1 image came out 4x1)
        out = (mean_a * (luma8.astype(np.float32) * np.float32(1.0 / 255.0)) + mean_b).astype(np.float32)
    else:
        out = cv2.multiply(mean_a, luma8.astype(np.float32), scale=1.0 / 255.0)
        cv2.add(out, mean_b, dst=out)
    return np.clip(out, 0.0, 1.0, out=out)


def _to_uint8(image: np.ndarray) -> np.ndarray:
    if image.dtype == np.uint16:
        return (image >> 8).astype(np.uint8)
    return np.clip(image.astype(np.float32) * 255.0 + 0.5, 0, 255).astype(np.uint8)
