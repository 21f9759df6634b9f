"""Generate small test media with PyAV: clips with a 440 Hz AAC tone, VFR, odd sizes,
10-bit, rotation metadata, audio-only files, truncated and corrupted copies, images.

Every generator is deterministic (seeded) and fast (tiny sizes); other tests import this.
"""
from __future__ import annotations

import math
import random
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

TONE_HZ = 440.0
AUDIO_RATE = 48000


def pattern_frame(index: int, width: int, height: int) -> np.ndarray:
    """A smooth gradient with a moving bright square: compresses well, changes every frame."""
    ys, xs = np.mgrid[0:height, 0:width]
    img = np.empty((height, width, 3), np.uint8)
    img[..., 0] = (xs * 255 // max(width - 1, 1)).astype(np.uint8)
    img[..., 1] = (ys * 255 // max(height - 1, 1)).astype(np.uint8)
    img[..., 2] = (index * 8) % 256
    side = max(2, min(width, height) // 4)
    x0 = (index * 3) % max(width - side, 1)
    y0 = (index * 2) % max(height - side, 1)
    img[y0:y0 + side, x0:x0 + side] = 240
    return img


def _sine_frames(stream: av.audio.stream.AudioStream, seconds: float, rate: int) -> Iterator[av.AudioFrame]:
    """Mono float-planar sine frames sized for the encoder (frame_size, 1024 for AAC), made lazily
    so long soak clips do not hold their whole soundtrack in memory."""
    size = stream.codec_context.frame_size or 1024
    total = int(round(seconds * rate))
    for start in range(0, total, size):
        n = min(size, total - start)
        t = (np.arange(start, start + n) / rate).astype(np.float64)
        samples = (0.3 * np.sin(2 * math.pi * TONE_HZ * t)).astype(np.float32)[None, :]
        frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
        frame.sample_rate = rate
        frame.pts = start
        frame.time_base = Fraction(1, rate)
        yield frame


def make_clip(
    path: Path,
    *,
    width: int = 64,
    height: int = 48,
    frames: int = 30,
    fps: int | Fraction = 30,
    codec: str = "libx264",
    pix_fmt: str | None = None,
    audio: bool = True,
    audio_codec: str = "aac",
    pts: list[int] | None = None,
    time_base: Fraction | None = None,
    rotation: int = 0,
    metadata: dict[str, str] | None = None,
    faststart: bool = False,
    gop: int = 10,
) -> Path:
    """Write a test clip. `pts` (in `time_base`) makes it variable frame rate.

    pix_fmt defaults to yuv420p for even sizes and yuv444p for odd ones.
    """
    path = Path(path)
    fps = Fraction(fps)
    if pix_fmt is None:
        pix_fmt = "yuv420p" if width % 2 == 0 and height % 2 == 0 else "yuv444p"
    if pts is None:
        tb = time_base or Fraction(1, int(fps * 1000) if fps.denominator == 1 else 90000)
        step = 1 / (fps * tb)
        pts = [int(round(i * step)) for i in range(frames)]
    else:
        tb = time_base or Fraction(1, 1000)
        frames = len(pts)
    options = {"movflags": "+faststart"} if faststart and path.suffix in (".mp4", ".mov") else {}
    with av.open(str(path), "w", options=options) as out:
        if metadata:
            out.metadata.update(metadata)
        vs = out.add_stream(codec, rate=fps)
        vs.width, vs.height, vs.pix_fmt = width, height, pix_fmt
        vs.codec_context.time_base = tb
        vs.time_base = tb
        vs.codec_context.gop_size = gop
        if codec == "libx264":
            vs.codec_context.options = {"preset": "ultrafast", "crf": "20"}
        if rotation:
            vs.set_display_rotation(rotation)
        aus = None
        if audio:
            aus = out.add_stream(audio_codec, rate=AUDIO_RATE, layout="mono")
        for i, p in enumerate(pts):
            vf = av.VideoFrame.from_ndarray(pattern_frame(i, width, height), format="rgb24")
            vf.pts = p
            vf.time_base = tb
            for packet in vs.encode(vf):
                out.mux(packet)
        for packet in vs.encode():
            out.mux(packet)
        if aus is not None:
            seconds = float((pts[-1] - pts[0]) * tb) + float(1 / fps)
            for af in _sine_frames(aus, seconds, AUDIO_RATE):
                for packet in aus.encode(af):
                    out.mux(packet)
            for packet in aus.encode():
                out.mux(packet)
    return path


def make_audio_only(path: Path, seconds: float = 1.0) -> Path:
    with av.open(str(path), "w") as out:
        aus = out.add_stream("aac", rate=AUDIO_RATE, layout="mono")
        for af in _sine_frames(aus, seconds, AUDIO_RATE):
            for packet in aus.encode(af):
                out.mux(packet)
        for packet in aus.encode():
            out.mux(packet)
    return path


def make_zero_frame_video(path: Path) -> Path:
    """A container with a video stream header but no frames (plus a short audio track).

    Use a .mkv path: the MP4 muxer drops a video track that has no samples.
    """
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=30)
        vs.width, vs.height, vs.pix_fmt = 64, 48, "yuv420p"
        aus = out.add_stream("aac", rate=AUDIO_RATE, layout="mono")
        for af in _sine_frames(aus, 0.2, AUDIO_RATE):
            for packet in aus.encode(af):
                out.mux(packet)
        for packet in aus.encode():
            out.mux(packet)
        for packet in vs.encode():
            out.mux(packet)
    return path


def truncate_copy(src: Path, dst: Path, fraction: float = 0.5) -> Path:
    data = Path(src).read_bytes()
    Path(dst).write_bytes(data[: int(len(data) * fraction)])
    return Path(dst)


def corrupt_copy(src: Path, dst: Path, *, start: float = 0.4, end: float = 0.6, seed: int = 0,
                 flips: int = 400) -> Path:
    """Overwrite random bytes between `start` and `end` (fractions of the file) with noise."""
    data = bytearray(Path(src).read_bytes())
    rng = random.Random(seed)
    lo, hi = int(len(data) * start), int(len(data) * end)
    for _ in range(flips):
        data[rng.randrange(lo, hi)] = rng.randrange(256)
    Path(dst).write_bytes(bytes(data))
    return Path(dst)


def decoded_video(path: Path) -> tuple[list[int], Fraction, tuple[int, int]]:
    """(pts list, time_base, (width, height)) of every decodable video frame, for assertions."""
    with av.open(str(path)) as c:
        vs = c.streams.video[0]
        pts = [f.pts for f in c.decode(vs)]
        return pts, vs.time_base, (vs.codec_context.width, vs.codec_context.height)


def audio_packets(path: Path) -> list[tuple[int, bytes]]:
    """(size, payload) of every non-empty audio packet of the first audio stream."""
    with av.open(str(path)) as c:
        if not c.streams.audio:
            return []
        return [(p.size, bytes(p)) for p in c.demux(c.streams.audio[0]) if p.size]
