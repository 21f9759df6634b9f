"""Video's protection mask held steady where the picture holds still.

Each frame's mask is made afresh: the segmenter's soft edges shift a little as the rest of the frame changes,
people are looked for every few frames and a weak detection comes and goes, so a still bystander or the edge of
a still subject turns a little sharper and blurrier from frame to frame: flicker the picture itself does not
have. Where a pixel of the frame is unchanged since the frame before (its grey level moved by at most
``still``), the mask moves only ``follow`` of the way to the new one; where the picture changes (a subject who
moves, a camera that pans, a scene cut), the new mask is taken as it is, so a moving subject is not trailed (a
plain patch that moves without changing its pixels is held like a still one: small, see the panned figures).

Figures (docs/benchmarks.md): on clips made of the shared labelled photos, each person moved over the photo's
still rest (``tools/eval_subjects.py --moved``), median flicker ratio 1.091 -> 1.047 and sharp_iou 0.655 -> 0.664
for the same leak (0.034); the breakdance clip's flicker 0.871 -> 0.832, the juggler's 0.971 -> 0.950 (60 frames); the
photos seen through a panning camera (``--panned``) sharp_iou 0.697 -> 0.696, leak 0.021 -> 0.022; ~1 ms of CPU a
frame on the 640-px working copy.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from vidbokeh.errors import UsageError


@dataclass(frozen=True)
class SteadySettings:
    follow: float = 0.3  # where the picture is unchanged, the mask moves this share of the way a frame (1: off)
    still: int = 4  # a pixel is unchanged when its grey level moved by at most this since the frame before

    def __post_init__(self) -> None:
        if not 0.0 < self.follow <= 1.0:
            raise UsageError(f"follow must be in (0, 1], got {self.follow}")
        if not 0 <= self.still <= 255:
            raise UsageError(f"still must be in [0, 255], got {self.still}")


class SteadyMask:
    """One stream's steadied mask: ``update(rgb, mask)`` frame after frame, the picture and its mask of one size
    (a new size starts over)."""

    def __init__(self, settings: SteadySettings = SteadySettings()) -> None:
        self.settings = settings
        self._grey: np.ndarray | None = None
        self._mask: np.ndarray | None = None

    def update(self, rgb: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """``mask`` (HxW float32 of ``rgb``'s size) held steady where ``rgb`` (HxWx3 uint8 RGB) is unchanged since
        the frame before; a new array (``mask`` itself is left as it is)."""
        grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        before, held = self._grey, self._mask
        out = mask.astype(np.float32, copy=True)
        if self.settings.follow < 1.0 and held is not None and held.shape == out.shape and before.shape == grey.shape:
            still = cv2.absdiff(grey, before) <= self.settings.still
            step = cv2.addWeighted(held, 1.0 - self.settings.follow, out, self.settings.follow, 0.0)
            out[still] = step[still]
        self._grey, self._mask = grey, out.copy()  # the caller may work on what it gets in place
        return out
