"""The engine: one approach's models and the stages that turn a picture or a frame into its bokeh version.

Every front end (image, file and webcam modes, compare, a web server, batch workers) calls the same API:

    settings = resolve_approach(EffectSettings(...))       # "auto" decided once, before any work is handed out
    with load_models(settings, mode="image") as models:    # face detector, segmenter, depth model
        result = render_still(models, rgb, settings)       # = render_analysis(analyse_still(...), settings)
    with load_models(settings, mode="video") as models:
        session = VideoSession(models, settings)           # owns every piece of temporal state
        result = session.process(rgb, timestamp, LiveControls(blur_scale=1.25))

Files: settings.py (what is asked, checked), approach.py (auto), stage_settings.py (presets + overrides),
models.py (loaded models), still.py (stills), large_pictures.py (very large photos), video.py (the session),
frame.py (focus, CoC and render: the steps every frame shares), facade.py (the earlier ``Effect``).

Approaches:
    selfie          person segmentation, no depth: the subject sharp, the background uniformly blurred
    depth_anything  Depth-Anything depth drives the blur; faces protected
    midas           MiDaS depth drives the blur; faces protected
    hybrid          segmentation gives the subject's outline, depth how far each part of the background is
    auto            hybrid with Depth-Anything when its weights are cached or given, else selfie

Importing this package loads neither torch nor MediaPipe; each call imports what it needs.
"""
from __future__ import annotations

from .approach import resolve_approach
from .facade import Effect
from .frame import FrameResult, scale_faces
from .large_pictures import MAX_WORK_PIXELS
from .models import Models, load_models
from .settings import APPROACHES, DEPTH_APPROACHES, DEVICES, EffectSettings, LiveControls, VideoProfile, strategy_names
from .still import StillAnalysis, analyse_still, render_analysis, render_still
from .video import VIDEO_DEPTH_SIZE, VIDEO_DEPTH_SIZE_CPU, VideoSession

__all__ = [
    "APPROACHES", "DEPTH_APPROACHES", "DEVICES", "MAX_WORK_PIXELS", "VIDEO_DEPTH_SIZE", "VIDEO_DEPTH_SIZE_CPU",
    "Effect", "EffectSettings", "FrameResult", "LiveControls", "Models", "StillAnalysis", "VideoProfile",
    "VideoSession", "analyse_still", "load_models", "render_analysis", "render_still", "resolve_approach",
    "scale_faces", "strategy_names",
]
