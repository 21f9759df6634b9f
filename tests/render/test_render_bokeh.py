"""The bokeh renderer: exact protection, no halo, no bleed, disc shapes, smooth blur growth."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from vidbokeh.errors import InputError, UsageError
from vidbokeh.stages.bokeh import BokehSettings, disc_kernel, layer_radii, render_bokeh, render_uniform

FULL = BokehSettings(full_resolution=True)


def _texture(h: int, w: int, seed: int = 0, smooth: float = 0.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    noise = rng.random((h, w, 3), dtype=np.float32)
    if smooth > 0:
        noise = cv2.GaussianBlur(noise, (0, 0), smooth)
        noise = (noise - noise.min()) / (noise.max() - noise.min())
    return (noise * 255 + 0.5).astype(np.uint8)


def _energy(img: np.ndarray) -> np.ndarray:
    """Per-pixel squared Sobel gradient of the grey image."""
    grey = img.astype(np.float32).mean(axis=2)
    gx = cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3)
    return gx * gx + gy * gy


def _disc_mask(h: int, w: int, cy: float, cx: float, r: float) -> np.ndarray:
    yy, xx = np.mgrid[:h, :w]
    return ((yy - cy) ** 2 + (xx - cx) ** 2 <= r * r).astype(np.float32)


# ---------------------------------------------------------------- protection and identity


@pytest.mark.parametrize("bloom", [False, True])
@pytest.mark.parametrize("as_float", [False, True])
def test_protected_pixels_are_bit_exact(bloom: bool, as_float: bool) -> None:
    img = _texture(70, 90, seed=1)
    rng = np.random.default_rng(2)
    field = cv2.GaussianBlur(rng.random((70, 90), dtype=np.float32), (0, 0), 6.0)
    protect = np.clip((field - field.mean()) / field.std() * 0.8 + 0.5, 0.0, 1.0)  # soft blobs
    coc = (rng.random((70, 90), dtype=np.float32) * 30.0 - 10.0)
    settings = BokehSettings(highlight_bloom=bloom)
    src = img.astype(np.float32) / 255.0 if as_float else img
    keep = protect == 1.0
    assert keep.sum() > 100 and (~keep).sum() > 100
    for out in (render_bokeh(src, coc, protect, settings), render_uniform(src, 9.0, protect, settings)):
        assert out.dtype == np.uint8 and out.shape == img.shape
        assert np.array_equal(out[keep], img[keep])
        assert not np.array_equal(out[~keep], img[~keep])


@pytest.mark.parametrize("settings", [BokehSettings(), BokehSettings(highlight_bloom=True), FULL])
def test_zero_coc_is_identity(settings: BokehSettings) -> None:
    img = _texture(40, 56, seed=3)
    assert np.array_equal(render_bokeh(img, np.zeros((40, 56), np.float32), None, settings), img)
    assert np.array_equal(render_uniform(img, 0.0, None, settings), img)
    # sub-pixel CoC everywhere is still (almost) the identity
    out = render_bokeh(img, np.full((40, 56), 0.4, np.float32), None, settings)
    assert np.array_equal(out, img)


@pytest.mark.parametrize("shape", [(1, 1), (7, 5), (5, 7), (2, 3), (33, 17), (31, 64)])
@pytest.mark.parametrize("bloom", [False, True])
def test_odd_sizes_and_constant_image_stays_constant(shape: tuple[int, int], bloom: bool) -> None:
    h, w = shape
    rng = np.random.default_rng(4)
    grey = np.full((h, w, 3), 143, np.uint8)
    coc = rng.random((h, w), dtype=np.float32) * 40.0 - 10.0
    protect = rng.random((h, w), dtype=np.float32)
    settings = BokehSettings(highlight_bloom=bloom)
    for out in (render_bokeh(grey, coc, protect, settings), render_bokeh(grey, coc, None, settings),
                render_uniform(grey, 25.0, protect, settings)):
        assert out.shape == (h, w, 3)
        assert np.abs(out.astype(int) - 143).max() <= 1
    img = _texture(h, w, seed=5)
    assert render_bokeh(img, coc, protect, settings).shape == (h, w, 3)


@pytest.mark.parametrize("shape", [(1, 3000), (2000, 2), (3, 700)])
def test_huge_radii_on_thin_images_stay_cheap(shape: tuple[int, int]) -> None:
    h, w = shape
    rng = np.random.default_rng(12)
    img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    mask = rng.random((h, w)) > 0.5  # a boolean mask is accepted too
    bloom = BokehSettings(highlight_bloom=True)
    for out in (render_bokeh(img, np.full((h, w), 1e6, np.float32), mask), render_uniform(img, 1e5, mask),
                render_uniform(img, 1e5, mask, bloom)):
        assert out.shape == img.shape
        assert np.array_equal(out[mask], img[mask])
        assert not np.array_equal(out[~mask], img[~mask])


# ---------------------------------------------------------------- halo and bleed


def _subject_scene(h: int = 120, w: int = 160, bright_subject: bool = True):
    subject = _disc_mask(h, w, h / 2, w / 2, 28)
    bg_level, fg_level = (25, 235) if bright_subject else (235, 25)
    img = np.full((h, w, 3), bg_level, np.uint8)
    img[subject > 0] = fg_level
    return img, subject, bg_level


@pytest.mark.parametrize("use_protect", [True, False])
def test_no_halo_of_sharp_subject_into_blurred_background(use_protect: bool) -> None:
    img, subject, bg_level = _subject_scene()
    radius = 12.0
    coc = np.where(subject > 0, 0.0, radius).astype(np.float32)
    protect = subject if use_protect else None
    outside = cv2.dilate(subject, np.ones((5, 5), np.uint8)) == 0  # bg pixels from 2 px off the edge
    ring = outside & (cv2.dilate(subject, np.ones((31, 31), np.uint8)) > 0)
    outs = [render_bokeh(img, coc, protect, s) for s in (BokehSettings(), FULL, BokehSettings(highlight_bloom=True))]
    if use_protect:
        outs.append(render_uniform(img, radius, protect))
    for out in outs:
        assert out[ring].astype(int).max() <= bg_level + 6, "subject colour smeared into the background"
    # the same scene blurred naively does show a halo there (the test can fail)
    naive = cv2.filter2D(img, -1, disc_kernel(radius))
    assert naive[ring].astype(int).max() > bg_level + 60


def test_background_does_not_bleed_over_subject() -> None:
    img, subject, _ = _subject_scene(bright_subject=False)
    img = img.copy()
    img[subject > 0] = _texture(120, 160, seed=6)[subject > 0] // 4  # dark textured subject
    coc = np.where(subject > 0, 0.0, 15.0).astype(np.float32)
    inner = cv2.erode(subject, np.ones((3, 3), np.uint8)) > 0
    for settings in (BokehSettings(), FULL, BokehSettings(highlight_bloom=True)):
        out = render_bokeh(img, coc, None, settings)
        assert np.abs(out[inner].astype(int) - img[inner]).max() <= 1


def test_blurred_foreground_spreads_over_the_sharp_subject() -> None:
    h, w = 80, 120
    img = np.full((h, w, 3), 30, np.uint8)  # subject: dark, in focus
    img[:, :40] = 220  # a bright object nearer than the subject
    coc = np.zeros((h, w), np.float32)
    coc[:, :40] = -10.0
    out = render_bokeh(img, coc, None)
    # just right of the near object's edge the subject is partly covered by its blur
    assert out[:, 42:46].mean() > 60
    # far from it the subject is untouched
    assert np.array_equal(out[:, 60:], img[:, 60:])


@pytest.mark.parametrize("near_coc", [7.0, 8.2, 10.0])
def test_nearer_blurred_region_hides_the_farther_blur_behind_it(near_coc: float) -> None:
    """A region between two layers keeps its full coverage: the far blur does not show through."""
    h, w = 80, 200
    img = np.full((h, w, 3), 200, np.uint8)  # left: far background, bright
    img[:, 100:] = 40  # right: nearer background, dark
    coc = np.full((h, w), 20.0, np.float32)
    coc[:, 100:] = near_coc
    out = render_bokeh(img, coc, None)
    inner = out[10:-10, 100 + int(near_coc) + 2:100 + 19].astype(int)  # reached by the far blur only
    assert np.abs(inner - 40).max() <= 3


# ---------------------------------------------------------------- shapes of the blur


def _point_light_render(radius: float, settings: BokehSettings, size: int = 81) -> np.ndarray:
    img = np.zeros((size, size, 3), np.uint8)
    img[size // 2, size // 2] = 255
    coc = np.full((size, size), radius, np.float32)
    return render_bokeh(img, coc, None, settings)[..., 0].astype(np.float32)


def _lit_radius(out: np.ndarray) -> float:
    """Radius of the disc with the area of the pixels at or above half the maximum."""
    return float(np.sqrt((out >= 0.5 * out.max()).sum() / np.pi))


@pytest.mark.parametrize("full", [True, False])
def test_point_light_becomes_a_disc_of_the_expected_radius(full: bool) -> None:
    radius = 16.0
    settings = BokehSettings(highlight_bloom=True, bloom_gain=60.0, full_resolution=full)
    out = _point_light_render(radius, settings)
    c = out.shape[0] // 2
    assert abs(_lit_radius(out) - radius) <= (1.0 if full else 2.5)
    # a disc, not a Gaussian: flat inside, nothing beyond the rim
    assert out[c, c + int(radius / 2)] >= 0.85 * out[c, c]
    assert out[c + int(radius / 2), c] >= 0.85 * out[c, c]
    assert out[c, c + int(radius) + (2 if full else 8)] == 0
    if full:  # round: as far along the diagonal as along the axes
        d = int(radius / np.sqrt(2.0)) - 1
        assert out[c + d, c + d] >= 0.85 * out[c, c]


@pytest.mark.parametrize("full", [True, False])
def test_polygonal_aperture_gives_polygon_highlights(full: bool) -> None:
    radius = 16.0
    square = BokehSettings(highlight_bloom=True, bloom_gain=60.0, aperture_blades=4, full_resolution=full)
    out = _point_light_render(radius, square)  # vertices on the axes: |x| + |y| <= radius
    c = out.shape[0] // 2
    lit = out >= 0.5 * out.max()
    assert lit[c, c + int(radius) - 3] and lit[c + int(radius) - 3, c]  # near the vertices
    d_in, d_out = int(radius / 2) - 3, int(radius / 2) + 3
    assert lit[c + d_in, c + d_in]
    assert not lit[c + d_out, c + d_out]  # a disc of this radius would light it
    assert not _point_light_render(radius, BokehSettings(highlight_bloom=True, bloom_gain=60.0,
                                                         full_resolution=full))[c + d_out, c + d_out] == 0
    assert abs(lit.sum() - 2 * radius**2) <= (0.1 if full else 0.3) * 2 * radius**2  # square's area
    hexagon = disc_kernel(10.0, blades=6)
    circle = disc_kernel(10.0)
    assert hexagon.shape == circle.shape and not np.allclose(hexagon, circle)


def test_disc_kernel_properties() -> None:
    for r in (0.0, 0.3, 1.0, 2.5, 7.0):
        k = disc_kernel(r)
        assert k.shape[0] == k.shape[1] and k.shape[0] % 2 == 1
        assert abs(float(k.sum()) - 1.0) < 1e-5
        assert np.allclose(k, k.T) and np.allclose(k, k[::-1])
    # area grows with the radius: a radius-7 disc covers ~pi * 49 pixels
    k = disc_kernel(7.0)
    assert abs(float((k >= 0.5 * k.max()).sum()) - np.pi * 49) < 8
    with pytest.raises(UsageError):
        disc_kernel(-1.0)


def test_blur_is_monotonic_in_coc() -> None:
    img = _texture(96, 128, seed=7)
    radii = [0.0, 0.7, 1.5, 3.0, 6.0, 12.0, 24.0]
    for settings in (BokehSettings(), FULL):
        for sign in (1.0, -1.0):  # behind and in front of the focus plane alike
            energies = [float(_energy(render_bokeh(img, np.full((96, 128), sign * r, np.float32), None,
                                                   settings)).mean()) for r in radii]
            assert all(a > b for a, b in zip(energies, energies[1:])), energies
    uniform = [float(_energy(render_uniform(img, r, None)).mean()) for r in radii]
    assert all(a > b for a, b in zip(uniform, uniform[1:])), uniform


def _ramp_blur_profile(coc_row: np.ndarray, settings: BokehSettings) -> np.ndarray:
    """Blur along a horizontal CoC ramp, measured on horizontal stripes (edges blurred across y).

    For a step edge blurred by a disc of radius r the summed squared gradient falls like 1 / r, so
    input energy / output energy per 8-column bin grows linearly with the effective radius.
    """
    h, w = 160, coc_row.size
    rows = np.where((np.arange(h) // 40) % 2 == 0, 40, 210).astype(np.uint8)
    img = np.repeat(np.repeat(rows[:, None, None], w, axis=1), 3, axis=2)
    out = render_bokeh(img, np.tile(coc_row, (h, 1)), None, settings)
    e_in = _energy(img).sum(axis=0)
    e_out = _energy(out).sum(axis=0)
    bins = w // 8
    e_in = e_in[: bins * 8].reshape(bins, 8).sum(axis=1)
    e_out = e_out[: bins * 8].reshape(bins, 8).sum(axis=1)
    return e_in / np.maximum(e_out, 1e-9)


def _is_smooth(profile: np.ndarray) -> bool:
    steps = np.diff(profile[2:-2])  # skip the image borders
    mean_step = float(steps.mean())
    return mean_step > 0 and steps.min() > -0.5 * mean_step and steps.max() < 3.0 * mean_step


def test_smooth_coc_ramp_gives_smooth_blur_without_banding() -> None:
    w = 512
    coc_row = np.linspace(2.0, 14.0, w, dtype=np.float32)
    settings = BokehSettings()
    assert _is_smooth(_ramp_blur_profile(coc_row, settings))
    # the same ramp quantised to the layer radii (what a renderer without interpolation does)
    # shows steps, so this check can fail
    radii = layer_radii(14.0, settings)
    nearest = radii[np.abs(coc_row[:, None] - radii[None, :]).argmin(axis=1)].astype(np.float32)
    assert not _is_smooth(_ramp_blur_profile(nearest, settings))


def test_reduced_resolution_is_close_to_full_resolution() -> None:
    img = _texture(128, 160, seed=9, smooth=2.0)
    coc = np.full((128, 160), 20.0, np.float32)
    coc[40:90, 50:110] = 0.0
    fast = render_bokeh(img, coc, None, BokehSettings()).astype(np.float32)
    full = render_bokeh(img, coc, None, FULL).astype(np.float32)
    diff = np.abs(fast - full)
    assert diff.mean() <= 2.0
    assert np.percentile(diff, 99) <= 12.0
    ramp = np.tile(np.linspace(-18.0, 24.0, 160, dtype=np.float32), (128, 1))  # foreground to background
    fast_r = render_bokeh(img, ramp, None, BokehSettings()).astype(np.float32)
    full_r = render_bokeh(img, ramp, None, FULL).astype(np.float32)
    assert np.abs(fast_r - full_r).mean() <= 2.0
    fast_u = render_uniform(img, 20.0, None).astype(np.float32)
    full_u = render_uniform(img, 20.0, None, FULL).astype(np.float32)
    assert np.abs(fast_u - full_u).mean() <= 2.0


def test_uniform_path_matches_layered_path_for_two_layers() -> None:
    img, subject, _ = _subject_scene()
    img = cv2.add(img, _texture(120, 160, seed=10) // 8)
    coc = np.where(subject > 0, 0.0, 10.0).astype(np.float32)
    layered = render_bokeh(img, coc, subject).astype(np.float32)
    uniform = render_uniform(img, 10.0, subject).astype(np.float32)
    assert np.abs(layered - uniform).mean() <= 1.5


def test_far_background_gets_more_blur_than_near_background() -> None:
    from vidbokeh.stages.focus import FocusSettings, coc_map

    h, w = 96, 256
    img = _texture(h, w, seed=11)
    inverse_depth = np.tile(np.linspace(1.0, 0.05, w, dtype=np.float32), (h, 1))  # left near, right far
    coc = coc_map(inverse_depth, 1.0, FocusSettings(max_blur=0.04, dof=0.05, ramp=0.9), float(np.hypot(h, w)))
    out = render_bokeh(img, coc, None)
    ratio = _energy(out).mean(axis=0) / _energy(img).mean(axis=0)
    near, middle, far = ratio[8:40].mean(), ratio[112:144].mean(), ratio[-40:-8].mean()
    assert near > middle > far


def test_bad_inputs_are_typed_errors() -> None:
    img = _texture(10, 12)
    with pytest.raises(InputError):
        render_bokeh(img, np.zeros((10, 11), np.float32), None)
    with pytest.raises(InputError):
        render_bokeh(img, np.zeros((10, 12), np.float32), np.zeros((9, 12), np.float32))
    with pytest.raises(InputError):
        render_bokeh(img[..., :2], np.zeros((10, 12), np.float32), None)
    with pytest.raises(InputError):
        render_uniform(img.astype(np.int32), 3.0, None)
    with pytest.raises(UsageError):
        render_uniform(img, -1.0, None)
    with pytest.raises(UsageError):
        BokehSettings(aperture_blades=2)
    with pytest.raises(UsageError):
        BokehSettings(layer_ratio=1.0)
