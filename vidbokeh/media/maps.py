"""Writing the side outputs of image mode: depth maps (colourised and 16-bit) and the protection mask.

The 16-bit depth PNG maps the raw relative inverse depth linearly onto 0..65535; the two ends are
stored as PNG text chunks ``vidbokeh.depth_min``/``vidbokeh.depth_max`` so the raw values can be recovered:
``raw = min + png / 65535 * (max - min)``.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from .atomic import AtomicOutput


def colourise_depth(depth: np.ndarray) -> np.ndarray:
    """RGB uint8 visualisation: near (large inverse depth) bright, far dark (inferno), robust to outliers."""
    d = np.asarray(depth, dtype=np.float32)
    finite = np.isfinite(d)
    if not finite.any():
        return np.zeros(d.shape + (3,), np.uint8)
    lo, hi = np.percentile(d[finite], [1, 99])
    norm = np.clip((d - lo) / max(float(hi - lo), 1e-12), 0, 1)
    norm[~finite] = 0
    bgr = cv2.applyColorMap((norm * 255).astype(np.uint8), cv2.COLORMAP_INFERNO)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def depth_to_uint16(depth: np.ndarray) -> tuple[np.ndarray, float, float]:
    d = np.nan_to_num(np.asarray(depth, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    lo, hi = float(d.min()), float(d.max())
    scale = 65535.0 / (hi - lo) if hi > lo else 0.0
    return np.round((d - lo) * scale).astype(np.uint16), lo, hi


def save_depth_maps(depth: np.ndarray, colour_path: Path, raw16_path: Path, *, overwrite: bool = False) -> list[Path]:
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    with AtomicOutput(colour_path, overwrite=overwrite) as tmp:
        Image.fromarray(colourise_depth(depth)).save(tmp, format="PNG")
    raw, lo, hi = depth_to_uint16(depth)
    info = PngInfo()
    info.add_text("vidbokeh.depth_min", repr(lo))
    info.add_text("vidbokeh.depth_max", repr(hi))
    info.add_text("vidbokeh.depth_kind", "relative inverse depth (larger = nearer)")
    with AtomicOutput(raw16_path, overwrite=overwrite) as tmp:
        Image.fromarray(raw).save(tmp, format="PNG", pnginfo=info)  # uint16 -> 16-bit grey PNG
    return [colour_path, raw16_path]


def save_mask(protect: np.ndarray, path: Path, *, overwrite: bool = False) -> Path:
    """The protection mask as 8-bit grey PNG: 255 = kept sharp."""
    from PIL import Image

    m = np.clip(np.asarray(protect, dtype=np.float32), 0, 1)
    with AtomicOutput(path, overwrite=overwrite) as tmp:
        Image.fromarray(np.round(m * 255).astype(np.uint8)).save(tmp, format="PNG")
    return path
