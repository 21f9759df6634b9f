"""The protection mask: where the picture must stay sharp (1) whatever the depth says.

Built from the person probability (segmenter, already restricted to the subjects by
``vidbokeh.stages.subjects``) and the subjects' faces:
1. the probability is turned into a soft mask by a linear ramp between two thresholds (small holes filled), both
   higher for a subject large in the picture (``MaskSettings.for_subject``);
2. every face adds its head as the person mask outlines it, hair included (``heads.head_shapes``), fully
   sharp (a low-score face only where the person mask confirms it); never a patch of background;
3. the outline is refined against the full-resolution picture with the (fast) guided filter
   (``guided.guided_refine``), so it follows hair and shoulders rather than the segmenter's 256-px blur;
4. a small dilation adds a safety margin: blurring a few background pixels next to the subject
   is invisible, blurring the subject's own edge is not (none for a large subject).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Sequence

import cv2
import numpy as np

from vidbokeh.errors import InputError, UsageError
from vidbokeh.stages.faces import Face
from vidbokeh.stages.guided import guided_refine
from vidbokeh.stages.heads import face_ellipses, head_shapes, trusted_faces
from vidbokeh.stages.mask_ops import fill_small_holes, soft_threshold

__all__ = ["MaskSettings", "build_protection_mask", "face_ellipses", "fill_small_holes", "guided_refine",
           "head_shapes", "soft_threshold", "trusted_faces"]


@dataclass(frozen=True)
class MaskSettings:
    # the ramp sits low: a doubtful pixel of a person is kept (less leak for a little sharp_iou:
    # docs/benchmarks.md)
    person_low: float = 0.3  # probability at and below which a pixel is background
    person_high: float = 0.6  # probability at and above which a pixel is person
    protect_faces: bool = True
    face_sure_score: float = 0.75  # weaker faces are protected only where the person mask agrees
    face_width_scale: float = 1.35  # head ellipse width / face box width
    face_height_scale: float = 1.7  # head ellipse height / face box height (hair above)
    face_center_shift: float = 0.2  # ellipse centre above the box centre, x box height
    head_low: float = 0.3  # inside the head ellipse, person probability at and below which it is background
    head_high: float = 0.6  # ... and at and above which it is head (hair is less sure than skin)
    guided: bool = True  # refine edges with the guided filter
    guided_radius_frac: float = 0.006  # guided filter radius, fraction of the diagonal
    guided_eps: float = 1e-3  # guided filter regularisation (guide in [0, 1])
    guided_color: bool = False  # colour guide (opencv-contrib's filter, ~1.3x the time) instead of luma
    guided_max_side: int = 640  # filter coefficients fitted on a copy no longer than this (speed)
    dilate_frac: float = 0.002  # safety margin, fraction of the diagonal (0 = none)
    fill_holes_frac: float = 0.002  # holes inside the subject smaller than this x area are filled
    fill_holes_max_side: int = 512  # holes are looked for on a copy no longer than this (speed)
    # A subject large in the picture (a portrait) has an outline many of the segmenter's pixels wide and no limb
    # a few of them thin: it needs neither the low ramp nor the margin, which there only keep a band of background
    # sharp round it. As the subjects' head grows from ``close_from`` to ``close_full`` of the picture's height (a
    # standing person as tall as the picture: 0.13), the ramp moves to ``close_low``..``close_high`` and the margin
    # goes (``for_subject``; made labelled head-and-torso photos: median sharp_iou 0.798 -> 0.819, bg_energy
    # 0.171 -> 0.110, leak 0.005 -> 0.010).
    close_from: float = 0.14
    close_full: float = 0.20
    close_low: float = 0.4
    close_high: float = 0.7

    def __post_init__(self) -> None:
        if not 0.0 <= self.person_low < self.person_high <= 1.0:
            raise UsageError("need 0 <= person_low < person_high <= 1")
        if not 0.0 <= self.close_low < self.close_high <= 1.0:
            raise UsageError("need 0 <= close_low < close_high <= 1")
        if not 0.0 < self.close_from < self.close_full:
            raise UsageError("need 0 < close_from < close_full")
        if self.dilate_frac < 0 or self.guided_radius_frac < 0 or self.fill_holes_frac < 0:
            raise UsageError("mask radii must be >= 0")

    def for_subject(self, scale: float) -> MaskSettings:
        """These settings for subjects whose head is ``scale`` x the picture's height (0: none known): the ramp
        and the margin as they are for a small subject, closed in for a large one (see ``close_from``)."""
        t = min(1.0, max(0.0, (scale - self.close_from) / (self.close_full - self.close_from)))
        if t == 0.0:
            return self
        return replace(self, person_low=self.person_low + t * (self.close_low - self.person_low),
                       person_high=self.person_high + t * (self.close_high - self.person_high),
                       dilate_frac=(1.0 - t) * self.dilate_frac)


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
        heads = head_shapes((h, w), kept, person_prob, settings) if kept else None
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
