"""The per-frame steps shared by stills and video: focus, blur radii (CoC) and the render, and their result.

Stills (still.py) and video (video.py) differ in where depth, faces and the protection mask come from;
from there on a frame goes through the same three calls here.
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence

import numpy as np

from ..stages.faces import scale_faces  # noqa: F401 (the engine's name for it; one owner in stages)
from .settings import EffectSettings, LiveControls

if TYPE_CHECKING:
    from ..render.ops import ArrayOps
    from ..stages.bokeh import BokehSettings
    from ..stages.focus import FocusSettings

# hybrid: everything outside the person mask is background and gets at least this share of the largest blur
HYBRID_BACKGROUND_FLOOR = 0.5


class _HostMap:
    """A FrameResult map: kept as the frame path made it (a numpy array, or a tensor on the device of the torch
    frame path) and brought to the host once, when it is first read (--save-depth, the web studio, a test), so
    a frame whose maps nobody reads never copies them back. ``FrameResult.as_made(name)`` reads it as made."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: object, owner: type | None = None) -> np.ndarray | None:
        if obj is None:
            raise AttributeError(self.name)  # no class-level default: the dataclass field stays required
        cache = obj.__dict__
        host = cache.get("_host_" + self.name)
        if host is None:
            made = cache["_made_" + self.name]
            host = made if made is None or isinstance(made, np.ndarray) else made.detach().cpu().numpy()
            cache["_host_" + self.name] = host
        return host

    def __set__(self, obj: object, value: Any) -> None:
        obj.__dict__["_made_" + self.name] = value
        obj.__dict__.pop("_host_" + self.name, None)


@dataclass
class FrameResult:
    """One rendered frame. ``output`` is on the host; the maps are read on the host (see ``_HostMap``)."""

    output: np.ndarray  # uint8 HxWx3
    depth: np.ndarray | None = _HostMap()  # float32 HxW relative inverse depth (larger = nearer), smoothed in video
    protect: np.ndarray = _HostMap()  # float32 HxW, 1 = kept sharp
    coc: np.ndarray = _HostMap()  # float32 HxW blur radius in pixels
    focus: float | None  # focus plane (normalised depth) or None for selfie
    faces: list = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)  # stage -> seconds

    def as_made(self, name: str) -> Any:
        """The map ``name`` ('depth', 'protect', 'coc') as the frame path made it, without a copy to the host."""
        return self.__dict__["_made_" + name]


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


def focus_and_coc(depth, faces: Sequence, protect, focus_settings: "FocusSettings", approach: str,
                  controls: LiveControls, pull: Callable[[float], float] | None = None,
                  ops: "ArrayOps | None" = None) -> tuple[float, Any]:
    """(focus plane, signed CoC map in pixels) of a frame with depth, on the array operations ``ops`` (None =
    OpenCV's): depth and protect may be that backend's arrays, and the CoC map is one.

    ``pull`` moves the chosen focus towards where it goes (video's focus puller); the live controls shift
    the focus and scale the blur."""
    from ..stages.focus import choose_focus, coc_map, normalise_depth

    ops = _ops(ops)
    protect = ops.upload(protect)
    h, w = protect.shape[:2]
    diag = float(np.hypot(h, w))
    norm = normalise_depth(depth, focus_settings, ops)  # once for both (the blur scale leaves its percentiles alone)
    focus = choose_focus(depth, faces, protect, focus_settings, norm=norm, ops=ops)
    focus = float(np.clip(focus + controls.focus_offset, 0.0, 1.0))
    if pull is not None:
        focus = pull(focus)
    fs = focus_settings
    if controls.blur_scale != 1.0:
        fs = replace(fs, max_blur=fs.max_blur * controls.blur_scale)
    coc = coc_map(depth, focus, fs, diag, norm=norm, ops=ops)
    if approach == "hybrid":
        # The segmentation defines the subject; everything else is background and blurs at least this much,
        # more the farther it is: (1 - protect) * floor, as a ramp of protect.
        floor = ops.ramp(protect, 1.0, -HYBRID_BACKGROUND_FLOOR * largest_blur(focus_settings, (h, w), controls))
        # negative CoC (in front of the focus, with --blur-foreground) keeps its sign; without it coc_map's CoC is
        # >= 0 everywhere and the floor is a plain maximum (two full-size passes fewer)
        coc = ops.where(coc < 0, coc, ops.maximum(coc, floor)) if fs.blur_foreground else ops.maximum(coc, floor)
    return focus, coc


def render(rgb, coc, protect, max_px: float, bokeh: "BokehSettings",
           ops: "ArrayOps | None" = None) -> tuple[np.ndarray, Any]:
    """(host uint8 output, CoC map): the depth-driven render when there is a CoC map, else the uniform one, on
    the array operations ``ops`` (frame_ops; None = OpenCV's); rgb, coc and protect may be its arrays, and the
    CoC map returned is one."""
    from ..stages.bokeh import render_bokeh, render_uniform

    ops = _ops(ops)
    if coc is None:
        # the CoC the uniform render used: (1 - protect) * max_px, one full-size array
        return render_uniform(rgb, max_px, protect, bokeh, ops=ops), ops.ramp(ops.upload(protect), 1.0, -max_px)
    return render_bokeh(rgb, coc, protect, bokeh, ops=ops), coc


def _ops(ops: "ArrayOps | None") -> "ArrayOps":
    from ..render.ops_opencv import OPENCV

    return OPENCV if ops is None else ops


def same_device(a: object, b: object) -> bool:
    """True when two torch devices (or None) name the same device ('cuda' is 'cuda:0')."""
    if a is None or b is None:
        return False
    return (a.type, a.index or 0) == (b.type, b.index or 0)  # type: ignore[attr-defined]


def frame_ops(settings: EffectSettings) -> "ArrayOps":
    """The array operations the frame is blurred with: ``settings.frame_backend`` on ``settings.device``."""
    from ..render.ops import get_ops

    return get_ops(settings.frame_backend, settings.device)
