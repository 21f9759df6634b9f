"""Describe a video before processing it: `probe(path) -> VideoInfo`.

The probe opens the container, checks there is a video stream and decodes its
first frame (a header alone proves nothing), so unusable inputs fail here with
one clear line instead of midway through a run.
"""
from __future__ import annotations

import io
import os
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Callable, Iterator

import av

from vidbokeh.errors import InputError, InputNotFoundError

#: Container metadata keys the muxer writes itself (never copied to an output).
MUXER_OWNED_KEYS = frozenset({"major_brand", "minor_version", "compatible_brands", "encoder", "duration"})

#: Packets read while looking for a first decodable frame before giving up.
_MAX_PROBE_PACKETS = 600


@dataclass(frozen=True)
class VideoInfo:
    """What a sink needs to write a file like the input, and a progress bar needs to count it."""

    path: str  # file path, device or lavfi graph
    width: int  # coded size (as stored, before rotation)
    height: int
    rotation: int  # display rotation, degrees counterclockwise (PyAV frame.rotation), one of 0/90/180/-90
    fps: Fraction | None  # average frame rate (None when the container gives none)
    time_base: Fraction
    start_time: float | None  # seconds
    duration: float | None  # seconds
    frame_count: int | None  # None when unknown (stream.frames == 0 is not trusted)
    pix_fmt: str
    bit_depth: int
    codec: str
    container_format: str
    has_audio: bool
    audio_codecs: tuple[str, ...] = ()
    colorspace: int = 2  # AVColorSpace of the source (2 = unspecified)
    color_range: int = 0  # AVColorRange (0 = unspecified, 1 = limited/tv, 2 = full/pc)
    color_primaries: int = 2
    color_trc: int = 2
    metadata: dict[str, str] = field(default_factory=dict, hash=False, compare=False)
    stream_metadata: dict[str, str] = field(default_factory=dict, hash=False, compare=False)

    @property
    def display_size(self) -> tuple[int, int]:
        """(width, height) as a player shows it, after rotation."""
        if self.rotation % 180:
            return self.height, self.width
        return self.width, self.height

    @property
    def expected_frames(self) -> int | None:
        """Frame count, else an estimate from duration x fps (for progress bars only)."""
        if self.frame_count:
            return self.frame_count
        if self.duration and self.fps:
            return max(1, round(self.duration * float(self.fps)))
        return None


def check_input_file(path: Path) -> None:
    """Missing / folder / empty -> typed one-line errors."""
    if not path.exists():
        raise InputNotFoundError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a folder, expected a video file")
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    if size == 0:
        raise InputError(f"{path}: empty file")
    if not os.access(path, os.R_OK):
        raise InputError(f"{path}: permission denied")


#: A video given as a file path or as its encoded bytes (an upload, a blob from storage).
VideoSource = str | os.PathLike[str] | bytes | bytearray | memoryview
#: How a video given as bytes is named in messages and in VideoInfo.path.
BYTES_NAME = "video data"


def in_memory(source: object) -> bool:
    return isinstance(source, (bytes, bytearray, memoryview))


def open_input(source: VideoSource, **kwargs) -> av.container.InputContainer:
    """av.open of a path or of bytes, with PyAV errors turned into InputError naming the input."""
    if in_memory(source):
        data = bytes(source)
        if not data:
            raise InputError(f"{BYTES_NAME}: empty")
        path: object = BYTES_NAME
        target: object = io.BytesIO(data)
    else:
        path = target = str(source)
    try:
        return av.open(target, "r", **kwargs)
    except FileNotFoundError as exc:
        raise InputNotFoundError(f"{path}: no such file") from exc
    except PermissionError as exc:
        raise InputError(f"{path}: permission denied") from exc
    except av.FFmpegError as exc:
        raise InputError(f"{path}: not a readable media file ({_reason(exc)})") from exc
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: cannot open ({exc})") from exc


def demux_tolerant(
    container: av.container.InputContainer,
    streams,
    *,
    max_failures: int,
    on_failure: Callable[[], None],
    keep_going: Callable[[], bool] = lambda: True,
) -> Iterator[av.Packet]:
    """Demux ``streams``, skipping read errors (damaged data, a camera hiccup): each one calls
    ``on_failure`` and reading resumes. Ends at the end of the input, when ``keep_going()`` is false,
    or after ``max_failures`` errors in a row (then ``on_failure`` has been called that many times and the
    caller decides what that means: a truncated file, a camera that went away)."""
    failures = 0
    while keep_going() and failures < max_failures:
        try:
            for packet in container.demux(streams):
                failures = 0
                yield packet
            return
        except (av.EOFError, EOFError):
            return
        except (av.FFmpegError, OSError):
            failures += 1
            on_failure()


def _reason(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    return str(text).split(";")[0].strip() or type(exc).__name__


def rotation_degrees(raw: float | int | None) -> int:
    """Snap a display-matrix angle to 0/90/180/-90."""
    if not raw:
        return 0
    deg = int(round(float(raw) / 90.0)) * 90 % 360
    return {0: 0, 90: 90, 180: 180, 270: -90}[deg]


def bit_depth_of(fmt: av.VideoFormat | None) -> int:
    if fmt is None:
        return 8
    try:
        return max(int(c.bits) for c in fmt.components) or 8
    except (ValueError, AttributeError):
        return 8


def first_video_frame(container: av.container.InputContainer, stream: av.VideoStream,
                      max_packets: int = _MAX_PROBE_PACKETS) -> av.VideoFrame | None:
    """Decode until one frame comes out (skipping undecodable packets); None if none does."""
    seen = 0
    try:
        for packet in container.demux(stream):
            seen += 1
            try:
                frames = stream.decode(packet)
            except (av.FFmpegError, ValueError):
                frames = []
            if frames:
                return frames[0]
            if seen >= max_packets:
                break
    except (av.FFmpegError, EOFError, OSError):
        pass
    try:
        frames = stream.decode(None)
    except (av.FFmpegError, ValueError):
        frames = []
    return frames[0] if frames else None


def usable_audio_streams(container: av.container.InputContainer) -> list[av.AudioStream]:
    """Audio streams FFmpeg recognised (damaged headers can leave one without a codec, or with no sample rate
    or channels: a muxer refuses such a track, and with it the whole output)."""
    return [s for s in container.streams.audio if s.codec_context is not None and s.codec_context.name
            and (s.codec_context.sample_rate or 0) > 0 and s.codec_context.layout.nb_channels > 0]


def info_from_container(path: str, container: av.container.InputContainer, stream: av.VideoStream,
                        first: av.VideoFrame | None) -> VideoInfo:
    """Build a VideoInfo from an opened container and (optionally) its first decoded frame."""
    cc = stream.codec_context
    width = first.width if first is not None else cc.width
    height = first.height if first is not None else cc.height
    fmt = first.format if first is not None else cc.format
    pix_fmt = fmt.name if fmt is not None else (cc.pix_fmt or "unknown")
    fps = stream.average_rate or stream.guessed_rate or stream.base_rate or None
    tb = stream.time_base or Fraction(1, 1000)
    duration = None
    if stream.duration:
        duration = float(stream.duration * tb)
    elif container.duration:
        duration = container.duration / av.time_base
    start = float(stream.start_time * tb) if stream.start_time is not None else None
    frame_count = int(stream.frames) if stream.frames and stream.frames > 0 else None
    audio = usable_audio_streams(container)
    metadata = {k: v for k, v in container.metadata.items()}
    return VideoInfo(
        path=path,
        width=int(width),
        height=int(height),
        rotation=rotation_degrees(first.rotation if first is not None else 0),
        fps=Fraction(fps) if fps else None,
        time_base=Fraction(tb),
        start_time=start,
        duration=duration,
        frame_count=frame_count,
        pix_fmt=pix_fmt,
        bit_depth=bit_depth_of(fmt),
        codec=cc.name or "unknown",
        container_format=container.format.name,
        has_audio=bool(audio),
        audio_codecs=tuple(s.codec_context.name for s in audio),
        colorspace=int(first.colorspace) if first is not None else 2,
        color_range=int(first.color_range) if first is not None else 0,
        color_primaries=int(first.color_primaries) if first is not None else 2,
        color_trc=int(first.color_trc) if first is not None else 2,
        metadata=metadata,
        stream_metadata=dict(stream.metadata.items()),
    )


def probe(source: VideoSource) -> VideoInfo:
    """Describe a video file, or a video held in memory as bytes. Raises InputNotFoundError / InputError
    with one line naming it."""
    p: str | Path = BYTES_NAME if in_memory(source) else Path(source)
    if isinstance(p, Path):
        check_input_file(p)
    container = open_input(source)
    try:
        if not container.streams.video:
            if container.streams.audio:
                raise InputError(f"{p}: no video stream (audio-only file)")
            raise InputError(f"{p}: no video stream")
        stream = container.streams.video[0]
        if stream.codec_context is None:
            raise InputError(f"{p}: unknown or unsupported video codec")
        first = first_video_frame(container, stream)
        if first is None:
            raise InputError(f"{p}: no decodable video frames (zero frames or corrupt video)")
        return info_from_container(str(p), container, stream, first)
    finally:
        container.close()
