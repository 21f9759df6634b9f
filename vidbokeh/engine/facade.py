"""``vidbokeh.Effect``: the earlier one-object API, kept as a thin layer over the engine's calls.

New code uses load_models + render_still (stills) or VideoSession (video) directly.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from .frame import FrameResult
from .models import Models, load_models
from .settings import EffectSettings, LiveControls
from .still import render_still
from .video import VideoSession


class Effect:
    """Loaded models plus, when ``settings.video``, a video session; ``process`` picks the matching call."""

    def __init__(self, settings: EffectSettings | None = None, *, progress: bool = True) -> None:
        settings = settings if settings is not None else EffectSettings()
        self.models: Models = load_models(settings, "video" if settings.video else "image", progress=progress)
        self.settings = self.models.settings
        self.session = VideoSession(self.models) if settings.video else None

    def __getattr__(self, name: str):  # approach, model_name, device, num_params, description, load_seconds...
        if name in ("models", "session", "settings"):
            raise AttributeError(name)
        return getattr(self.models, name)

    def process(self, rgb: np.ndarray, timestamp: float | None = None,
                controls: LiveControls = LiveControls()) -> FrameResult:
        if self.session is not None:
            return self.session.process(rgb, timestamp, controls)
        return render_still(self.models, rgb, self.settings, controls)

    def process_batch(self, frames: Sequence[np.ndarray], timestamps: Sequence[float] | None = None,
                      controls: LiveControls = LiveControls()) -> list[FrameResult]:
        if self.session is not None:
            return self.session.process_batch(frames, timestamps, controls)
        return [render_still(self.models, f, self.settings, controls) for f in frames]

    def close(self) -> None:
        self.models.close()

    def __enter__(self) -> "Effect":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
