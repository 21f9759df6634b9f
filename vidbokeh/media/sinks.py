"""What the pipeline writes frames to, and where each kind of sink lives.

Every sink is a synchronous context manager; the pipeline decides which thread calls it.

- `video_file.VideoFileSink`: an encoded file like the input (encoder choice in `encoders`,
  audio in `audio_copy`);
- `preview.PreviewSink`: an OpenCV window (`display` says whether one can open);
- `virtual_camera.VirtualCameraSink`: a virtual camera for video calls;
- `NullSink` (here): discards frames.

The names of the other modules stay importable from here, loaded on first use so that importing
this module loads neither PyAV nor OpenCV.
"""
from __future__ import annotations

import importlib
from fractions import Fraction
from typing import Any, Protocol

import numpy as np


class FrameSink(Protocol):
    """What the pipeline writes frames to."""

    def write(self, rgb: np.ndarray, pts: int | None = None, time_base: Fraction | None = None,
              duration: int | None = None) -> Any: ...

    def close(self) -> Any: ...


class NullSink:
    """Discards frames (benchmarks, --no-preview without --output); counts them."""

    def __init__(self) -> None:
        self.frames_written = 0

    def __enter__(self) -> "NullSink":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def write(self, rgb: np.ndarray, pts: int | None = None, time_base: Fraction | None = None,
              duration: int | None = None) -> None:
        self.frames_written += 1

    def close(self) -> None:
        pass


_ELSEWHERE = {
    "VideoFileSink": "video_file",
    "VIDEO_SUFFIXES": "encoders",
    "encoder_available": "encoders",
    "default_codec": "encoders",
    "choose_pix_fmt": "encoders",
    "PreviewSink": "preview",
    "display_problem": "display",
    "VirtualCameraSink": "virtual_camera",
}


def __getattr__(name: str) -> Any:
    module = _ELSEWHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"vidbokeh.media.{module}"), name)
