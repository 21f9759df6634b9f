"""Which video encoder, pixel format and encoder options an output gets.

One owner for these choices: the file sink asks here, never decides itself.
"""
from __future__ import annotations

import functools
from fractions import Fraction

import av

from vidbokeh.errors import UsageError

VIDEO_SUFFIXES = frozenset({".mp4", ".mkv", ".mov", ".webm"})
#: Encoders whose 4:2:0 mode accepts odd frame sizes.
_ODD_420_ENCODERS = frozenset({"libvpx-vp9", "libvpx", "libaom-av1"})


@functools.lru_cache(maxsize=None)
def encoder_available(name: str) -> bool:
    """True if FFmpeg has an encoder `name` that can actually open (a GPU encoder needs its device)."""
    try:
        codec = av.Codec(name, "w")
    except (av.FFmpegError, ValueError):
        return False
    if not name.endswith(("_nvenc", "_qsv", "_vaapi", "_videotoolbox", "_amf")):
        return True
    try:
        ctx = av.CodecContext.create(codec)
        ctx.width, ctx.height = 256, 256
        ctx.pix_fmt = "yuv420p"
        ctx.time_base = Fraction(1, 30)
        ctx.open()
        return True
    except Exception:  # no device / driver: the encoder exists but cannot be used here
        return False


def default_codec(suffix: str) -> str:
    return "libvpx-vp9" if suffix.lower() == ".webm" else "libx264"


def choose_pix_fmt(codec_name: str, width: int, height: int, bit_depth: int) -> str:
    """Pixel format keeping the exact size and, where the encoder allows it, 10-bit depth."""
    try:
        formats = {f.name for f in (av.Codec(codec_name, "w").video_formats or ())}
    except (av.FFmpegError, ValueError):
        formats = set()
    odd = bool(width % 2 or height % 2) and codec_name not in _ODD_420_ENCODERS
    chroma = "yuv444p" if odd else "yuv420p"
    candidates = [f"{chroma}10le"] if bit_depth > 8 else []
    candidates.append(chroma)
    if not formats:
        return candidates[-1]
    for name in candidates:
        if name in formats:
            return name
    if odd:
        raise UsageError(
            f"encoder {codec_name} cannot keep the odd size {width}x{height} (needs yuv444p); use libx264"
        )
    return next(iter(sorted(formats)))


def encoder_options(codec_name: str, crf: int, preset: str) -> dict[str, str]:
    # No B-frames: with reordering, MP4 derives sample durations from dts and the last
    # frame's duration (hence the file's) drifts from the input; without, pts == dts and
    # every timestamp and duration is kept exactly (cost: a few % more bits at the same CRF).
    if codec_name == "libx264":
        return {"crf": str(crf), "preset": preset, "bf": "0"}
    if codec_name == "libx265":
        return {"crf": str(crf), "preset": preset, "x265-params": "bframes=0:log-level=error"}
    if codec_name == "libvpx-vp9":
        speed = {"ultrafast": "8", "superfast": "8", "veryfast": "6", "faster": "5", "fast": "4"}.get(preset, "3")
        return {"crf": str(min(63, crf + 13)), "b": "0", "deadline": "good", "cpu-used": speed, "row-mt": "1"}
    if codec_name.endswith("_nvenc"):
        return {"preset": "p4", "rc": "vbr", "cq": str(crf + 5), "bf": "0"}
    return {}
