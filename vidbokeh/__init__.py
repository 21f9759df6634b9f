"""vidbokeh: depth-aware portrait bokeh for webcam streams, video files and photos.

The Python API mirrors the CLI::

    from vidbokeh import EffectSettings, process_image, run_file, compare
    process_image("portrait.jpg", settings=EffectSettings(approach="selfie"))

Names are imported on first use, so ``import vidbokeh`` stays light (no torch, no MediaPipe).
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

_LAZY = {
    "EffectSettings": "vidbokeh.engine",
    "LiveControls": "vidbokeh.engine",
    "FrameResult": "vidbokeh.engine",
    "resolve_approach": "vidbokeh.engine",
    "load_models": "vidbokeh.engine",
    "render_still": "vidbokeh.engine",
    "VideoSession": "vidbokeh.engine",
    "process_image": "vidbokeh.image_mode",
    "process_images": "vidbokeh.image_mode",
    "ImageJob": "vidbokeh.image_mode",
    "run_file": "vidbokeh.video_mode",
    "run_webcam": "vidbokeh.webcam_mode",
    "CameraJob": "vidbokeh.webcam_mode",
    "EncoderSettings": "vidbokeh.encoder_settings",
    "compare": "vidbokeh.comparison",
    "CompareSettings": "vidbokeh.comparison",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'vidbokeh' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
