"""Temporal smoothing of relative depth maps and of the focus plane.

Monocular depth models give relative inverse depth whose scale and shift change from frame to
frame, so a plain running average of the raw maps flickers and smears. `DepthSmoother` first
aligns each new map to the running estimate with a robust (Tukey-weighted) least-squares fit of
`scale * depth + shift` on a fixed subsample of pixels, then blends it into the estimate with an
exponential average whose history weight drops to zero where the aligned map disagrees with the
estimate (motion), so moving people do not leave ghosts. Scene cuts (colour-histogram jump of the
frame, or a map that no longer fits the estimate) and size changes restart the estimate.

`FocusPuller` moves the focus plane like a focus puller: a critically damped spring towards the
target, speed-limited, with a dead band so that jitter of the target never makes it hunt.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from vidbokeh.errors import UsageError
from vidbokeh.stages.scene_cut import SceneCutDetector

_MAD_TO_SIGMA = 1.4826  # median absolute deviation -> standard deviation for Gaussian data
_TUKEY_C = 4.685  # Tukey biweight tuning constant (95% efficiency on Gaussian residuals)
_EPS = 1e-12
_LMEDS_PAIRS = 48  # sample pairs tried as starting lines for the robust fit
_LMEDS_PROBE = 256  # samples on which each starting line's median residual is measured
_LMEDS_SEED = 20261126
_FOCUS_ARRIVED = 1e-4  # focus this close to its goal (focus units) has arrived and stops


@dataclass(frozen=True)
class SmoothingSettings:
    """Knobs of the temporal smoothing (`--smoothing` sets `strength`; 0 turns everything off)."""

    strength: float = 0.8
    """Weight of the history in the exponential average of depth, in [0, 1). 0 = passthrough."""
    fit_samples: int = 2048
    """Pixels (a fixed pseudo-random subsample) used to fit the scale and shift."""
    fit_iterations: int = 12
    """Most iteratively reweighted (Tukey biweight) least-squares passes; it stops earlier once
    the scale settles (usually after 2-4 passes for a static shot)."""
    motion_sigmas: float = 3.0
    """An aligned pixel further than this many robust residual sigmas from the estimate starts to
    count as motion (its history weight fades, reaching 0 at twice the distance)..."""
    motion_floor: float = 0.05
    """...but never for residuals under this fraction of the estimate's depth spread."""
    motion_window: float = 0.03
    """Box size, as a fraction of the map's short side, over which residuals are averaged before
    gating, so gating follows objects rather than per-pixel noise."""
    cut_threshold: float = 0.5
    """Hellinger distance of consecutive colour histograms above which a frame is a scene cut."""
    cut_outlier_fraction: float = 0.6
    """A map whose fit leaves more than this fraction of samples as motion is a scene cut."""
    focus_time_constant: float = 0.12
    """Seconds; the focus spring's 1/omega (a step is ~90% done after ~3.9 time constants)."""
    focus_max_speed: float = 1.5
    """Largest focus change per second, in the focus value's units (normalised depth, 0..1)."""
    focus_dead_band: float = 0.03
    """Target changes smaller than this (same units) are ignored, so the focus never hunts."""

    def __post_init__(self) -> None:
        if not 0.0 <= self.strength < 1.0:
            raise UsageError(f"smoothing strength must be in [0, 1), got {self.strength}")
        if self.fit_samples < 16:
            raise UsageError(f"fit_samples must be at least 16, got {self.fit_samples}")
        if self.fit_iterations < 1:
            raise UsageError(f"fit_iterations must be at least 1, got {self.fit_iterations}")
        if self.motion_sigmas <= 0 or self.motion_floor < 0 or not 0 <= self.motion_window < 1:
            raise UsageError("motion_sigmas must be > 0, motion_floor >= 0, motion_window in [0, 1)")
        if not 0.0 < self.cut_threshold <= 1.0:
            raise UsageError(f"cut_threshold must be in (0, 1], got {self.cut_threshold}")
        if not 0.0 < self.cut_outlier_fraction <= 1.0:
            raise UsageError(f"cut_outlier_fraction must be in (0, 1], got {self.cut_outlier_fraction}")
        if self.focus_time_constant < 0 or self.focus_max_speed <= 0 or self.focus_dead_band < 0:
            raise UsageError("focus_time_constant and focus_dead_band must be >= 0, focus_max_speed > 0")

    @property
    def enabled(self) -> bool:
        return self.strength > 0.0


@dataclass(frozen=True)
class Alignment:
    """Result of a robust fit `target ~ scale * source + shift`."""

    scale: float
    shift: float
    residual_sigma: float
    """Robust standard deviation of the residuals (MAD-based, over all samples)."""
    inlier_fraction: float
    """Fraction of samples with non-zero Tukey weight in the final pass."""


def _robust_sigma(values: np.ndarray) -> float:
    return _MAD_TO_SIGMA * float(np.median(np.abs(values - np.median(values))))


def _spread(values: np.ndarray) -> float:
    """Robust spread (MAD sigma), falling back to the standard deviation for peaky data."""
    spread = _robust_sigma(values)
    return spread if spread > _EPS else float(np.std(values))


def _least_median_start(source: np.ndarray, target: np.ndarray, source_spread: float,
                        candidates: list[tuple[float, float]]) -> tuple[float, float]:
    """Pick a starting (scale, shift) by least median of absolute residuals (LMedS).

    Besides the given candidates, lines through pairs of samples far apart in `source` are tried,
    so a start exists that ignores up to half the samples (a moving region, wild values), where a
    median/spread match alone can start IRLS in the wrong basin.
    """
    rng = np.random.default_rng(_LMEDS_SEED)  # fixed: the same input always gives the same fit
    first = rng.integers(0, source.size, _LMEDS_PAIRS * 4)
    second = rng.integers(0, source.size, _LMEDS_PAIRS * 4)
    gap = source[second] - source[first]
    far = np.flatnonzero(np.abs(gap) > 0.5 * source_spread)[:_LMEDS_PAIRS]
    pair_scales = (target[second[far]] - target[first[far]]) / gap[far]
    pair_shifts = target[first[far]] - pair_scales * source[first[far]]
    scales = np.concatenate([[c[0] for c in candidates], pair_scales])
    shifts = np.concatenate([[c[1] for c in candidates], pair_shifts])
    probe = rng.integers(0, source.size, min(source.size, _LMEDS_PROBE))
    residual = scales[:, None] * source[probe][None, :] + shifts[:, None] - target[probe][None, :]
    best = int(np.argmin(np.median(np.abs(residual), axis=1)))
    return float(scales[best]), float(shifts[best])


def fit_scale_shift(source: np.ndarray, target: np.ndarray, iterations: int = 12,
                    initial: tuple[float, float] | None = None) -> Alignment | None:
    """Robustly fit `target ~ scale * source + shift` (1-D float arrays of equal length).

    Starts from the best by least median of residuals among: matching medians and spreads,
    `initial` (e.g. the previous frame's fit) and lines through random far-apart sample pairs;
    then runs Tukey-biweight iteratively reweighted least squares until the scale changes by less
    than 1e-4 (relative) or `iterations` passes are done. Returns None when the source carries no
    information (constant) or the target has no spread to align to.
    """
    source = np.asarray(source, np.float64)
    target = np.asarray(target, np.float64)
    source_spread, target_spread = _spread(source), _spread(target)
    if source_spread <= _EPS * max(1.0, abs(float(np.median(source)))) or target_spread <= _EPS:
        return None
    spread_scale = target_spread / source_spread
    candidates = [(spread_scale, float(np.median(target)) - spread_scale * float(np.median(source)))]
    if initial is not None and all(math.isfinite(v) for v in initial):
        candidates.append((float(initial[0]), float(initial[1])))
    scale, shift = _least_median_start(source, target, source_spread, candidates)

    weights = np.ones_like(source)
    for _ in range(iterations):
        residual = scale * source + shift - target
        sigma = _robust_sigma(residual)
        if sigma <= _EPS * target_spread:
            break  # exact fit (noise-free data)
        u = residual / (_TUKEY_C * sigma)
        weights = np.where(np.abs(u) < 1.0, (1.0 - u * u) ** 2, 0.0)
        total = float(weights.sum())
        if total <= _EPS:
            break
        mean_source = float(weights @ source) / total
        mean_target = float(weights @ target) / total
        centred = source - mean_source
        variance = float(weights @ (centred * centred))
        if variance <= _EPS * source_spread * source_spread * total:
            break
        previous_scale = scale
        scale = float(weights @ (centred * (target - mean_target))) / variance
        shift = mean_target - scale * mean_source
        if abs(scale - previous_scale) <= 1e-4 * abs(previous_scale):
            break

    residual = scale * source + shift - target
    sigma = _robust_sigma(residual)
    inliers = np.abs(residual) <= max(_TUKEY_C * sigma, 1e-6 * target_spread)
    return Alignment(scale, shift, sigma, float(inliers.mean()))


class DepthSmoother:
    """Aligns each relative depth map to a running estimate and averages it in, frame by frame.

    Not thread-safe: one instance per stream, called from one thread.
    """

    def __init__(self, settings: SmoothingSettings | None = None):
        self.settings = settings or SmoothingSettings()
        self._cuts = SceneCutDetector(self.settings.cut_threshold)
        self._estimate: np.ndarray | None = None
        self._sample_index: np.ndarray | None = None
        self._previous_alignment: tuple[float, float] | None = None
        self.last_cut = False
        """True when the latest update restarted the estimate (scene cut or size change)."""
        self.last_cut_reason: str | None = None
        """Why: "frame" (colour histogram jump), "depth" (the map no longer fits the estimate),
        "size" (the map's size changed), or None when there was no cut."""
        self.last_alignment: Alignment | None = None
        """Fit of the latest map to the estimate (None on a restart or a degenerate map)."""
        self.last_motion_fraction = 0.0
        """Fraction of pixels whose history weight was reduced by the motion gate."""

    def reset(self) -> None:
        """Forget the history (the next map starts a new estimate)."""
        self._cuts.reset()
        self._estimate = None
        self._previous_alignment = None
        self.last_cut = False
        self.last_cut_reason = None
        self.last_alignment = None
        self.last_motion_fraction = 0.0

    def update(self, depth: np.ndarray, frame_small: np.ndarray | None = None) -> np.ndarray:
        """Take the next depth map (HxW relative inverse depth) and return the smoothed map.

        `frame_small` (uint8 HxWx3 RGB, any small size) lets the smoother see scene cuts in the
        picture itself; without it, cuts are found from the depth fit alone.
        """
        depth = np.asarray(depth, dtype=np.float32)
        if depth.ndim != 2 or depth.size == 0:
            raise ValueError(f"expected a non-empty HxW depth map, got shape {depth.shape}")
        frame_cut = self._cuts.update(frame_small) if frame_small is not None else False
        self.last_alignment = None
        self.last_motion_fraction = 0.0
        self.last_cut, self.last_cut_reason = frame_cut, "frame" if frame_cut else None
        if not self.settings.enabled:
            return depth
        estimate = self._estimate
        if estimate is None:
            return self._restart(depth, reason=None)
        if frame_cut:
            return self._restart(depth, reason="frame")
        if estimate.shape != depth.shape:
            return self._restart(depth, reason="size")

        flat_depth = depth.reshape(-1)
        samples = self._sample_index
        assert samples is not None
        depth_samples = flat_depth[samples]
        estimate_samples = estimate.reshape(-1)[samples]
        finite = np.isfinite(depth_samples)
        if not finite.all():
            depth_samples, estimate_samples = depth_samples[finite], estimate_samples[finite]
        if depth_samples.size < 16:
            return estimate.copy()  # nothing usable in this map: hold the estimate
        alignment = fit_scale_shift(depth_samples, estimate_samples, self.settings.fit_iterations,
                                    self._previous_alignment)
        if alignment is None:
            if _spread(estimate_samples.astype(np.float64)) <= _EPS:
                return self._restart(depth, reason="depth")  # flat estimate: nothing to align to
            return estimate.copy()  # flat new map: it carries no depth, keep the estimate
        spread = _spread(estimate_samples.astype(np.float64))
        gate_low = max(self.settings.motion_sigmas * alignment.residual_sigma,
                       self.settings.motion_floor * spread, 1e-6 * spread)
        sample_residual = np.abs(alignment.scale * depth_samples + alignment.shift - estimate_samples)
        outlier_fraction = float(np.mean(sample_residual > 2.0 * gate_low))
        if alignment.scale <= 0 or outlier_fraction > self.settings.cut_outlier_fraction:
            return self._restart(depth, reason="depth")
        self._previous_alignment = (alignment.scale, alignment.shift)
        self.last_alignment = alignment

        aligned = depth * np.float32(alignment.scale) + np.float32(alignment.shift)
        residual = aligned - estimate
        non_finite = ~np.isfinite(residual)
        if non_finite.any():
            residual[non_finite] = 0.0
            aligned[non_finite] = estimate[non_finite]
        window = self._gate_window(depth.shape)
        if window > 1:
            residual = cv2.blur(residual, (window, window), borderType=cv2.BORDER_REPLICATE)
        # history weight: strength below gate_low, fading linearly to 0 at 2 * gate_low
        history = np.abs(residual)
        history *= np.float32(-1.0 / gate_low)
        history += np.float32(2.0)
        np.clip(history, 0.0, 1.0, out=history)
        self.last_motion_fraction = float(np.mean(history < 1.0))
        history *= np.float32(self.settings.strength)
        # estimate = aligned + history * (estimate - aligned)
        blended = estimate - aligned
        blended *= history
        blended += aligned
        self._estimate = blended
        return blended.copy()

    def _gate_window(self, shape: tuple[int, ...]) -> int:
        window = int(round(min(shape) * self.settings.motion_window))
        return window | 1 if window > 1 else 1

    def _restart(self, depth: np.ndarray, reason: str | None) -> np.ndarray:
        """Start a new estimate from `depth`, keeping the old estimate's range when there was one."""
        previous = self._estimate
        fresh = depth.copy()
        finite = np.isfinite(fresh)
        if not finite.all():
            fresh[~finite] = np.median(fresh[finite]) if finite.any() else 0.0
        if previous is not None:
            # map the new content onto the old range (median and spread), so that consumers that
            # do not renormalise see no jump in scale; a positive affine map, no blend of content
            old = previous.reshape(-1)[self._sample_index].astype(np.float64)
            new = fresh.reshape(-1)[self._sample_positions(fresh.shape)].astype(np.float64)
            old_spread, new_spread = _spread(old), _spread(new)
            if old_spread > _EPS and new_spread > _EPS:
                scale = old_spread / new_spread
                shift = float(np.median(old)) - scale * float(np.median(new))
                fresh = fresh * np.float32(scale) + np.float32(shift)
        self._sample_index = self._sample_positions(fresh.shape)
        self._estimate = fresh
        self._previous_alignment = None
        self.last_cut, self.last_cut_reason = reason is not None, reason
        return fresh.copy()

    def _sample_positions(self, shape: tuple[int, ...]) -> np.ndarray:
        """Fixed pseudo-random flat pixel indices for the fit (the same for every frame of a size)."""
        size = int(np.prod(shape))
        if self._sample_index is not None and self._estimate is not None and \
                self._estimate.shape == shape:
            return self._sample_index
        if size <= self.settings.fit_samples:
            return np.arange(size)
        # drawn with replacement: a few repeats do not matter for the fit, and it costs ~0.1 ms
        # where drawing without replacement costs tens of ms on every restart
        rng = np.random.default_rng(size)
        return np.sort(rng.integers(0, size, self.settings.fit_samples))


class FocusPuller:
    """Moves the focus value smoothly towards a target, like a focus puller, never hunting.

    A critically damped spring (no overshoot from rest) with a speed limit; target changes inside
    the dead band are ignored, and a step never carries it past the target. On a scene cut it
    jumps to the target at once. With smoothing off (`strength == 0`) it follows the target exactly.
    """

    def __init__(self, settings: SmoothingSettings | None = None):
        self.settings = settings or SmoothingSettings()
        self._position: float | None = None
        self._velocity = 0.0
        self._held_target = 0.0

    @property
    def value(self) -> float | None:
        """Current focus value (None before the first update)."""
        return self._position

    def reset(self) -> None:
        self._position = None
        self._velocity = 0.0

    def update(self, target: float, dt: float, cut: bool = False) -> float:
        """Advance by `dt` seconds towards `target`; returns the focus value to use now."""
        target = float(target)
        if not math.isfinite(target):
            raise ValueError(f"focus target must be finite, got {target}")
        if not dt >= 0:
            raise ValueError(f"dt must be >= 0 seconds, got {dt}")
        settings = self.settings
        if self._position is None or cut or not settings.enabled or settings.focus_time_constant == 0:
            self._position, self._velocity, self._held_target = target, 0.0, target
            return target
        if abs(target - self._held_target) > settings.focus_dead_band:
            self._held_target = target
        goal, position, velocity = self._held_target, self._position, self._velocity
        if dt == 0 or (position == goal and velocity == 0.0):
            return position
        # exact solution of x'' = -2w x' - w^2 (x - goal) over dt (critically damped)
        omega = 1.0 / settings.focus_time_constant
        offset = position - goal
        decay = math.exp(-omega * dt)
        ramp = velocity + omega * offset
        new_offset = (offset + ramp * dt) * decay
        new_velocity = (velocity - omega * ramp * dt) * decay
        step = new_offset - offset
        max_step = settings.focus_max_speed * dt
        if abs(step) > max_step:
            step = math.copysign(max_step, step)
            new_offset = offset + step
            new_velocity = math.copysign(min(abs(new_velocity), settings.focus_max_speed), step)
        if abs(new_offset) <= _FOCUS_ARRIVED or (new_offset > 0) != (offset > 0):
            new_offset, new_velocity = 0.0, 0.0  # arrived: settle exactly, never carry past
        self._position = goal + new_offset
        self._velocity = new_velocity
        return self._position
