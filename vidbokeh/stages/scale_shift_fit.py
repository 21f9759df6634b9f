"""A robust fit of ``target ~ scale * source + shift`` on a few samples (the depth smoother's alignment).

Least median of squares picks the start (so up to half the samples may be a moving region or wild values), then
Tukey-biweight iteratively reweighted least squares refines it. Runs on host arrays in float64: the smoother
brings only its samples here, wherever its maps live.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["Alignment", "EPS", "fit_scale_shift", "spread"]

_MAD_TO_SIGMA = 1.4826  # median absolute deviation -> standard deviation for Gaussian data
_TUKEY_C = 4.685  # Tukey biweight tuning constant (95% efficiency on Gaussian residuals)
EPS = 1e-12
_LMEDS_PAIRS = 48  # sample pairs tried as starting lines for the robust fit
_LMEDS_PROBE = 256  # samples on which each starting line's median residual is measured
_LMEDS_SEED = 20261126


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


def spread(values: np.ndarray) -> float:
    """Robust spread (MAD sigma), falling back to the standard deviation for peaky data."""
    spread = _robust_sigma(values)
    return spread if spread > EPS else float(np.std(values))


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
    source_spread, target_spread = spread(source), spread(target)
    if source_spread <= EPS * max(1.0, abs(float(np.median(source)))) or target_spread <= EPS:
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
        if sigma <= EPS * target_spread:
            break  # exact fit (noise-free data)
        u = residual / (_TUKEY_C * sigma)
        weights = np.where(np.abs(u) < 1.0, (1.0 - u * u) ** 2, 0.0)
        total = float(weights.sum())
        if total <= EPS:
            break
        mean_source = float(weights @ source) / total
        mean_target = float(weights @ target) / total
        centred = source - mean_source
        variance = float(weights @ (centred * centred))
        if variance <= EPS * source_spread * source_spread * total:
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
