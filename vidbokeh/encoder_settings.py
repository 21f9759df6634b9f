"""How a video is encoded: codec, quality (CRF) and speed preset, checked when built.

The one owner of these ranges and names: the CLI takes its choices from here. Importing it loads nothing
heavy (no PyAV, no OpenCV: not under vidbokeh.media, whose package loads OpenCV first), so the command line's parser can read it.
"""
from __future__ import annotations

from dataclasses import dataclass

from .errors import UsageError

CRF_RANGE = (0, 51)  # x264's scale; the other encoders' scales are mapped from it (media/encoders.py)
# x264's presets; the other encoders map these names onto their own speed settings
ENCODER_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")


@dataclass(frozen=True)
class EncoderSettings:
    codec: str | None = None  # None: libx264 (libvpx-vp9 for .webm); h264_nvenc when a GPU runs depth
    crf: int = 18
    preset: str = "veryfast"

    def __post_init__(self) -> None:
        low, high = CRF_RANGE
        if isinstance(self.crf, bool) or not isinstance(self.crf, int) or not low <= self.crf <= high:
            raise UsageError(f"--crf must be a whole number {low}..{high}, got {self.crf}")
        if self.preset not in ENCODER_PRESETS:
            raise UsageError(f"unknown encoder preset {self.preset!r}; choose from {', '.join(ENCODER_PRESETS)}")
