"""Focus choice, CoC map semantics (far blurs most) and the presets."""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pytest

from vidbokeh.errors import InputError, UsageError
from vidbokeh.stages.faces import Face, main_face
from vidbokeh.stages.focus import FocusSettings, choose_focus, coc_map, normalise_depth, otsu_threshold
from vidbokeh.stages.presets import DEFAULT_PRESET, PRESETS, get_preset


@dataclass(frozen=True)
class _Face:  # the attributes faces.Face has
    x0: float
    y0: float
    x1: float
    y1: float


def _ramp(h: int = 60, w: int = 200, near: float = 10.0, far: float = 1.0) -> np.ndarray:
    """Inverse depth falling from the left (near) to the right (far)."""
    return np.tile(np.linspace(near, far, w, dtype=np.float32), (h, 1))


def test_normalise_depth_is_robust_and_scale_shift_invariant() -> None:
    depth = _ramp()
    norm = normalise_depth(depth)
    assert norm.dtype == np.float32 and norm.min() == 0.0 and norm.max() == 1.0
    assert norm[0, 0] == 1.0 and norm[0, -1] == 0.0  # larger inverse depth = nearer = 1
    assert np.allclose(normalise_depth(depth * 37.0 + 5.0), norm, atol=1e-5)
    spiky = depth.copy()
    spiky[0, :3] = 1e6  # a few outliers must not squash the rest
    assert np.allclose(normalise_depth(spiky)[5:], norm[5:], atol=0.02)
    assert np.all(normalise_depth(np.full((4, 4), 3.0)) == 0.5)
    with pytest.raises(InputError):
        normalise_depth(np.zeros((2, 2, 2)))


def test_far_background_gets_more_blur_than_near() -> None:
    depth = _ramp()
    h, w = depth.shape
    diag = float(np.hypot(h, w))
    settings = FocusSettings(max_blur=0.05, dof=0.05, ramp=0.5)
    coc = coc_map(depth, 1.0, settings, diag)  # focus on the nearest part
    row = coc[0]
    assert row[0] == 0.0  # the focus itself is sharp
    assert np.all(np.diff(row) >= 0.0)  # blur grows monotonically towards the far end
    assert row[-1] == pytest.approx(settings.max_blur * diag, rel=1e-5)  # far end: full blur
    assert row[w // 4] < row[w // 2] < row[-1]
    assert coc.min() >= 0.0  # nothing in front of the focus: no negative CoC


def test_dof_band_is_sharp_and_blur_is_linear_in_inverse_depth() -> None:
    depth = _ramp()
    norm = normalise_depth(depth)
    diag = 100.0
    settings = FocusSettings(max_blur=0.1, dof=0.1, ramp=0.4)
    coc = coc_map(depth, 0.8, settings, diag)
    in_band = np.abs(norm - 0.8) <= 0.1 - 1e-4
    assert np.all(coc[in_band] == 0.0)
    behind = (norm < 0.7) & (norm > 0.3 + 1e-3)
    expected = (0.7 - norm[behind]) / 0.4 * 10.0
    assert np.allclose(coc[behind], expected, atol=1e-3)


def test_foreground_blurs_only_when_asked() -> None:
    depth = _ramp()
    diag = float(np.hypot(*depth.shape))
    norm = normalise_depth(depth)
    nearer = norm > 0.5 + 0.05
    plain = coc_map(depth, 0.5, FocusSettings(dof=0.05), diag)
    assert np.all(plain[nearer] == 0.0) and plain.min() == 0.0
    with_fg = coc_map(depth, 0.5, FocusSettings(dof=0.05, blur_foreground=True), diag)
    assert np.all(with_fg[nearer & (norm > 0.6)] < 0.0)  # negative: in front of the focus
    assert np.all(with_fg[norm < 0.4] > 0.0)
    assert np.array_equal(with_fg[norm < 0.45], plain[norm < 0.45])


def test_choose_focus_prefers_explicit_values_then_point() -> None:
    depth = _ramp()
    norm = normalise_depth(depth)
    assert choose_focus(depth, settings=FocusSettings(focus=0.3)) == 0.3
    at_pixel = choose_focus(depth, settings=FocusSettings(focus_point=(150.0, 30.0)))
    assert at_pixel == pytest.approx(float(norm[30, 150]), abs=0.02)
    at_fraction = choose_focus(depth, settings=FocusSettings(focus_point=(0.25, 0.5)))
    assert at_fraction == pytest.approx(float(norm[30, 50]), abs=0.02)
    with pytest.raises(UsageError):
        choose_focus(depth, settings=FocusSettings(focus_point=(500.0, 30.0)))


def test_choose_focus_uses_the_main_face_then_the_mask_then_the_centre() -> None:
    h, w = 120, 200
    depth = np.full((h, w), 1.0, np.float32)
    depth[20:60, 90:110] = 8.0  # a central face, near
    depth[15:60, 170:195] = 5.0  # a slightly larger face at the edge, farther
    depth[80:100, 10:30] = 9.0  # some other near thing
    central, edge = _Face(90, 20, 110, 60), _Face(170, 15, 195, 60)
    norm = normalise_depth(depth)
    # "largest and most central": the edge face is bigger but the central one wins here
    assert main_face([Face(170, 15, 195, 60, 1.0), Face(90, 20, 110, 60, 1.0)], (h, w)).x0 == 90
    assert choose_focus(depth, [edge, central]) == pytest.approx(float(norm[40, 100]))
    assert choose_focus(depth, [(170, 15, 195, 60)]) == pytest.approx(float(norm[40, 180]))
    assert main_face([Face(150, 0, 200, 80, 1.0), Face(90, 20, 110, 60, 1.0)], (h, w)).x0 == 150  # larger wins
    mask = np.zeros((h, w), np.float32)
    mask[80:100, 10:30] = 1.0
    assert choose_focus(depth, [], mask) == pytest.approx(float(norm[90, 20]))
    assert choose_focus(depth, [], None) == pytest.approx(float(norm[60, 100]))
    # faces given in the pixels of a larger image are scaled onto the depth map
    big = choose_focus(depth, [_Face(180, 40, 220, 120)], image_size=(2 * h, 2 * w))
    assert big == pytest.approx(float(norm[40, 100]))


def test_histogram_split_keeps_the_whole_near_class_sharp() -> None:
    h, w = 80, 160
    rng = np.random.default_rng(0)
    depth = np.where(np.arange(w)[None, :] < 60, 9.0, 2.0).astype(np.float32) + rng.normal(0, 0.2, (h, w)).astype(
        np.float32)
    norm = normalise_depth(depth)
    split = otsu_threshold(norm)
    assert (norm[:, 60:] < split).mean() > 0.99 and norm[:, :60].min() > split  # between the classes
    focus = float(np.median(norm[:, :60]))
    narrow = coc_map(depth, focus, FocusSettings(dof=0.01, ramp=0.2), 100.0)
    adaptive = coc_map(depth, focus, FocusSettings(dof=0.01, ramp=0.2, histogram_split=True), 100.0)
    assert (narrow[:, :60] > 0).mean() > 0.2  # a narrow band blurs part of the noisy subject
    assert np.all(adaptive[:, :60][norm[:, :60] >= split] == 0.0)
    assert (adaptive[:, 60:] > 0.0).mean() > 0.97  # the background still blurs


def test_presets_have_the_right_semantics() -> None:
    assert set(PRESETS) == {"conservative", "face_aware", "adaptive", "portrait"}
    assert get_preset().name == DEFAULT_PRESET == "portrait"
    with pytest.raises(UsageError):
        get_preset("inverted")
    conservative, face_aware = get_preset("conservative"), get_preset("face_aware")
    assert conservative.focus.max_blur < face_aware.focus.max_blur
    assert face_aware.protect_faces and get_preset("adaptive").focus.histogram_split
    depth = _ramp()
    diag = float(np.hypot(*depth.shape))
    for preset in PRESETS.values():
        coc = coc_map(depth, 1.0, preset.focus, diag)
        row = coc[0]
        assert row[0] == 0.0 and row[-1] > 0.0, preset.name  # near sharp, far blurred
        assert np.all(np.diff(row) >= 0.0), preset.name
        assert coc.min() >= 0.0, preset.name
    # conservative: the middle distance stays sharp where face_aware already blurs it
    norm = normalise_depth(depth)[0]
    middle = np.argmin(np.abs(norm - 0.9))
    assert coc_map(depth, 1.0, conservative.focus, diag)[0, middle] == 0.0
    assert coc_map(depth, 1.0, face_aware.focus, diag)[0, middle] > 0.0


def test_settings_are_validated() -> None:
    with pytest.raises(UsageError):
        FocusSettings(max_blur=-0.1)
    with pytest.raises(UsageError):
        FocusSettings(focus=1.5)
    with pytest.raises(UsageError):
        FocusSettings(ramp=0.0)
    with pytest.raises(UsageError):
        coc_map(_ramp(), 2.0, FocusSettings(), 100.0)
    assert replace(FocusSettings(), max_blur=0.01).max_blur == 0.01


def test_otsu_split_is_opencvs_level():
    """otsu_threshold works from a 256-bin histogram (so it runs on any backend) and finds OpenCV's level."""
    import cv2

    rng = np.random.default_rng(4)
    for k in range(12):
        norm = np.clip(rng.normal(0.2 + 0.05 * k, 0.15, (60, 80)), 0.0, 1.0).astype(np.float32)
        if k % 2:
            norm[:30] = np.clip(rng.normal(0.8, 0.05, (30, 80)), 0.0, 1.0)
        u8 = np.clip(norm * 255.0 + 0.5, 0, 255).astype(np.uint8)
        level, _ = cv2.threshold(u8, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
        assert otsu_threshold(norm) == level / 255.0
