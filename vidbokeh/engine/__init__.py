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
frame.py (focus, CoC and render: the steps every frame shares).

Approaches:
    selfie          person segmentation, no depth: the subject sharp, the background uniformly blurred
    depth_anything  Depth-Anything depth drives the blur; faces protected
    midas           MiDaS depth drives the blur; faces protected
    hybrid          segmentation gives the subject's outline, depth how far each part of the background is
    auto            hybrid with Depth-Anything when its weights are cached or given, else selfie

Importing this package loads neither torch nor MediaPipe (nor its own modules until a name is used); each
call imports what it needs.
"""
from __future__ import annotations

import importlib

# Each name's module, imported on first use: ``from vidbokeh.engine.settings import ...`` (the CLI's parser)
# loads neither numpy's stages nor the renderer.
_HOMES = {
    "resolve_approach": "approach", "FrameResult": "frame", "scale_faces": "frame",
    "MAX_WORK_PIXELS": "large_pictures", "Models": "models", "load_models": "models",
    "APPROACHES": "settings", "DEPTH_APPROACHES": "settings", "DEVICES": "settings", "EffectSettings": "settings",
    "LiveControls": "settings", "VideoProfile": "settings", "strategy_names": "settings",
    "StillAnalysis": "still", "analyse_still": "still", "render_analysis": "still", "render_still": "still",
    "VIDEO_DEPTH_SIZE": "video", "VIDEO_DEPTH_SIZE_CPU": "video", "VideoSession": "video",
}
__all__ = sorted(_HOMES)


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_HOMES[name]}", __name__), name)
    globals()[name] = value
    return value
