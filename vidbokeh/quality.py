"""Quality figures of a bokeh render against a hand-labelled person mask (issue 2).

Regions. ``r`` = 1.5% of the image diagonal (rounded, at least 1 px). The *person* is the labelled
mask eroded by ``r``; the *background* is the complement of the mask dilated by ``r``. The band of
``r`` pixels on either side of the mask's outline belongs to neither and is ignored, so the
figures judge the subject and the background, not the exact outline (labels are not exact there,
and a renderer legitimately softens a few pixels across it).

Local gradient energy. Luma (Rec. 601 weights, on the image's own value scale normalised to
[0, 1]), 3x3 Sobel x and y, energy = gx^2 + gy^2, averaged over a 5x5 box window.

Figures (``evaluate``):
- ``fg_psnr``: PSNR in dB of output vs input over the person's pixels, all channels, peak 1.0 on
  the normalised scale (``inf`` when identical there).
- ``bg_energy``: sum of the output's local gradient energy over the background divided by the
  input's (1 = untouched, 0 = flat).
- ``sharp_iou``: over *textured* pixels -- the 60% of the evaluated pixels (person and
  background) with the highest input energy -- the IoU between the *kept* pixels (output energy
  >= 0.5 x input energy) and the person.
- ``leak``: share of the person's textured pixels that were not kept (blurred).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from vidbokeh.errors import InputError

BAND_FRACTION = 0.015  # of the diagonal: ignored band on each side of the mask outline
ENERGY_WINDOW = 5  # box window (pixels) averaging the Sobel energy
TEXTURED_SHARE = 0.60  # the share of evaluated pixels with the most input energy
KEEP_RATIO = 0.5  # a pixel is kept sharp when output energy >= this x input energy


@dataclass(frozen=True)
class QualityFigures:
    fg_psnr: float
    bg_energy: float
    sharp_iou: float
    leak: float


def _normalise(image: np.ndarray) -> np.ndarray:
    """Image as float32 HxWxC in [0, 1] (uint8 / uint16 scaled by their range, floats as given)."""
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.ndim != 3:
        raise InputError(f"expected an HxW or HxWxC image, got shape {arr.shape}")
    if arr.dtype == np.uint8:
        return arr.astype(np.float32) / 255.0
    if arr.dtype == np.uint16:
        return arr.astype(np.float32) / 65535.0
    return arr.astype(np.float32)


def _luma(image: np.ndarray) -> np.ndarray:
    if image.shape[2] >= 3:
        return (0.299 * image[..., 0] + 0.587 * image[..., 1] + 0.114 * image[..., 2]).astype(np.float32)
    return image[..., 0]


def local_gradient_energy(image: np.ndarray) -> np.ndarray:
    """Sobel magnitude squared of the luma, box-averaged over ENERGY_WINDOW (HxW float32)."""
    y = _luma(_normalise(image))
    gx = cv2.Sobel(y, cv2.CV_32F, 1, 0, ksize=3, borderType=cv2.BORDER_REFLECT)
    gy = cv2.Sobel(y, cv2.CV_32F, 0, 1, ksize=3, borderType=cv2.BORDER_REFLECT)
    return cv2.blur(gx * gx + gy * gy, (ENERGY_WINDOW, ENERGY_WINDOW), borderType=cv2.BORDER_REFLECT)


def regions(gt_mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(person, background) boolean masks: GT eroded by r and the complement of GT dilated by r."""
    gt = np.asarray(gt_mask)
    if gt.ndim == 3:
        gt = gt[..., 0]
    gt = (gt > (127 if gt.dtype == np.uint8 else 0.5)).astype(np.uint8)
    h, w = gt.shape
    r = max(1, int(round(BAND_FRACTION * math.hypot(h, w))))
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    person = cv2.erode(gt, disc, borderType=cv2.BORDER_REPLICATE).astype(bool)
    background = ~cv2.dilate(gt, disc, borderType=cv2.BORDER_REPLICATE).astype(bool)
    return person, background


def evaluate(input_rgb: np.ndarray, output_rgb: np.ndarray, gt_mask: np.ndarray) -> QualityFigures:
    """The four figures for one image (see the module docstring for the exact definitions)."""
    if np.shape(input_rgb) != np.shape(output_rgb):
        raise InputError(f"input {np.shape(input_rgb)} and output {np.shape(output_rgb)} differ")
    if np.shape(gt_mask)[:2] != np.shape(input_rgb)[:2]:
        raise InputError("the mask and the image differ in size")
    person, background = regions(gt_mask)
    src, out = _normalise(input_rgb), _normalise(output_rgb)

    if person.any():
        mse = float(np.mean((src[person] - out[person]) ** 2))
        fg_psnr = math.inf if mse == 0.0 else 10.0 * math.log10(1.0 / mse)
    else:
        fg_psnr = math.nan

    e_in = local_gradient_energy(src)
    e_out = local_gradient_energy(out)
    bg_in = float(e_in[background].sum(dtype=np.float64))
    bg_energy = float(e_out[background].sum(dtype=np.float64)) / bg_in if bg_in > 0 else math.nan

    evaluated = person | background
    values = e_in[evaluated]
    if values.size == 0:
        return QualityFigures(fg_psnr, bg_energy, math.nan, math.nan)
    threshold = float(np.quantile(values, 1.0 - TEXTURED_SHARE))
    textured = evaluated & (e_in >= threshold) & (e_in > 0)
    kept = e_out >= KEEP_RATIO * e_in
    kept_t, person_t = kept & textured, person & textured
    union = int((kept_t | person_t).sum())
    sharp_iou = int((kept_t & person_t).sum()) / union if union else math.nan
    n_person_t = int(person_t.sum())
    leak = int((person_t & ~kept).sum()) / n_person_t if n_person_t else math.nan
    return QualityFigures(fg_psnr, bg_energy, sharp_iou, leak)
