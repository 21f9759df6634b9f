"""The labelled per-image grid: the original (and its ground truth), then one row
per run with its depth map, protection mask and result. Labels are drawn with
``cv2.putText`` on a band above each picture. All arrays are RGB uint8."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..errors import OutputError

FONT = cv2.FONT_HERSHEY_SIMPLEX
BAND_LINE = 18  # pixels per label line
PAD = 4
BACKGROUND = (24, 24, 24)
TEXT = (235, 235, 235)
WARNING = (255, 190, 40)  # labels of runs on synthetic (or otherwise noted) weights


@dataclass(frozen=True)
class Cell:
    picture: np.ndarray | None  # None: a text-only cell (no depth, failure)
    lines: tuple[str, ...]
    warn_line: int | None = None  # index of the line drawn in the warning colour (weights note)


def fit_width(rgb: np.ndarray, width: int) -> np.ndarray:
    h, w = rgb.shape[:2]
    height = max(1, round(h * width / w))
    interpolation = cv2.INTER_AREA if width < w else cv2.INTER_LINEAR
    return cv2.resize(rgb, (width, height), interpolation=interpolation)


def mask_picture(protect: np.ndarray) -> np.ndarray:
    """Protection 0..1 as grey RGB (white = kept sharp)."""
    grey = (np.clip(protect, 0, 1) * 255).astype(np.uint8)
    return np.repeat(grey[:, :, None], 3, axis=2)


def _fit_text(text: str, width: int) -> tuple[str, float]:
    scale = 0.45
    while scale > 0.3 and cv2.getTextSize(text, FONT, scale, 1)[0][0] > width - 2 * PAD:
        scale -= 0.025
    while len(text) > 4 and cv2.getTextSize(text, FONT, scale, 1)[0][0] > width - 2 * PAD:
        text = text[:-4] + "..."
    return text, scale


def render_cell(cell: Cell, width: int, picture_height: int, band_lines: int) -> np.ndarray:
    band = band_lines * BAND_LINE + PAD
    canvas = np.full((band + picture_height, width, 3), BACKGROUND, np.uint8)
    for index, line in enumerate(cell.lines[:band_lines]):
        text, scale = _fit_text(line, width)
        colour = WARNING if index == cell.warn_line else TEXT
        cv2.putText(canvas, text, (PAD, (index + 1) * BAND_LINE - 4), FONT, scale, colour, 1, cv2.LINE_AA)
    if cell.picture is not None:
        picture = fit_width(cell.picture, width)[:picture_height]
        canvas[band:band + picture.shape[0]] = picture
    return canvas


def compose_grid(rows: list[list[Cell]], width: int, picture_height: int) -> np.ndarray:
    """Rows of cells into one RGB image, every cell ``width`` wide, rows padded to the widest."""
    columns = max(len(row) for row in rows)
    band_lines = max(len(cell.lines) for row in rows for cell in row)
    rendered_rows = []
    for row in rows:
        cells = [render_cell(cell, width, picture_height, band_lines) for cell in row]
        blank = np.full_like(cells[0], BACKGROUND)
        cells += [blank] * (columns - len(cells))
        rendered_rows.append(np.concatenate(
            [np.concatenate([c, np.full((c.shape[0], 2, 3), 0, np.uint8)], axis=1) for c in cells], axis=1))
    gap = np.zeros((2, rendered_rows[0].shape[1], 3), np.uint8)
    stacked = []
    for row in rendered_rows:
        stacked += [row, gap]
    return np.concatenate(stacked, axis=0)


def write_jpeg(path: Path, rgb: np.ndarray, quality: int = 90) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    ok = cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise OutputError(f"cannot write {path}")
