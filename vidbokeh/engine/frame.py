"""The per-frame steps shared by stills and video: focus, blur radii (CoC) and the render, and their result.

Stills (still.py) and video (video.py) differ in where depth, faces and the protection mask come from;
from there on a frame goes through the same three calls here.
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Callable, Iterator, Sequence

import numpy as np

from ..stages.faces import scale_faces  # noqa: F401 (the engine's name for it; one owner in stages)
from .settings import EffectSettings, LiveControls

if TYPE_CHECKING:
    from ..render.ops import ArrayOps
    from ..stages.bokeh import BokehSettings
    from ..stages.focus import FocusSettings

# hybrid: everything outside the person mask is background and gets at least this share of the largest blur
HYBRID_BACKGROUND_FLOOR = 0.5


@dataclass
class FrameResult:
    output: np.ndarray  # uint8 HxWx3
    depth: np.ndarray | None  # float32 HxW relative inverse depth (larger = nearer), smoothed in video
    protect: np.ndarray  # float32 HxW, 1 = kept sharp
    coc: np.ndarray  # float32 HxW blur radius in pixels
    focus: float | None  # focus plane (normalised depth) or None for selfie
    faces: list = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)  # stage -> seconds


@contextmanager
def timed(timings: dict[str, float], stage: str) -> Iterator[None]:
    """Adds the time spent in the block to ``timings[stage]``."""
    t0 = time.perf_counter()
    try:
        yield
    finally:
        timings[stage] = timings.get(stage, 0.0) + time.perf_counter() - t0


def largest_blur(focus: "FocusSettings", shape: tuple[int, ...], controls: LiveControls) -> float:
    """The largest blur radius in pixels of a picture of ``shape``."""
    h, w = shape[:2]
    return focus.max_blur * float(np.hypot(h, w)) * controls.blur_scale


def focus_and_coc(depth: np.ndarray, faces: Sequence, protect: np.ndarray, focus_settings: "FocusSettings",
                  approach: str, controls: LiveControls,
                  pull: Callable[[float], float] | None = None) -> tuple[float, np.ndarray]:
    """(focus plane, signed CoC map in pixels) of a frame with depth.

    ``pull`` moves the chosen focus towards where it goes (video's focus puller); the live controls shift
    the focus and scale the blur."""
    from ..stages.focus import choose_focus, coc_map, normalise_depth

    h, w = protect.shape[:2]
    diag = float(np.hypot(h, w))
    norm = normalise_depth(depth, focus_settings)  # once for both (the blur scale leaves its percentiles alone)
    focus = choose_focus(depth, faces, protect, focus_settings, norm=norm)
    focus = float(np.clip(focus + controls.focus_offset, 0.0, 1.0))
    if pull is not None:
        focus = pull(focus)
    fs = focus_settings
    if controls.blur_scale != 1.0:
        fs = replace(fs, max_blur=fs.max_blur * controls.blur_scale)
    coc = coc_map(depth, focus, fs, diag, norm=norm)
    if approach == "hybrid":
        # The segmentation defines the subject; everything else is background and blurs at least this much,
        # more the farther it is.
        floor = 1.0 - protect  # built in place: full-size temporaries cost more than the arithmetic
        floor *= np.float32(HYBRID_BACKGROUND_FLOOR * largest_blur(focus_settings, protect.shape, controls))
        np.maximum(coc, floor, out=floor)
        # negative CoC (in front of the focus, with --blur-foreground) keeps its sign
        coc = np.where(coc < 0, coc, floor).astype(np.float32, copy=False)
    return focus, coc


def render(rgb: np.ndarray, coc: np.ndarray | None, protect: np.ndarray, max_px: float,
           bokeh: "BokehSettings", ops: "ArrayOps | None" = None) -> tuple[np.ndarray, np.ndarray]:
    """(output, CoC map): the depth-driven render when there is a CoC map, else the uniform one, on the
    array operations ``ops`` (frame_ops; None = OpenCV's)."""
    from ..stages.bokeh import get_ops, render_bokeh, render_uniform

    ops = get_ops("opencv") if ops is None else ops
    if coc is None:
        uniform = 1.0 - protect  # the CoC the uniform render used, built in place (one full-size array, not two)
        uniform *= np.float32(max_px)
        return render_uniform(rgb, max_px, protect, bokeh, ops=ops), uniform
    return render_bokeh(rgb, coc.astype(np.float32, copy=False), protect, bokeh, ops=ops), coc


def frame_ops(settings: EffectSettings) -> "ArrayOps":
    """The array operations the frame is blurred with: ``settings.frame_backend`` on ``settings.device``."""
    from ..render.ops import get_ops

    return get_ops(settings.frame_backend, settings.device)
