"""EffectSettings -> the settings of each stage: the strategy's preset with the user's overrides on top.

The presets table (stages/presets.py) is the one owner of what a strategy means; this module only merges.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..stages.bokeh import BokehSettings
    from ..stages.focus import FocusSettings
    from ..stages.masks import MaskSettings
    from ..stages.presets import Preset
    from ..stages.smoothing import SmoothingSettings
    from .settings import EffectSettings, VideoProfile


@dataclass(frozen=True)
class StageSettings:
    """What each stage is given for one EffectSettings."""

    preset: "Preset"
    focus: "FocusSettings"
    bokeh: "BokehSettings"
    mask: "MaskSettings"


def stage_settings(settings: "EffectSettings", video_profile: "VideoProfile | None" = None) -> StageSettings:
    """The strategy's preset with the settings' overrides; ``video_profile``: the mask's video fit sizes and
    the render's video layer spacing."""
    from ..stages.masks import MaskSettings
    from ..stages.presets import get_preset

    preset = get_preset(settings.strategy)
    changes = {name: getattr(settings, name) for name in ("focus", "focus_point", "max_blur", "dof", "blur_foreground")
               if getattr(settings, name) is not None}
    focus = replace(preset.focus, **changes)
    bokeh_changes = {"highlight_bloom": settings.highlight_bloom or preset.bokeh.highlight_bloom}
    if settings.aperture_blades is not None:
        bokeh_changes["aperture_blades"] = settings.aperture_blades
    if video_profile is not None:
        bokeh_changes.update(layer_step=video_profile.layer_step, layer_ratio=video_profile.layer_ratio)
    bokeh = replace(preset.bokeh, **bokeh_changes)
    mask = MaskSettings(protect_faces=preset.protect_faces)
    if video_profile is not None:
        fit = video_profile.mask_fit_side
        mask = replace(mask, guided_max_side=min(fit, mask.guided_max_side),
                       fill_holes_max_side=min(fit, mask.fill_holes_max_side))
    return StageSettings(preset=preset, focus=focus, bokeh=bokeh, mask=mask)


def smoothing_settings(settings: "EffectSettings") -> "SmoothingSettings":
    """Video's temporal smoothing: the default strength unless ``settings.smoothing`` says otherwise."""
    from ..stages.smoothing import SmoothingSettings

    return SmoothingSettings() if settings.smoothing is None else SmoothingSettings(strength=settings.smoothing)
