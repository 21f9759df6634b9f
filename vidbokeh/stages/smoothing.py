"""Temporal smoothing of relative depth maps and of the focus plane.

Monocular depth models give relative inverse depth whose scale and shift change from frame to
frame, so a plain running average of the raw maps flickers and smears. `DepthSmoother` first
aligns each new map to the running estimate with a robust (Tukey-weighted) least-squares fit of
`scale * depth + shift` on a fixed subsample of pixels (stages/scale_shift_fit.py), then blends it into the estimate with an
exponential average whose history weight drops to zero where the aligned map disagrees with the
estimate (motion), so moving people do not leave ghosts. Scene cuts (colour-histogram jump of the
frame, or a map that no longer fits the estimate) and size changes restart the estimate.

The smoother is written over the renderer's array operations (render/ops.py), so the maps stay where the frame
path keeps them (numpy with OpenCV's routines, or a torch device): only the fit's samples (2 x fit_samples
values) come to the host, where the robust fit runs in float64.

`FocusPuller` moves the focus plane like a focus puller: a critically damped spring towards the
target, speed-limited, with a dead band so that jitter of the target never makes it hunt.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from vidbokeh.errors import UsageError
from vidbokeh.stages.scale_shift_fit import EPS as _EPS, Alignment, fit_scale_shift, spread as _spread
from vidbokeh.stages.scene_cut import SceneCutDetector

if TYPE_CHECKING:
    from vidbokeh.render.ops import ArrayOps

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


def _f32(value: float) -> float:
    """A float rounded to float32 (the maps' precision on every backend)."""
    return float(np.float32(value))


class DepthSmoother:
    """Aligns each relative depth map to a running estimate and averages it in, frame by frame.

    ``ops``: the array operations the maps live on (render/ops.py; None = OpenCV's on numpy): maps handed in
    are taken as that backend's arrays and the smoothed maps are its arrays.
    Not thread-safe: one instance per stream, called from one thread.
    """

    def __init__(self, settings: SmoothingSettings | None = None, ops: "ArrayOps | None" = None):
        from vidbokeh.render.ops_opencv import OPENCV

        self.settings = settings or SmoothingSettings()
        self._ops = OPENCV if ops is None else ops
        self._cuts = SceneCutDetector(self.settings.cut_threshold)
        self._estimate: Any = None
        self._sample_index: np.ndarray | None = None
        self._previous_alignment: tuple[float, float] | None = None
        self._history: Any = None  # the latest history weights before the strength (the motion gate's output)
        self.last_cut = False
        """True when the latest update restarted the estimate (scene cut or size change)."""
        self.last_cut_reason: str | None = None
        """Why: "frame" (colour histogram jump), "depth" (the map no longer fits the estimate),
        "size" (the map's size changed), or None when there was no cut."""
        self.last_alignment: Alignment | None = None
        """Fit of the latest map to the estimate (None on a restart or a degenerate map)."""

    @property
    def last_motion_fraction(self) -> float:
        """Fraction of pixels whose history weight the motion gate reduced in the latest update (counted when
        read: a device map is not read back every frame for it)."""
        history = self._history
        if history is None:
            return 0.0
        return self._ops.count(history < 1.0) / float(np.prod(history.shape))

    def reset(self) -> None:
        """Forget the history (the next map starts a new estimate)."""
        self._cuts.reset()
        self._estimate = None
        self._previous_alignment = None
        self._history = None
        self.last_cut = False
        self.last_cut_reason = None
        self.last_alignment = None

    def update(self, depth: Any, frame_small: np.ndarray | None = None) -> Any:
        """Take the next depth map (HxW relative inverse depth, a host array or the ops' own) and return the
        smoothed map (the ops' array).

        `frame_small` (uint8 HxWx3 RGB on the host, any small size) lets the smoother see scene cuts in the
        picture itself; without it, cuts are found from the depth fit alone.
        """
        ops = self._ops
        depth = ops.float32(ops.upload(depth))
        if depth.ndim != 2 or depth.shape[0] * depth.shape[1] == 0:
            raise ValueError(f"expected a non-empty HxW depth map, got shape {tuple(depth.shape)}")
        frame_cut = self._cuts.update(frame_small) if frame_small is not None else False
        self.last_alignment = None
        self._history = None
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

        samples = self._sample_index
        assert samples is not None
        depth_samples = ops.take(depth, samples)
        estimate_samples = ops.take(estimate, samples)
        finite = np.isfinite(depth_samples)
        if not finite.all():
            depth_samples, estimate_samples = depth_samples[finite], estimate_samples[finite]
        if depth_samples.size < 16:
            return ops.copy(estimate)  # nothing usable in this map: hold the estimate
        alignment = fit_scale_shift(depth_samples, estimate_samples, self.settings.fit_iterations,
                                    self._previous_alignment)
        if alignment is None:
            if _spread(estimate_samples.astype(np.float64)) <= _EPS:
                return self._restart(depth, reason="depth")  # flat estimate: nothing to align to
            return ops.copy(estimate)  # flat new map: it carries no depth, keep the estimate
        spread = _spread(estimate_samples.astype(np.float64))
        gate_low = max(self.settings.motion_sigmas * alignment.residual_sigma,
                       self.settings.motion_floor * spread, 1e-6 * spread)
        sample_residual = np.abs(alignment.scale * depth_samples + alignment.shift - estimate_samples)
        outlier_fraction = float(np.mean(sample_residual > 2.0 * gate_low))
        if alignment.scale <= 0 or outlier_fraction > self.settings.cut_outlier_fraction:
            return self._restart(depth, reason="depth")
        self._previous_alignment = (alignment.scale, alignment.shift)
        self.last_alignment = alignment

        aligned = depth * _f32(alignment.scale)
        aligned += _f32(alignment.shift)
        residual = aligned - estimate
        finite_map = ops.finite(residual)
        if ops.any(~finite_map):
            residual = ops.where(finite_map, residual, 0.0)
            aligned = ops.where(finite_map, aligned, estimate)
        window = self._gate_window(depth.shape)
        if window > 1:
            residual = ops.box_filter(residual, window, border="replicate")
        # history weight: 1 below gate_low, fading linearly to 0 at 2 * gate_low (then times the strength)
        history = ops.ramp(ops.abs(residual), 2.0 * gate_low, -1.0 / gate_low, 0.0, 1.0)
        self._history = history
        # estimate = aligned + strength * history * (estimate - aligned)
        blended = estimate - aligned
        blended *= history
        blended *= _f32(self.settings.strength)
        blended += aligned
        self._estimate = blended
        return ops.copy(blended)

    def _gate_window(self, shape: tuple[int, ...]) -> int:
        window = int(round(min(shape) * self.settings.motion_window))
        return window | 1 if window > 1 else 1

    def _restart(self, depth: Any, reason: str | None) -> Any:
        """Start a new estimate from `depth`, keeping the old estimate's range when there was one."""
        ops = self._ops
        previous = self._estimate
        fresh = ops.copy(depth)
        finite = ops.finite(fresh)
        finite_count = ops.count(finite)
        if finite_count < fresh.shape[0] * fresh.shape[1]:
            fill = ops.median(fresh, where=finite) if finite_count else 0.0
            fresh = ops.where(finite, fresh, fill)
        if previous is not None:
            # map the new content onto the old range (median and spread), so that consumers that
            # do not renormalise see no jump in scale; a positive affine map, no blend of content
            old = ops.take(previous, self._sample_index).astype(np.float64)
            new = ops.take(fresh, self._sample_positions(fresh.shape)).astype(np.float64)
            old_spread, new_spread = _spread(old), _spread(new)
            if old_spread > _EPS and new_spread > _EPS:
                scale = old_spread / new_spread
                shift = float(np.median(old)) - scale * float(np.median(new))
                fresh = fresh * _f32(scale)
                fresh += _f32(shift)
        self._sample_index = self._sample_positions(fresh.shape)
        self._estimate = fresh
        self._previous_alignment = None
        self.last_cut, self.last_cut_reason = reason is not None, reason
        return ops.copy(fresh)

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
