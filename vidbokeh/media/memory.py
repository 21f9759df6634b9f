"""Video held in memory: frames from arrays in, encoded bytes out.

Encoded bytes in need nothing extra: `probe`, `FileSource` and `VideoFileSink(audio_from=...)` take bytes
where they take a path. The other directions:

    source = ArraySource(frames, fps=30)            # numpy RGB arrays -> Frame objects, like a FileSource
    data = encode_video(frames, source.info)        # -> MP4 bytes, written by the one VideoFileSink
"""
from __future__ import annotations

import tempfile
import time
from collections.abc import Iterable, Iterator
from fractions import Fraction
from pathlib import Path

import numpy as np

from vidbokeh.errors import InputError, UsageError
from vidbokeh.media.encoders import VIDEO_SUFFIXES
from vidbokeh.media.probe import VideoInfo, VideoSource
from vidbokeh.media.sources import Frame
from vidbokeh.media.video_file import VideoFileSink

ARRAYS_NAME = "frames in memory"


class ArraySource:
    """RGB frames given as arrays (HxWx3 uint8, one size), stamped at a constant `fps`; iterable once.

    `info` describes them (known after the first frame, which is read on construction).
    """

    def __init__(self, frames: Iterable[np.ndarray], fps: float | Fraction = 30) -> None:
        self._frames = iter(frames)
        self.fps = Fraction(fps).limit_denominator(1001)
        if self.fps <= 0:
            raise InputError(f"{ARRAYS_NAME}: frame rate must be positive, got {fps}")
        self.time_base = 1 / self.fps
        self._first = self._check(next(self._frames, None), 0)
        height, width = self._first.shape[:2]
        self.info = VideoInfo(path=ARRAYS_NAME, width=width, height=height, rotation=0, fps=self.fps,
                              time_base=self.time_base, start_time=0.0, duration=None, frame_count=None,
                              pix_fmt="rgb24", bit_depth=8, codec="rawvideo", container_format="memory",
                              has_audio=False)
        self.frames_read = 0
        self.skipped = 0

    def _check(self, rgb: np.ndarray | None, index: int) -> np.ndarray:
        if rgb is None:
            raise InputError(f"{ARRAYS_NAME}: no frames")
        arr = np.asarray(rgb)
        expected = self._first.shape if index else None
        if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3 or (expected and arr.shape != expected):
            want = f"{expected[1]}x{expected[0]} " if expected else ""
            raise InputError(f"{ARRAYS_NAME}: frame {index} is {arr.shape} {arr.dtype}, expected {want}HxWx3 uint8")
        return arr

    def __enter__(self) -> "ArraySource":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._frames = iter(())

    def __iter__(self) -> Iterator[Frame]:
        rgb: np.ndarray | None = self._first
        while rgb is not None:
            index = self.frames_read
            yield Frame(index=index, rgb=self._check(rgb, index), pts=index, time_base=self.time_base,
                        time=float(index * self.time_base), capture_time=time.monotonic(), duration=1)
            self.frames_read += 1
            rgb = next(self._frames, None)


def encode_video(frames: Iterable[np.ndarray], info: VideoInfo, *, suffix: str = ".mp4",
                 audio_from: VideoSource | None = None, codec: str | None = None, crf: int = 18,
                 preset: str = "veryfast") -> bytes:
    """Encode RGB frames like `info` (at its frame rate from 0 s) into a video file's bytes.

    The same VideoFileSink as every file output (so the same codecs, colour tags and audio handling),
    written to a private temporary folder and read back.
    """
    if suffix.lower() not in VIDEO_SUFFIXES:
        raise UsageError(f"unsupported video format {suffix!r} (use one of {', '.join(sorted(VIDEO_SUFFIXES))})")
    with tempfile.TemporaryDirectory(prefix="vidbokeh-") as folder:
        path = Path(folder) / f"video{suffix.lower()}"
        with VideoFileSink(path, info, codec=codec, crf=crf, preset=preset, audio_from=audio_from) as sink:
            for rgb in frames:
                sink.write(np.asarray(rgb))
        return path.read_bytes()
