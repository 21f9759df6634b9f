"""The uniform renderer's uint8 fast path (approaches without depth): protected pixels exact, close to the
full-resolution float reference."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from vidbokeh.stages.bokeh import BokehSettings, render_uniform


def _texture(h: int, w: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (max(1, h // 4), max(1, w // 4), 3), dtype=np.uint8)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


@pytest.mark.parametrize("shape", [(203, 301), (240, 320), (97, 513)])
def test_uniform_blur_at_reduced_resolution_keeps_protected_pixels_exact(shape) -> None:
    h, w = shape
    img = _texture(h, w, seed=1)
    protect = np.zeros((h, w), np.float32)
    cv2.ellipse(protect, (w // 2, h // 2), (w // 5, h // 3), 0, 0, 360, 1.0, -1)
    protect = cv2.GaussianBlur(protect, (0, 0), 3)
    protect[protect > 0.97] = 1.0
    radius = 0.04 * np.hypot(h, w)  # blurred at 1/4 or 1/8 of the size
    out = render_uniform(img, radius, protect)
    assert out.shape == img.shape and out.dtype == np.uint8
    kept = protect == 1.0
    assert kept.any() and np.array_equal(out[kept], img[kept])
    # the reduced-resolution uint8 path agrees with the full-resolution float reference
    ref = render_uniform(img, radius, protect, BokehSettings(full_resolution=True))
    diff = np.abs(out.astype(np.float32) - ref.astype(np.float32))
    assert diff.mean() <= 2.0
    assert np.percentile(diff, 99) <= 12.0


def test_uniform_weakly_fed_pixels_keep_their_colour() -> None:
    # premultiplied in uint16: a pixel feeding the blur with a small weight still brings its own colour
    h, w = 64, 96
    img = np.zeros((h, w, 3), np.uint8)
    img[..., 0], img[..., 1], img[..., 2] = 37, 141, 229
    protect = np.full((h, w), 0.49, np.float32)  # feed = 1 - 0.49 / 0.5 = 0.02
    out = render_uniform(img, 20.0, protect)
    assert np.abs(out.astype(int) - img.astype(int)).max() <= 1


def test_uniform_without_protection_is_the_plain_blur() -> None:
    img = _texture(120, 200, seed=3)
    out = render_uniform(img, 16.0, None)
    ref = render_uniform(img, 16.0, None, BokehSettings(full_resolution=True))
    assert np.abs(out.astype(np.float32) - ref.astype(np.float32)).mean() <= 2.0
    assert np.abs(np.diff(out.astype(np.float32), axis=1)).mean() < 0.5 * np.abs(
        np.diff(img.astype(np.float32), axis=1)).mean()
