"""Focus distance and circle-of-confusion (CoC) map from a relative inverse-depth map.

Depth convention: ``depth`` is relative INVERSE depth (disparity) as MiDaS / Depth-Anything give
it: larger = nearer, arbitrary scale and shift. It is normalised robustly to [0, 1] by its 2nd and
98th percentiles: 0 = the far end of the scene, 1 = the near end. ``focus`` values use that scale.

Public API:

    normalise_depth(depth, settings=FocusSettings()) -> float32 HxW in [0, 1] (1 = nearest)
    choose_focus(depth, faces=(), protect_mask=None, settings=FocusSettings(), image_size=None) -> float
        settings.focus if given; else the depth at settings.focus_point; else the median depth
        inside the main face (faces.main_face; the inner part of its box); else inside
        the person mask (protect_mask > 0.5); else in the centre of the frame.
    coc_map(depth, focus, settings, diag) -> float32 HxW, SIGNED blur radius in pixels:
        > 0 behind the focus plane (farther), < 0 in front of it (only with blur_foreground),
        0 inside the depth-of-field band. Feed it to bokeh.render_bokeh.

Every function takes ``ops`` (vidbokeh/render/ops.py; None = numpy with OpenCV): the maps may be
that backend's arrays (torch tensors on a GPU for the torch frame path), the results are that
backend's arrays, and only a few numbers (percentiles, medians) come back to the host.

Optics: for a thin lens the CoC diameter is proportional to |1/z - 1/z_focus|, i.e. linear in
inverse depth, so the blur grows linearly with the distance from the focus in normalised inverse
depth, beyond the ``dof`` band, reaching ``max_blur`` after a further ``ramp``: the far
background (small inverse depth) gets the most blur.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from vidbokeh.errors import InputError, UsageError

if TYPE_CHECKING:
    from vidbokeh.stages.faces import Face

__all__ = ["FocusSettings", "normalise_depth", "choose_focus", "coc_map", "otsu_threshold"]


MAX_BLUR_RANGE = (0.0, 0.25)  # the largest blur radius, as a fraction of the image diagonal


@dataclass(frozen=True)
class FocusSettings:
    """Where the focus is and how the blur grows away from it."""

    max_blur: float = 0.025  # largest blur radius, as a fraction of the image diagonal
    dof: float = 0.04  # half-width of the sharp band around the focus (normalised inverse depth)
    ramp: float = 0.2  # further inverse-depth distance over which the blur rises to max_blur
    blur_foreground: bool = False  # also blur what is nearer than the focus band
    focus: float | None = None  # focus depth, 0 (far end) .. 1 (near end); None: automatic
    focus_point: tuple[float, float] | None = None  # (x, y) in pixels, or fractions if both <= 1
    histogram_split: bool = False  # keep everything nearer than the Otsu depth threshold sharp
    low_percentile: float = 2.0  # depth normalisation: this percentile maps to 0 (far)
    high_percentile: float = 98.0  # ... and this one to 1 (near)

    def __post_init__(self) -> None:
        low, high = MAX_BLUR_RANGE
        if not low <= self.max_blur <= high:
            raise UsageError(f"max blur must be {low:g}..{high:g} (a fraction of the image diagonal), "
                             f"got {self.max_blur:g}")
        if not 0.0 <= self.dof <= 1.0:
            raise UsageError(f"dof must be in [0, 1], got {self.dof}")
        if not 0.0 < self.ramp <= 1.0:
            raise UsageError(f"ramp must be in (0, 1], got {self.ramp}")
        if self.focus is not None and not 0.0 <= self.focus <= 1.0:
            raise UsageError(f"focus must be in [0, 1], got {self.focus}")
        if self.focus_point is not None:
            if len(self.focus_point) != 2 or any(not math.isfinite(v) or v < 0 for v in self.focus_point):
                raise UsageError(f"focus_point must be two non-negative numbers, got {self.focus_point}")
        if not 0.0 <= self.low_percentile < self.high_percentile <= 100.0:
            raise UsageError("depth percentiles must satisfy 0 <= low < high <= 100")


def focus_point_pixels(point: tuple[float, float], width: int, height: int) -> tuple[float, float]:
    """A focus point in pixels of a ``width`` x ``height`` picture: fractions of it when both values are
    <= 1, else pixels. UsageError when it lies outside the picture (checked before any work where the
    size is known up front)."""
    px, py = point
    if px <= 1.0 and py <= 1.0:
        return px * width, py * height
    if px > width or py > height:
        raise UsageError(f"focus point {px:g},{py:g} lies outside the {width}x{height} picture "
                         "(pixels, or 0..1 fractions of the picture)")
    return px, py


def _ops(ops: Any) -> Any:
    from vidbokeh.render.ops_opencv import OPENCV

    return OPENCV if ops is None else ops


def _check_depth(depth: Any, ops: Any) -> Any:
    depth = depth if ops.owns(depth) else np.asarray(depth)
    if depth.ndim != 2 or depth.shape[0] * depth.shape[1] == 0:
        raise InputError(f"depth must be a non-empty HxW map, got shape {tuple(depth.shape)}")
    return ops.upload(depth)


def normalise_depth(depth: Any, settings: FocusSettings = FocusSettings(), ops: Any = None) -> Any:
    """Inverse depth -> [0, 1] by robust percentiles (0 = far, 1 = near); flat maps give 0.5."""
    ops = _ops(ops)
    depth = _check_depth(depth, ops)
    h, w = depth.shape
    step = max(1, int(math.sqrt(h * w / 65536)))  # percentiles from <= ~64k samples
    bounds = ops.percentiles(depth[::step, ::step], (settings.low_percentile, settings.high_percentile))
    if bounds is None:
        raise InputError("depth map has no finite values")
    lo, hi = bounds
    if not hi - lo > 1e-8 * max(1.0, abs(float(hi))):
        return ops.zeros((h, w)) + 0.5
    # NaN (no depth) counts as the far end; one full-size array, worked on in place
    return ops.clean(ops.ramp(depth, lo, 1.0 / (hi - lo)), 0.0, 1.0)


def _as_face(face: Any) -> Face:
    """A faces.Face, or one made from an (x0, y0, x1, y1) box."""
    from vidbokeh.stages.faces import Face  # here: the faces module loads OpenCV, the settings above do not

    if isinstance(face, Face):
        return face
    if all(hasattr(face, a) for a in ("x0", "y0", "x1", "y1")):
        return Face(float(face.x0), float(face.y0), float(face.x1), float(face.y1), 1.0)
    values = tuple(float(v) for v in face)
    if len(values) != 4:
        raise UsageError(f"a face must be (x0, y0, x1, y1), got {face!r}")
    return Face(*values, 1.0)


def _median_in_box(ops: Any, norm: Any, box: tuple[float, float, float, float], inner: float) -> float | None:
    h, w = norm.shape
    x0, y0, x1, y1 = box
    cx, cy, hw, hh = 0.5 * (x0 + x1), 0.5 * (y0 + y1), 0.5 * inner * (x1 - x0), 0.5 * inner * (y1 - y0)
    c0, c1 = int(max(0, math.floor(cx - hw))), int(min(w, math.ceil(cx + hw)))
    r0, r1 = int(max(0, math.floor(cy - hh))), int(min(h, math.ceil(cy + hh)))
    if c1 <= c0 or r1 <= r0:
        return None
    return ops.median(norm[r0:r1, c0:c1])


def choose_focus(
    depth: np.ndarray,
    faces: Sequence[Any] = (),
    protect_mask: np.ndarray | None = None,
    settings: FocusSettings = FocusSettings(),
    image_size: tuple[int, int] | None = None,
    norm: Any = None,
    ops: Any = None,
) -> float:
    """Focus depth in [0, 1] (normalised inverse depth, 1 = near); see the module docstring.

    ``faces``: faces.Face objects or (x0, y0, x1, y1) boxes, and ``focus_point`` in pixels of an
    image of ``image_size`` = (height, width) (default: the depth map's size). ``norm``: normalise_depth(depth,
    settings) when the caller already has it (a frame's focus and CoC map share one).
    """
    if settings.focus is not None:
        return float(settings.focus)
    ops = _ops(ops)
    norm = normalise_depth(depth, settings, ops) if norm is None else norm
    h, w = norm.shape
    img_h, img_w = image_size if image_size is not None else (h, w)
    sx, sy = w / img_w, h / img_h
    if settings.focus_point is not None:
        px, py = focus_point_pixels(settings.focus_point, img_w, img_h)
        half = max(1.0, 0.01 * math.hypot(img_w, img_h))
        box = (px - half, py - half, px + half, py + half)
        value = _median_in_box(ops, norm, (box[0] * sx, box[1] * sy, box[2] * sx, box[3] * sy), 1.0)
        if value is None:
            raise UsageError(f"focus point {settings.focus_point} lies outside the {img_w}x{img_h} image")
        return value
    from vidbokeh.stages.faces import main_face

    face = main_face([_as_face(f) for f in faces], (img_h, img_w)) if faces else None
    if face is not None:
        value = _median_in_box(ops, norm, (face.x0 * sx, face.y0 * sy, face.x1 * sx, face.y1 * sy), 0.5)
        if value is not None:
            return value
    if protect_mask is not None:
        mask = ops.upload(protect_mask)
        if tuple(mask.shape) != (h, w):
            mask = ops.resize(ops.as_float(mask), (w, h), "linear")
        inside = mask > 0.5
        if ops.count(inside) >= max(1, h * w // 1000):
            return ops.median(norm, inside)
    return float(_median_in_box(ops, norm, (0.4 * w, 0.4 * h, 0.6 * w, 0.6 * h), 1.0) or ops.median(norm))


def otsu_threshold(norm: Any, ops: Any = None) -> float:
    """Otsu split of a [0, 1] map's histogram (256 bins): the value between the two classes."""
    ops = _ops(ops)
    u8 = ops.to_u8(ops.floor(ops.clip(norm * 255.0 + 0.5, 0.0, 255.0)))
    return otsu_level(ops.histogram_u8(u8)) / 255.0


def otsu_level(hist: np.ndarray) -> int:
    """The level of a 256-bin histogram that maximises the between-class variance (OpenCV's THRESH_OTSU:
    the same double-precision steps, so the same level)."""
    total = float(hist.sum())
    if total == 0:
        return 0
    p = hist.astype(np.float64) / total
    mu = float(np.dot(np.arange(256), p))
    q1 = mu1 = best = 0.0
    level = 0
    eps = float(np.finfo(np.float32).eps)
    for i in range(256):
        p_i = float(p[i])
        mu1 *= q1
        q1 += p_i
        q2 = 1.0 - q1
        if min(q1, q2) < eps or max(q1, q2) > 1.0 - eps:
            continue
        mu1 = (mu1 + i * p_i) / q1
        mu2 = (mu - q1 * mu1) / q2
        sigma = q1 * q2 * (mu1 - mu2) * (mu1 - mu2)
        if sigma > best:
            best, level = sigma, i
    return level


def coc_map(depth: Any, focus: float, settings: FocusSettings, diag: float, norm: Any = None,
            ops: Any = None) -> Any:
    """Signed CoC radius in pixels (> 0 behind the focus band, < 0 in front); see module docstring.

    ``norm``: normalise_depth(depth, settings) when the caller already has it (not modified)."""
    if not 0.0 <= focus <= 1.0:
        raise UsageError(f"focus must be in [0, 1], got {focus}")
    ops = _ops(ops)
    norm = normalise_depth(depth, settings, ops) if norm is None else norm
    max_px = float(settings.max_blur * diag)
    band_far = settings.dof
    if settings.histogram_split:
        split = otsu_threshold(norm, ops)
        if split < focus:  # everything nearer than the split belongs to the subject: sharp
            band_far = max(band_far, focus - split)
    scale = max_px / settings.ramp
    # > 0 farther than the sharp band: (focus - band_far - norm) * scale, written as a ramp of norm
    coc = ops.ramp(norm, focus - band_far, -scale, 0.0, max_px)
    if settings.blur_foreground:  # < 0 nearer than it
        coc -= ops.ramp(norm, focus + settings.dof, scale, 0.0, max_px)
    return coc
