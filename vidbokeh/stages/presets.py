"""Rendering presets: the original project's three strategies, with correct near/far semantics,
and the default ``portrait``.

    PRESETS: dict name -> Preset;  DEFAULT_PRESET = "portrait";  get_preset(name) -> Preset

A Preset is data: FocusSettings (how much blur, where) + BokehSettings (how it is drawn) + a hint
for the mask stage (protect detected faces). Override single fields with
``dataclasses.replace(preset.focus, max_blur=...)``. Every strategy keeps the person map sharp where
the approach has one (selfie, hybrid): there it is what tells the subject from the background, so a
strategy without it would blur the whole body.

- ``conservative``: only the far background blurs: a wide sharp band around the subject, a long
  ramp, a modest maximum blur, nothing in front of the subject blurs.
- ``face_aware``: faces are protected (hint for the mask stage) and the blur is stronger and
  starts close behind the focus. With depth alone (no person map) only the faces are forced sharp.
- ``adaptive``: the sharp band reaches down to the Otsu threshold of the depth histogram, so all
  that the histogram puts on the subject's (near) side stays sharp and the rest blurs with
  distance.
- ``portrait`` (default): continuous CoC over many layers, a narrow sharp band, strong blur;
  faces and person protected. Highlight bloom is off by default: its crisp bright discs keep
  gradient energy in the background, which lowers sharp_iou on the labelled portraits
  (docs/benchmarks.md); turn it on with ``replace(preset.bokeh, highlight_bloom=True)``.
"""
from __future__ import annotations

from dataclasses import dataclass

from vidbokeh.errors import UsageError
from vidbokeh.render.settings import BokehSettings  # not stages.bokeh: the table loads no renderer (nor OpenCV)
from vidbokeh.stages.focus import FocusSettings

__all__ = ["Preset", "PRESETS", "DEFAULT_PRESET", "get_preset"]


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    focus: FocusSettings
    bokeh: BokehSettings
    protect_faces: bool = True  # hint for the mask stage: force detected faces sharp


PRESETS: dict[str, Preset] = {
    preset.name: preset
    for preset in (
        Preset(
            name="conservative",
            description="only the far background blurs, gently",
            focus=FocusSettings(max_blur=0.012, dof=0.12, ramp=0.35, blur_foreground=False),
            bokeh=BokehSettings(),
        ),
        Preset(
            name="face_aware",
            description="faces protected, stronger blur close behind the focus",
            focus=FocusSettings(max_blur=0.03, dof=0.03, ramp=0.15, blur_foreground=False),
            bokeh=BokehSettings(),
            protect_faces=True,
        ),
        Preset(
            name="adaptive",
            description="sharp down to the depth histogram's subject/background split",
            focus=FocusSettings(max_blur=0.025, dof=0.03, ramp=0.2, histogram_split=True),
            bokeh=BokehSettings(),
        ),
        Preset(
            name="portrait",
            description="continuous depth blur, strong (default)",
            focus=FocusSettings(max_blur=0.025, dof=0.04, ramp=0.2, blur_foreground=False),
            # Bloom stays an option (--highlight-bloom): its crisp bright discs add edges where the
            # background had none (docs/benchmarks.md).
            bokeh=BokehSettings(highlight_bloom=False),
        ),
    )
}

DEFAULT_PRESET = "portrait"


def get_preset(name: str = DEFAULT_PRESET) -> Preset:
    """The named preset; UsageError listing the choices when unknown."""
    try:
        return PRESETS[name]
    except KeyError:
        raise UsageError(f"unknown preset {name!r}; choose from {', '.join(PRESETS)}") from None
