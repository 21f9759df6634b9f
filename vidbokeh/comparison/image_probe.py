"""Compare mode's inputs, read once before any approach runs: the picture, its labelled mask and its depth
ground truth, as the facts and the grid cells the report shows."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..errors import InputError, VidbokehError
from ..media.maps import colourise_depth
from . import grid
from .depth_metrics import constant_baseline, load_depth_png
from .inputs import InputImage
from .records import CompareSettings, ImageInfo


@dataclass
class Probe:
    """What a comparison knows of one input before any approach runs: its facts and its grid cells."""

    info: ImageInfo
    original_cell: np.ndarray | None
    mask_cell: np.ndarray | None
    depth_cell: np.ndarray | None
    depth_range: tuple[float, float] | None



def read_rgb(path: Path) -> np.ndarray:
    from ..media.images import load_image

    return load_image(path).rgb


def read_mask(path: Path, shape: tuple[int, int]) -> np.ndarray:
    mask = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if mask is None:
        raise InputError(f"cannot read mask {path}")
    if mask.shape != shape:
        raise InputError(f"mask {path.name} is {mask.shape[1]}x{mask.shape[0]}, image is {shape[1]}x{shape[0]}")
    return mask


def probe_image(image: InputImage, settings: CompareSettings, out_dir: Path) -> Probe:
    width = settings.grid_cell_width
    try:
        rgb = read_rgb(image.path)
    except (VidbokehError, OSError) as error:
        info = ImageInfo(image.key, image.path, None, None, str(error), image.mask_path, image.depth_path, None)
        return Probe(info, None, None, None, None)
    h, w = rgb.shape[:2]
    mask_cell = depth_cell = depth_range = baseline = None
    if image.mask_path is not None:
        try:
            mask_cell = grid.fit_width(grid.mask_picture(read_mask(image.mask_path, (h, w)) / 255.0), width)
        except VidbokehError:
            mask_cell = None  # reported per run as a note
    if image.depth_path is not None:
        try:
            gt = load_depth_png(image.depth_path, settings.depth_scale)
            valid = gt > 0
            inverse = np.where(valid, 1.0 / np.where(valid, gt, 1.0), np.nan).astype(np.float32)
            depth_cell = grid.fit_width(colourise_depth(inverse), width)
            if valid.any():
                depth_range = (float(gt[valid].min()), float(gt[valid].max()))
                baseline = constant_baseline(gt)
        except VidbokehError:
            depth_cell = None
    grid_path = out_dir / "grids" / f"{image.key}.jpg"
    info = ImageInfo(image.key, image.path, w, h, None, image.mask_path, image.depth_path, grid_path, baseline)
    return Probe(info, grid.fit_width(rgb, width), mask_cell, depth_cell, depth_range)
