"""Temporal smoothing: depth alignment + averaging, scene cuts, motion gating, focus puller, flicker."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from vidbokeh.errors import UsageError
from vidbokeh.flicker import FlickerMeter, flicker_ratio
from vidbokeh.stages.scene_cut import SceneCutDetector, colour_histogram, histogram_distance
from vidbokeh.stages.scale_shift_fit import fit_scale_shift
from vidbokeh.stages.smoothing import DepthSmoother, FocusPuller, SmoothingSettings

HEIGHT, WIDTH = 144, 256


def static_scene() -> np.ndarray:
    """A relative inverse-depth map: floor gradient, a near disc (a 'person'), some texture."""
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    depth = 0.2 + 0.4 * yy / HEIGHT
    depth += 0.5 * (((xx - 128) ** 2 + (yy - 80) ** 2) < 40 ** 2)
    depth += 0.05 * np.sin(xx / 7.0) * np.cos(yy / 5.0)
    return depth.astype(np.float32)


def other_scene() -> np.ndarray:
    """Completely different content: a left-right ramp with a near box on the right."""
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    depth = 1.0 - 0.6 * xx / WIDTH
    depth[20:70, 170:240] += 0.8
    return depth.astype(np.float32)


def with_random_scale_shift(truth: np.ndarray, rng: np.random.Generator, noise: float
                            ) -> tuple[np.ndarray, float, float]:
    """What a relative-depth model gives: truth = scale * map + shift for a per-frame scale/shift."""
    scale, shift = rng.uniform(0.4, 2.5), rng.uniform(-1.5, 1.5)
    noisy = truth + rng.normal(0.0, noise, truth.shape)
    return ((noisy - shift) / scale).astype(np.float32), scale, shift


def relative_variation(frames: list[np.ndarray]) -> float:
    """Mean |frame[t] - frame[t-1]| relative to each frame's spread (scale-free, shift-free)."""
    changes = [np.mean(np.abs(b - a)) / np.std(b) for a, b in zip(frames, frames[1:])]
    return float(np.mean(changes))


def per_frame_normalised(frame: np.ndarray) -> np.ndarray:
    low, high = np.percentile(frame, [2, 98])
    return np.clip((frame - low) / (high - low), 0.0, 1.0)


def solid_frame(colour: tuple[int, int, int]) -> np.ndarray:
    frame = np.empty((36, 64, 3), np.uint8)
    frame[:] = colour
    return frame


# ---------------------------------------------------------------- alignment

@pytest.mark.parametrize("outlier_kind", ["none", "random_values", "wild_values", "shifted_region"])
def test_alignment_recovers_known_scale_and_shift_with_20_percent_outliers(outlier_kind: str) -> None:
    rng = np.random.default_rng(7)
    truth = static_scene().ravel()
    worst_scale_error = worst_shift_error = 0.0
    for _ in range(10):
        source, scale, shift = with_random_scale_shift(truth, rng, noise=0.01)
        outliers = rng.choice(truth.size, truth.size // 5, replace=False)
        if outlier_kind == "random_values":
            source[outliers] = rng.uniform(source.min(), source.max(), outliers.size)
        elif outlier_kind == "wild_values":
            source[outliers] = source.mean() + 20 * source.std() * rng.uniform(-1, 1, outliers.size)
        elif outlier_kind == "shifted_region":  # a moving object: a fifth of the map changed depth
            source.reshape(HEIGHT, WIDTH)[:, : WIDTH // 5] += 2.0 * source.std()
        samples = rng.choice(truth.size, SmoothingSettings().fit_samples, replace=False)
        fit = fit_scale_shift(source[samples], truth[samples])
        assert fit is not None
        worst_scale_error = max(worst_scale_error, abs(fit.scale / scale - 1.0))
        worst_shift_error = max(worst_shift_error, abs(fit.shift - shift))
        assert fit.inlier_fraction > 0.75
    assert worst_scale_error < 0.02
    assert worst_shift_error < 0.03


def test_plain_least_squares_is_not_enough_for_these_outliers() -> None:
    """Guards the test above: the outliers used there do bias an ordinary least-squares fit."""
    rng = np.random.default_rng(7)
    truth = static_scene().ravel()
    source, scale, _ = with_random_scale_shift(truth, rng, noise=0.01)
    outliers = rng.choice(truth.size, truth.size // 5, replace=False)
    source[outliers] = source.mean() + 20 * source.std() * rng.uniform(-1, 1, outliers.size)
    ls_scale, _ = np.polyfit(source, truth, 1)
    assert abs(ls_scale / scale - 1.0) > 0.2


def test_alignment_of_a_constant_map_is_refused() -> None:
    truth = static_scene().ravel()
    assert fit_scale_shift(np.full_like(truth, 3.0), truth) is None


# ---------------------------------------------------------------- depth smoother

def test_static_scene_flicker_is_far_below_raw_and_unaligned_average() -> None:
    rng = np.random.default_rng(1)
    truth = static_scene()
    raw = [with_random_scale_shift(truth, rng, noise=0.02)[0] for _ in range(40)]
    strength = 0.8
    smoother = DepthSmoother(SmoothingSettings(strength=strength))
    smoothed = [smoother.update(depth) for depth in raw]
    unaligned, running = [], None
    for depth in raw:
        running = depth if running is None else strength * running + (1 - strength) * depth
        unaligned.append(running)

    settle = 10  # let the averages fill
    raw_variation = relative_variation(raw[settle:])
    smoothed_variation = relative_variation(smoothed[settle:])
    unaligned_variation = relative_variation(unaligned[settle:])
    assert smoothed_variation < 0.1 * raw_variation
    assert smoothed_variation < 0.2 * unaligned_variation
    # with per-frame normalisation (which hides scale/shift) only noise is left: still reduced
    raw_noise = relative_variation([per_frame_normalised(d) for d in raw[settle:]])
    smoothed_noise = relative_variation([per_frame_normalised(d) for d in smoothed[settle:]])
    assert smoothed_noise < 0.6 * raw_noise
    # and the estimate is the scene itself, in the first frame's units
    fit = np.polyfit(smoothed[-1].ravel(), truth.ravel(), 1)
    assert np.abs(np.polyval(fit, smoothed[-1]) - truth).mean() < 0.01


def test_strength_zero_is_passthrough() -> None:
    rng = np.random.default_rng(2)
    smoother = DepthSmoother(SmoothingSettings(strength=0.0))
    for _ in range(5):
        depth = rng.normal(size=(HEIGHT, WIDTH)).astype(np.float32)
        assert np.array_equal(smoother.update(depth, solid_frame((10, 20, 30))), depth)


@pytest.mark.parametrize("give_frames", [True, False], ids=["cut_from_frame", "cut_from_depth"])
def test_scene_cut_restarts_without_blending_old_content(give_frames: bool) -> None:
    rng = np.random.default_rng(3)
    smoother = DepthSmoother(SmoothingSettings(strength=0.9))
    for _ in range(10):
        depth = with_random_scale_shift(static_scene(), rng, noise=0.01)[0]
        smoother.update(depth, solid_frame((200, 40, 40)) if give_frames else None)
        assert not smoother.last_cut
    new_depth = with_random_scale_shift(other_scene(), rng, noise=0.01)[0]
    output = smoother.update(new_depth, solid_frame((30, 60, 220)) if give_frames else None)
    assert smoother.last_cut and smoother.last_cut_reason == ("frame" if give_frames else "depth")
    # the output is the new map after a positive affine map: nothing of the old scene remains
    assert leftover_of_old_content(new_depth, output) < 1e-4
    # and smoothing carries on normally in the new scene
    smoother.update(with_random_scale_shift(other_scene(), rng, noise=0.01)[0],
                    solid_frame((30, 60, 220)) if give_frames else None)
    assert not smoother.last_cut


def leftover_of_old_content(new_depth: np.ndarray, output: np.ndarray) -> float:
    """Largest deviation of `output` from the best positive affine map of `new_depth`, per spread."""
    scale, shift = np.polyfit(new_depth.ravel(), output.ravel(), 1)
    assert scale > 0
    return float(np.abs(output - (scale * new_depth + shift)).max() / np.std(output))


def test_leftover_measure_sees_a_small_blend_of_the_old_scene() -> None:
    """Guards the cut test: a 5% blend of the old scene into the new one is clearly detected."""
    new_depth, old_depth = other_scene(), static_scene()
    assert leftover_of_old_content(new_depth, new_depth * 3.0 + 1.0) < 1e-4
    assert leftover_of_old_content(new_depth, 0.95 * new_depth + 0.05 * old_depth) > 0.02


def test_cut_seen_only_in_the_picture_restarts() -> None:
    """A cut to a similar-looking depth layout is found from the frames' colours alone."""
    rng = np.random.default_rng(12)
    smoother = DepthSmoother(SmoothingSettings(strength=0.9))
    for _ in range(5):
        smoother.update(with_random_scale_shift(static_scene(), rng, noise=0.01)[0],
                        solid_frame((200, 40, 40)))
    similar = np.roll(static_scene(), 12, axis=1)  # another shot, same kind of layout
    new_depth = with_random_scale_shift(similar, rng, noise=0.01)[0]
    output = smoother.update(new_depth, solid_frame((30, 60, 220)))
    assert smoother.last_cut and smoother.last_cut_reason == "frame"
    assert leftover_of_old_content(new_depth, output) < 1e-4
    # guard: the same depth without the colour change is smoothed, not restarted
    smoother = DepthSmoother(SmoothingSettings(strength=0.9))
    for _ in range(5):
        smoother.update(with_random_scale_shift(static_scene(), rng, noise=0.01)[0],
                        solid_frame((200, 40, 40)))
    output = smoother.update(new_depth, solid_frame((200, 40, 40)))
    assert not smoother.last_cut
    assert leftover_of_old_content(new_depth, output) > 0.01


def test_size_change_restarts() -> None:
    rng = np.random.default_rng(4)
    smoother = DepthSmoother()
    smoother.update(with_random_scale_shift(static_scene(), rng, noise=0.01)[0])
    smaller = cv2.resize(static_scene(), (128, 72))
    output = smoother.update(smaller)
    assert smoother.last_cut and smoother.last_cut_reason == "size" and output.shape == (72, 128)
    assert np.corrcoef(output.ravel(), smaller.ravel())[0, 1] > 0.9999


def moving_square_sequence(rng: np.random.Generator, frames: int
                           ) -> tuple[list[np.ndarray], list[np.ndarray], list[tuple[float, float]]]:
    """A near square sliding right over the static scene; returns maps, truths and scale/shifts."""
    maps, truths, transforms = [], [], []
    for index in range(frames):
        truth = static_scene()
        left = 10 + 6 * index
        truth[20:60, left:left + 30] = 1.6
        depth, scale, shift = with_random_scale_shift(truth, rng, noise=0.01)
        maps.append(depth)
        truths.append(truth)
        transforms.append((scale, shift))
    return maps, truths, transforms


def trail_error(settings: SmoothingSettings) -> tuple[float, float]:
    """Mean error (truth units) where the square was 3 to 6 frames ago but is no longer, and
    where it is now."""
    rng = np.random.default_rng(5)
    maps, truths, transforms = moving_square_sequence(rng, 25)
    smoother = DepthSmoother(settings)
    outputs = [smoother.update(depth) for depth in maps]
    scale, shift = transforms[0]  # the estimate lives in the first frame's units
    trail, square = [], []
    for index in range(10, 25):
        error = np.abs(scale * outputs[index] + shift - truths[index])
        now = truths[index] == 1.6
        vacated = ((truths[index - 6] == 1.6) | (truths[index - 3] == 1.6)) & ~now
        trail.append(error[vacated].mean())
        square.append(error[now].mean())
    return float(np.mean(trail)), float(np.mean(square))


def test_moving_object_leaves_no_ghost_trail() -> None:
    square_contrast = 1.0  # the square stands ~1.0 above the background behind it
    trail, square = trail_error(SmoothingSettings(strength=0.9))
    print(f"moving square: trail error {trail:.4f}, error on the square {square:.4f}")
    assert trail < 0.05 * square_contrast
    assert square < 0.05 * square_contrast
    # guard: without the motion gate the same sequence does leave a trail
    ungated_trail, _ = trail_error(SmoothingSettings(strength=0.9, motion_sigmas=1e6, motion_floor=1e6))
    assert ungated_trail > 0.2 * square_contrast


def test_degenerate_maps_do_not_break_the_estimate() -> None:
    rng = np.random.default_rng(6)
    smoother = DepthSmoother()
    good = smoother.update(with_random_scale_shift(static_scene(), rng, noise=0.01)[0])
    held = smoother.update(np.full((HEIGHT, WIDTH), 5.0, np.float32))
    assert np.array_equal(held, good) and smoother.last_alignment is None
    with_holes = with_random_scale_shift(static_scene(), rng, noise=0.01)[0]
    with_holes[:10, :10] = np.nan
    with_holes[50, 50] = np.inf
    output = smoother.update(with_holes)
    assert np.isfinite(output).all()
    assert np.abs(output[:10, :10] - good[:10, :10]).max() < 1e-5


def test_first_map_with_constant_value_then_real_map_restarts() -> None:
    smoother = DepthSmoother()
    smoother.update(np.zeros((HEIGHT, WIDTH), np.float32))
    real = static_scene()
    output = smoother.update(real)
    assert np.corrcoef(output.ravel(), real.ravel())[0, 1] > 0.9999


def test_reset_forgets_history() -> None:
    rng = np.random.default_rng(8)
    smoother = DepthSmoother()
    for _ in range(3):
        smoother.update(with_random_scale_shift(static_scene(), rng, noise=0.01)[0])
    smoother.reset()
    fresh = other_scene()
    assert np.array_equal(smoother.update(fresh), fresh)


def test_settings_are_validated() -> None:
    with pytest.raises(UsageError):
        SmoothingSettings(strength=1.0)
    with pytest.raises(UsageError):
        SmoothingSettings(strength=-0.1)
    with pytest.raises(UsageError):
        SmoothingSettings(focus_max_speed=0)


# ---------------------------------------------------------------- scene-cut detector

def test_histogram_cut_detector() -> None:
    detector = SceneCutDetector(threshold=0.5)
    rng = np.random.default_rng(9)
    base = rng.integers(0, 120, (36, 64, 3)).astype(np.uint8)
    assert not detector.update(base)
    noisy = np.clip(base.astype(int) + rng.integers(-8, 9, base.shape), 0, 255).astype(np.uint8)
    assert not detector.update(noisy)
    assert not detector.update(np.roll(noisy, 10, axis=1))  # content moves: same colours
    assert detector.update(255 - noisy)
    assert histogram_distance(colour_histogram(base), colour_histogram(base)) == pytest.approx(0.0, abs=1e-6)
    big = cv2.resize(base, (1280, 720), interpolation=cv2.INTER_NEAREST)  # sampled on a grid
    assert histogram_distance(colour_histogram(base), colour_histogram(big)) < 0.05


# ---------------------------------------------------------------- focus puller

FPS = 30.0


def test_focus_step_approaches_monotonically_without_overshoot() -> None:
    puller = FocusPuller(SmoothingSettings())
    puller.update(0.2, 1 / FPS)
    values = [puller.update(0.8, 1 / FPS) for _ in range(int(2 * FPS))]
    assert values[0] < 0.2 + 0.5 * 0.6  # eases in, not a jump
    assert all(b >= a for a, b in zip(values, values[1:]))
    assert max(values) <= 0.8
    assert values[-1] == pytest.approx(0.8, abs=1e-3)
    steps = np.diff([0.2, *values])
    assert steps.max() <= SmoothingSettings().focus_max_speed / FPS + 1e-9


def test_focus_step_down_has_no_overshoot_either() -> None:
    puller = FocusPuller(SmoothingSettings(focus_max_speed=100.0))
    puller.update(0.9, 1 / FPS)
    values = [puller.update(0.1, 1 / FPS) for _ in range(int(2 * FPS))]
    assert all(b <= a for a, b in zip(values, values[1:]))
    assert min(values) >= 0.1


def test_focus_jitter_inside_dead_band_never_moves_it() -> None:
    settings = SmoothingSettings(focus_dead_band=0.03)
    puller = FocusPuller(settings)
    rng = np.random.default_rng(10)
    puller.update(0.5, 1 / FPS)
    values = {puller.update(0.5 + rng.uniform(-0.029, 0.029), 1 / FPS) for _ in range(200)}
    assert values == {0.5}
    # alternating around the band edge does not make it hunt either, after one move
    puller.update(0.56, 1 / FPS)
    settled = [puller.update(0.56, 1 / FPS) for _ in range(90)][-1]
    wiggle = {puller.update(settled + (0.02 if i % 2 else -0.02), 1 / FPS) for i in range(60)}
    assert wiggle == {settled}


def test_focus_jumps_on_cut_and_follows_exactly_when_smoothing_is_off() -> None:
    puller = FocusPuller(SmoothingSettings())
    puller.update(0.1, 1 / FPS)
    assert puller.update(0.9, 1 / FPS, cut=True) == 0.9
    off = FocusPuller(SmoothingSettings(strength=0.0))
    assert [off.update(v, 1 / FPS) for v in (0.1, 0.9, 0.3)] == [0.1, 0.9, 0.3]


# ---------------------------------------------------------------- flicker measure

def test_flicker_ratio_definition_and_streaming() -> None:
    inputs = [np.full((4, 4, 3), v, np.uint8) for v in (10, 14, 10, 14)]
    outputs = [np.full((4, 4, 3), v, np.uint8) for v in (50, 51, 50, 51)]
    assert flicker_ratio(inputs, outputs) == pytest.approx(0.25)
    meter = FlickerMeter()
    for source, result in zip(inputs, outputs):
        meter.add(source, result)
    assert meter.ratio == pytest.approx(0.25)
    assert meter.input_change == pytest.approx(4.0) and meter.output_change == pytest.approx(1.0)
    assert flicker_ratio(inputs[:2], inputs[:2]) == 1.0
    with pytest.raises(ValueError):
        flicker_ratio(inputs, outputs[:3])
    with pytest.raises(ValueError):
        FlickerMeter().ratio


# ---------------------------------------------------------------- real frames

def luminance_depth_stand_in(frame_rgb: np.ndarray, rng: np.random.Generator,
                             noisy: bool = True) -> np.ndarray:
    """TEST INPUT ONLY, not a product fallback: a fake 'relative depth' from a real frame.

    Blurred luminance (bright = near), then what a monocular model does to it from frame to frame:
    a random scale and shift, per-pixel noise and a random low-frequency wobble (if `noisy`).
    """
    luminance = cv2.cvtColor(frame_rgb, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
    depth = cv2.GaussianBlur(luminance, (0, 0), 3.0)
    if not noisy:
        return depth
    height, width = depth.shape
    wobble = cv2.resize(rng.normal(0.0, 0.04, (3, 4)).astype(np.float32), (width, height),
                        interpolation=cv2.INTER_CUBIC)
    depth = depth + wobble + rng.normal(0.0, 0.04, depth.shape).astype(np.float32)
    return (depth * rng.uniform(0.5, 2.0) + rng.uniform(-1.0, 1.0)).astype(np.float32)


def simple_depth_bokeh(frame_rgb: np.ndarray, depth: np.ndarray) -> np.ndarray:
    """Blend a blurred copy in, weighted by the per-frame normalised depth (near stays sharp)."""
    near = per_frame_normalised(depth)[..., None]
    blurred = cv2.GaussianBlur(frame_rgb, (0, 0), 6.0).astype(np.float32)
    return np.clip(near * frame_rgb + (1.0 - near) * blurred, 0, 255).astype(np.uint8)


def decode_frames(path: Path, count: int, size: tuple[int, int]) -> list[np.ndarray]:
    av = pytest.importorskip("av")
    frames = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            frames.append(cv2.resize(frame.to_ndarray(format="rgb24"), size, interpolation=cv2.INTER_AREA))
            if len(frames) == count:
                break
    return frames


def test_real_clip_flicker_with_smoothing_is_at_most_one_and_well_under_unsmoothed(
        samples_dir: Path) -> None:
    clip = samples_dir / "videos" / "intel_asl_book.mkv"
    if not clip.is_file():
        pytest.skip(f"sample clip missing: {clip}")
    frames = decode_frames(clip, 30, (320, 240))
    assert len(frames) == 30
    rng = np.random.default_rng(11)
    depths = [luminance_depth_stand_in(frame, rng) for frame in frames]

    # the floor: the same bokeh driven by the stand-in's clean, steady depth (no model wobble)
    floor = flicker_ratio(frames, [simple_depth_bokeh(frame, luminance_depth_stand_in(
        frame, np.random.default_rng(0), noisy=False)) for frame in frames])
    ratios = {}
    for strength in (0.0, 0.8):
        smoother = DepthSmoother(SmoothingSettings(strength=strength))
        meter = FlickerMeter()
        for frame, depth in zip(frames, depths):
            small = cv2.resize(frame, (80, 60), interpolation=cv2.INTER_AREA)
            smoothed = smoother.update(depth, small)
            assert not smoother.last_cut
            meter.add(frame, simple_depth_bokeh(frame, smoothed))
        ratios[strength] = meter.ratio
    print(f"flicker ratio: steady depth {floor:.3f}, unsmoothed {ratios[0.0]:.3f}, "
          f"smoothed {ratios[0.8]:.3f}")
    assert ratios[0.8] <= 1.0
    assert ratios[0.8] < 0.7 * ratios[0.0]
    # most of the flicker the depth wobble adds on top of the floor is gone
    assert ratios[0.8] - floor < 0.25 * (ratios[0.0] - floor)
