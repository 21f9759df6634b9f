"""The issue-2 quality figures behave as defined: untouched, blurred, leaked, composited."""
from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from vidbokeh.errors import InputError
from vidbokeh.quality import QualityFigures, evaluate, local_gradient_energy, regions


@pytest.fixture(scope="module")
def scene() -> tuple[np.ndarray, np.ndarray]:
    """A textured 240x320 picture with a 'person' rectangle in the middle (mask 255)."""
    rng = np.random.default_rng(7)
    noise = rng.integers(0, 256, size=(60, 80, 3), dtype=np.uint8)
    image = cv2.resize(noise, (320, 240), interpolation=cv2.INTER_LINEAR)
    mask = np.zeros((240, 320), np.uint8)
    mask[40:220, 110:210] = 255
    return image, mask


def _composite(image: np.ndarray, alpha: np.ndarray, blurred: np.ndarray) -> np.ndarray:
    a = alpha.astype(np.float32)[..., None]
    return np.clip(a * image + (1 - a) * blurred + 0.5, 0, 255).astype(np.uint8)


def test_identity_output(scene) -> None:
    image, mask = scene
    q = evaluate(image, image.copy(), mask)
    assert isinstance(q, QualityFigures)
    assert q.fg_psnr == math.inf
    assert q.bg_energy == pytest.approx(1.0)
    assert q.sharp_iou < 0.5  # everything kept: the background counts against the IoU
    assert q.leak == 0.0


def test_perfect_mask_composite_scores_well(scene) -> None:
    image, mask = scene
    blurred = cv2.GaussianBlur(image, (0, 0), 6)
    q = evaluate(image, _composite(image, mask > 127, blurred), mask)
    assert q.fg_psnr == math.inf
    assert q.bg_energy < 0.1
    assert q.sharp_iou > 0.9
    assert q.leak == 0.0


def test_blurring_everything_leaks_everything(scene) -> None:
    image, mask = scene
    q = evaluate(image, cv2.GaussianBlur(image, (0, 0), 6), mask)
    assert q.fg_psnr < 30
    assert q.bg_energy < 0.1
    assert q.leak > 0.9
    assert q.sharp_iou < 0.1


def test_half_the_person_blurred(scene) -> None:
    image, mask = scene
    blurred = cv2.GaussianBlur(image, (0, 0), 6)
    alpha = (mask > 127).copy()
    alpha[130:, :] = False  # the lower half of the person is blurred too
    q = evaluate(image, _composite(image, alpha, blurred), mask)
    assert 0.35 < q.leak < 0.65
    assert 0.35 < q.sharp_iou < 0.65


def test_band_around_outline_is_ignored(scene) -> None:
    image, mask = scene
    person, background = regions(mask)
    r = round(0.015 * math.hypot(240, 320))  # 6 px
    assert person[130, 110 + r + 1] and not person[130, 110 + r - 1]
    assert background[130, 110 - r - 1] and not background[130, 110 - r + 1]
    # Blurring only inside the band leaves the figures almost untouched (the energy window,
    # 3 px of Sobel + box reach, sees a little of it from either side).
    blurred = cv2.GaussianBlur(image, (0, 0), 6)
    band = ~(person | background)
    q = evaluate(image, _composite(image, ~band, blurred), mask)
    assert q.fg_psnr == math.inf
    assert q.leak < 0.03 and q.bg_energy > 0.95


def test_energy_is_local_and_scale_aware() -> None:
    flat = np.full((32, 32, 3), 100, np.uint8)
    assert local_gradient_energy(flat).max() == 0.0
    edge = flat.copy()
    edge[:, 16:] = 200
    e = local_gradient_energy(edge)
    assert e[:, 14:18].min() > 0 and e[:, :8].max() == 0.0
    e16 = local_gradient_energy(edge.astype(np.uint16) * 257)
    np.testing.assert_allclose(e16, e, rtol=1e-4, atol=1e-7)


def test_shape_mismatch_is_an_input_error(scene) -> None:
    image, mask = scene
    with pytest.raises(InputError):
        evaluate(image, image[:-1], mask)
    with pytest.raises(InputError):
        evaluate(image, image, mask[:-1])
