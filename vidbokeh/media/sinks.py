"""Frame sinks: an encoded video file (audio kept), a preview window, a virtual camera, nothing.

All are synchronous context managers; the pipeline decides which thread calls them.

`VideoFileSink` writes a file like its input:
- timestamps: the encoder's time base is the input's and every frame keeps its input pts,
  so variable frame rate stays variable and the duration matches;
- rotation (display matrix), colour tags and container/stream metadata are carried over;
- audio is copied packet for packet from the input (opened a second time), interleaved
  by time as video is written; re-encoded (AAC, or Opus for WebM) only when the output
  container cannot hold the input's codec;
- odd sizes: H.264 4:2:0 cannot code odd dimensions, so odd-sized inputs are encoded
  4:4:4 (yuv444p, High 4:4:4 profile), which keeps the exact size without padding or
  cropping (some hardware players cannot play High 4:4:4; VP9 handles odd 4:2:0 itself);
- 10-bit inputs are encoded 10-bit (yuv420p10le / yuv444p10le) when the encoder can;
- atomic: written to a hidden temp file (same extension) in the destination folder and
  renamed when complete. `abort()` deletes it; `finalize()` closes what was written into a
  playable file (audio cut at the last video frame); a write failure deletes it and raises
  OutputError, so no half-written file is ever left under the final name.
"""
from __future__ import annotations

import errno
import functools
import os
from collections.abc import Callable, Iterator, Mapping
from fractions import Fraction
from pathlib import Path
from typing import Any, Protocol

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from vidbokeh.errors import InputError, OutputError, UsageError
from vidbokeh.media.atomic import check_output_path, commit_temp, remove_quietly, temp_path_for
from vidbokeh.media.probe import MUXER_OWNED_KEYS, VideoInfo, demux_tolerant, usable_audio_streams
from vidbokeh.media.sources import COLOR_FLAGS, MAX_CONSECUTIVE_ERRORS, stored

VIDEO_SUFFIXES = frozenset({".mp4", ".mkv", ".mov", ".webm"})
#: Encoders whose 4:2:0 mode accepts odd frame sizes.
_ODD_420_ENCODERS = frozenset({"libvpx-vp9", "libvpx", "libaom-av1"})
#: Audio codecs that cannot be stream-copied without their codec setup data (extradata).
# AAC too: without its AudioSpecificConfig (ADTS input, or a damaged esds) MKV/MOV refuse the track
_NEEDS_EXTRADATA = frozenset({"opus", "vorbis", "flac", "alac", "aac"})
_STREAM_METADATA_SKIP = frozenset({"encoder", "duration", "rotate", "number_of_frames", "number_of_bytes",
                                   "_statistics_tags", "_statistics_writing_app", "bps", "_statistics_writing_date_utc"})


class FrameSink(Protocol):
    """What the pipeline writes frames to."""

    def write(self, rgb: np.ndarray, pts: int | None = None, time_base: Fraction | None = None,
              duration: int | None = None) -> Any: ...

    def close(self) -> Any: ...


# --------------------------------------------------------------------------- encoder choice


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


def _encoder_options(codec_name: str, crf: int, preset: str) -> dict[str, str]:
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


# --------------------------------------------------------------------------- audio


class _AudioCopier:
    """Copy (or, where the container needs it, re-encode) the input's audio into `output`."""

    def __init__(self, source: Path, output: av.container.OutputContainer, webm: bool) -> None:
        self.source = source
        self._input = av.open(str(source), "r")
        self._routes: dict[int, tuple[str, Any, Any]] = {}
        self.copied_packets = 0
        self.dropped_packets = 0
        self.reencoded = False
        supported = output.supported_codecs
        streams = usable_audio_streams(self._input)
        for stream in streams:
            name = stream.codec_context.name
            # a damaged header can lose the setup data these codecs need in MP4/MKV: re-encode
            headless = name in _NEEDS_EXTRADATA and not stream.codec_context.extradata_size
            if name in supported and not headless:
                out = output.add_stream_from_template(stream)
                self._routes[stream.index] = ("copy", out, None)
            else:
                target = "libopus" if webm else "aac"
                rate = stream.codec_context.sample_rate or 48000
                if target == "libopus" and rate not in (8000, 12000, 16000, 24000, 48000):
                    rate = 48000
                out = output.add_stream(target, rate=rate, layout=stream.codec_context.layout.name or "stereo")
                resampler = av.AudioResampler(format=out.codec_context.format, layout=out.codec_context.layout,
                                              rate=rate, frame_size=out.codec_context.frame_size or None)
                self._routes[stream.index] = ("encode", out, resampler)
                self.reencoded = True
            for key, value in stream.metadata.items():
                if key.lower() not in _STREAM_METADATA_SKIP:
                    out.metadata[key] = value
            out.disposition = stream.disposition
        self._streams = streams
        self._packets: Iterator[av.Packet] | None = self._read() if streams else None
        self._pending: av.Packet | None = None
        self._output = output

    def _read(self) -> Iterator[av.Packet]:
        def dropped() -> None:  # damaged audio: skip what cannot be read
            self.dropped_packets += 1

        return demux_tolerant(self._input, self._streams, max_failures=MAX_CONSECUTIVE_ERRORS, on_failure=dropped)

    def pump(self, until: float | None, mux: Callable[[av.Packet], None]) -> None:
        """Write audio packets whose time is <= `until` seconds (all of them when None)."""
        if self._packets is None:
            return
        while True:
            packet = self._pending
            self._pending = None
            if packet is None:
                packet = next(self._packets, None)
                if packet is None:
                    self._packets = None
                    return
            if packet.dts is None or packet.size == 0:
                continue
            if until is not None and packet.time_base is not None:
                when = float((packet.pts if packet.pts is not None else packet.dts) * packet.time_base)
                if when > until:
                    self._pending = packet
                    return
            self._write(packet, mux)

    def _write(self, packet: av.Packet, mux: Callable[[av.Packet], None]) -> None:
        kind, out, resampler = self._routes[packet.stream.index]
        if kind == "copy":
            packet.stream = out
            try:
                mux(packet)
                self.copied_packets += 1
            except ValueError:  # av.ArgumentError (EINVAL), e.g. non-monotonic dts in damaged input: drop, keep going
                self.dropped_packets += 1
            return
        try:
            frames = packet.stream.decode(packet)
        except (av.FFmpegError, ValueError):
            self.dropped_packets += 1
            return
        for frame in frames:
            frame.pts = None
            for resampled in resampler.resample(frame):
                for encoded in out.encode(resampled):
                    mux(encoded)

    def finish(self, mux: Callable[[av.Packet], None]) -> None:
        """Flush re-encoders."""
        for kind, out, resampler in self._routes.values():
            if kind != "encode":
                continue
            for resampled in resampler.resample(None):
                for encoded in out.encode(resampled):
                    mux(encoded)
            for encoded in out.encode(None):
                mux(encoded)

    def close(self) -> None:
        try:
            self._input.close()
        except Exception:
            pass


# --------------------------------------------------------------------------- file sink


def _copyable_metadata(items: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in items.items() if k.lower() not in MUXER_OWNED_KEYS | _STREAM_METADATA_SKIP}


class VideoFileSink:
    """Encode RGB frames into a video file like `info` (see the module docstring)."""

    def __init__(
        self,
        out_path: str | os.PathLike[str],
        info: VideoInfo,
        *,
        codec: str | None = None,
        crf: int = 18,
        preset: str = "veryfast",
        audio_from: str | os.PathLike[str] | None = None,
        overwrite: bool = False,
        prefer_nvenc: bool = False,
        frames_upright: bool = True,
        inputs: tuple[str | os.PathLike[str], ...] = (),
        start_at_zero: bool = False,
    ) -> None:
        self.path = Path(out_path)
        self.info = info
        sources = [*inputs, *([audio_from] if audio_from else []),
                   *([info.path] if info.path and Path(info.path).exists() else [])]
        check_output_path(self.path, inputs=sources, overwrite=overwrite, suffixes=VIDEO_SUFFIXES)
        self.overwrite = overwrite
        self.frames_upright = frames_upright
        # cameras stamp frames with a device clock (v4l2: seconds since boot); a recording
        # should start at 0 instead. Files keep their timestamps exactly (default).
        self.start_at_zero = start_at_zero
        self._pts_origin: int | None = None
        if start_at_zero and audio_from:
            raise UsageError("start_at_zero is for camera recordings; it would desynchronise copied audio")
        self.audio_from = Path(audio_from) if audio_from else None
        self.crf = crf
        self.preset = preset
        self.note: str | None = None  # one line for the user about a choice made (encoder fallback...)
        self.codec_name = self._pick_codec(codec, prefer_nvenc)
        self.pix_fmt = choose_pix_fmt(self.codec_name, info.width, info.height, info.bit_depth)
        self.frames_written = 0
        self.temp = temp_path_for(self.path)
        self._container: av.container.OutputContainer | None = None
        self._video: av.VideoStream | None = None
        self._audio: _AudioCopier | None = None
        self._reformatter = VideoReformatter()
        self._last_pts: int | None = None
        self._last_time = float("-inf")
        self._last_duration = 1
        self._durations: dict[int, int] = {}
        self._frame_step = int(round(1 / (float(info.fps) * info.time_base))) if info.fps else 1
        self._state = "new"  # new -> open -> (closed | aborted | failed)

    # -- setup
    def _pick_codec(self, codec: str | None, prefer_nvenc: bool) -> str:
        suffix = self.path.suffix.lower()
        name = codec or default_codec(suffix)
        if prefer_nvenc and codec in (None, "libx264") and suffix != ".webm":
            if encoder_available("h264_nvenc"):
                name = "h264_nvenc"
            else:
                self.note = "h264_nvenc is not available here; encoding with libx264"
        if not encoder_available(name):
            raise UsageError(f"encoder {name} is not available in this FFmpeg build")
        if suffix == ".webm" and name not in ("libvpx-vp9", "libvpx", "libaom-av1", "libsvtav1"):
            raise UsageError(f"{self.path}: WebM holds VP8/VP9/AV1 only, not {name} (use .mp4/.mkv/.mov)")
        return name

    def open(self) -> "VideoFileSink":
        if self._state != "new":
            return self
        info = self.info
        try:
            self._container = av.open(str(self.temp), "w")
        except (av.FFmpegError, OSError) as exc:
            raise OutputError(f"{self.path}: cannot create output: {getattr(exc, 'strerror', None) or exc}") from exc
        try:
            self._container.metadata.update(_copyable_metadata(info.metadata))
            vs = self._container.add_stream(self.codec_name, rate=info.fps or None)
            vs.width, vs.height, vs.pix_fmt = info.width, info.height, self.pix_fmt
            cc = vs.codec_context
            cc.time_base = info.time_base
            vs.time_base = info.time_base
            if info.fps:
                cc.framerate = info.fps
            cc.options = _encoder_options(self.codec_name, self.crf, self.preset)
            if info.colorspace != 2:
                cc.colorspace = info.colorspace
            if info.color_range:
                cc.color_range = info.color_range
            if info.color_primaries != 2:
                cc.color_primaries = info.color_primaries
            if info.color_trc != 2:
                cc.color_trc = info.color_trc
            if info.rotation:
                vs.set_display_rotation(info.rotation)
            for key, value in _copyable_metadata(info.stream_metadata).items():
                vs.metadata[key] = value
            self._video = vs
            if self.audio_from is not None:
                try:
                    self._audio = _AudioCopier(self.audio_from, self._container, self.path.suffix.lower() == ".webm")
                except (av.FFmpegError, OSError) as exc:
                    raise InputError(f"{self.audio_from}: cannot read its audio: {exc}") from exc
        except BaseException:
            self._state = "failed"
            self._discard()
            raise
        self._state = "open"
        return self

    def __enter__(self) -> "VideoFileSink":
        return self.open()

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._state != "open":
            return
        if exc_type is None:
            self.close()
        else:
            # an interrupted or failed run keeps what was done, as a playable file
            try:
                self.finalize()
            except Exception:
                self.abort()

    # -- writing
    def _mux(self, packet: av.Packet) -> None:
        """The single point where bytes go to disk (tests override it to inject failures)."""
        assert self._container is not None
        self._container.mux(packet)

    def _mux_video(self, packet: av.Packet) -> None:
        # encoders do not carry frame durations to packets; the muxer needs them for the
        # last frame (file duration) and VFR, so give each packet its frame's duration
        if packet.pts is not None:
            duration = self._durations.pop(packet.pts, 0)
            if duration:
                packet.duration = duration
        self._mux(packet)

    def _fail(self, exc: BaseException) -> OutputError:
        self._state = "failed"
        self._discard()
        reason = getattr(exc, "strerror", None) or str(exc)
        if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
            reason = "no space left on device"
        return OutputError(f"{self.path}: write failed after {self.frames_written} frames: {reason}")

    def write(self, rgb: np.ndarray, pts: int | None = None, time_base: Fraction | None = None,
              duration: int | None = None) -> None:
        """Encode one RGB frame (upright when frames_upright) at `pts` (in `time_base`, default the input's).

        `duration` (same units) sets how long the frame shows; it matters for the last frame,
        whose duration decides the file's duration (pass Frame.duration).
        """
        if self._state == "new":
            self.open()
        if self._state != "open":
            raise OutputError(f"{self.path}: sink is {self._state}; cannot write")
        assert self._video is not None
        if self.frames_upright and self.info.rotation:
            rgb = stored(rgb, self.info.rotation)
        if rgb.shape != (self.info.height, self.info.width, 3) or rgb.dtype != np.uint8:
            raise ValueError(
                f"frame {rgb.shape} {rgb.dtype} does not match the output "
                f"({self.info.height}, {self.info.width}, 3) uint8"
            )
        tb = self.info.time_base
        if pts is None:
            enc_pts = (self._last_pts + self._frame_step) if self._last_pts is not None else 0
        elif time_base is not None and Fraction(time_base) != tb:
            enc_pts = int(round(pts * Fraction(time_base) / tb))
        else:
            enc_pts = int(pts)
        if self.start_at_zero:
            if self._pts_origin is None:
                self._pts_origin = enc_pts
            enc_pts -= self._pts_origin
        if self._last_pts is not None and enc_pts <= self._last_pts:
            enc_pts = self._last_pts + 1  # encoders need strictly increasing pts
        if duration is not None and time_base is not None and Fraction(time_base) != tb:
            duration = int(round(duration * Fraction(time_base) / tb))
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        frame = self._reformatter.reformat(
            frame,
            format=self.pix_fmt,
            dst_colorspace=self.info.colorspace if self.info.colorspace != 2 else None,
            dst_color_range=self.info.color_range or None,
            interpolation=COLOR_FLAGS,
        )
        frame.pts = enc_pts
        frame.time_base = tb
        if self._last_pts is not None and self._durations.get(self._last_pts) == 0:
            # the previous frame had no duration and is still inside the encoder: it lasts until this one
            self._durations[self._last_pts] = enc_pts - self._last_pts
        self._durations[enc_pts] = duration or 0
        if len(self._durations) > 512:  # only frames still inside the encoder belong here
            for stale in sorted(self._durations)[:256]:
                del self._durations[stale]
        try:
            for packet in self._video.encode(frame):
                self._mux_video(packet)
            self._last_pts = enc_pts
            self._last_time = float(enc_pts * tb)
            self._last_duration = duration or self._frame_step
            self.frames_written += 1
            if self._audio is not None:
                self._audio.pump(self._last_time, self._mux)
        except (OSError, av.FFmpegError) as exc:  # disk errors (ENOSPC, EIO...) and muxer refusals
            raise self._fail(exc) from exc

    # -- ending
    def _end(self, complete: bool) -> Path | None:
        if self._state == "new":
            self.open()
        if self._state != "open":
            return None
        assert self._video is not None and self._container is not None
        if self.frames_written == 0:
            self.abort()
            if complete:
                raise OutputError(f"{self.path}: no frames were written; nothing saved")
            return None
        if complete and self._last_pts is not None and self._durations.get(self._last_pts) == 0:
            self._durations[self._last_pts] = self._input_end_duration()
        try:
            for packet in self._video.encode(None):
                self._mux_video(packet)
            if self._audio is not None:
                end = None if complete else self._last_time + float(self._last_duration * self.info.time_base)
                self._audio.pump(end, self._mux)
                self._audio.finish(self._mux)
                self._audio.close()
            self._container.close()
        except (OSError, av.FFmpegError) as exc:  # e.g. the trailer cannot be written
            raise self._fail(exc) from exc
        self._container = None
        try:
            commit_temp(self.temp, self.path, overwrite=self.overwrite)
        except OutputError:
            self._state = "failed"
            raise
        self._state = "closed"
        return self.path

    def _input_end_duration(self) -> int:
        """Duration of the last frame when the caller gave none: up to the input's end if that is
        plausible (within 4 frame steps), else one nominal frame step."""
        info, tb = self.info, self.info.time_base
        if info.duration and self._last_pts is not None:
            end = (info.start_time or 0.0) + info.duration
            gap = int(round((end - self._last_time) / tb)) if self._last_time > float("-inf") else 0
            if 0 < gap <= 4 * self._frame_step:
                return gap
        return self._frame_step

    def close(self) -> Path:
        """Flush, copy the rest of the audio, rename into place. Returns the final path."""
        path = self._end(complete=True)
        if path is None:
            raise OutputError(f"{self.path}: output was {self._state}; nothing saved")
        return path

    def finalize(self) -> Path | None:
        """Close with what was written so far (audio cut at the last frame): a playable file.

        Returns the final path, or None when no frame had been written (nothing is kept).
        """
        return self._end(complete=False)

    def _discard(self) -> None:
        if self._audio is not None:
            self._audio.close()
            self._audio = None
        if self._container is not None:
            try:
                self._container.close()
            except Exception:
                pass
            self._container = None
        remove_quietly(self.temp)

    def abort(self) -> None:
        """Stop and delete the temporary file; nothing appears under the final name."""
        if self._state in ("closed",):
            return
        self._discard()
        if self._state != "failed":
            self._state = "aborted"

    @property
    def audio_packets_copied(self) -> int:
        return self._audio.copied_packets if self._audio is not None else 0

    @property
    def state(self) -> str:
        return self._state


# --------------------------------------------------------------------------- preview window


def display_problem() -> str | None:
    """Why an OpenCV window cannot open here (None if it can).

    OpenCV's Qt build aborts the whole process when no platform plugin initialises,
    so this is checked from the environment and, when that looks fine, in a child process.
    """
    import platform
    import subprocess
    import sys

    if platform.system() != "Linux":
        return None
    qpa = os.environ.get("QT_QPA_PLATFORM", "xcb").split(":")[0] or "xcb"
    try:
        import cv2

        plugins = Path(cv2.__file__).parent / "qt" / "plugins" / "platforms"
    except ImportError:
        return "OpenCV is not installed"
    if plugins.is_dir() and not any(plugins.glob(f"libq{qpa}.so*")):
        return f"OpenCV's Qt has no '{qpa}' platform plugin (QT_QPA_PLATFORM={qpa})"
    if qpa == "xcb" and not os.environ.get("DISPLAY"):
        return "no display (DISPLAY is not set)"
    if qpa.startswith("wayland") and not os.environ.get("WAYLAND_DISPLAY"):
        return "no display (WAYLAND_DISPLAY is not set)"
    probe_code = "import cv2; cv2.namedWindow('vidbokeh-probe'); cv2.destroyAllWindows()"
    try:
        done = subprocess.run([sys.executable, "-c", probe_code], capture_output=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return "the display did not answer"
    if done.returncode != 0:
        return "OpenCV could not open a window on this display"
    return None


class PreviewSink:
    """Show frames in an OpenCV window; `write` returns the key pressed (-1 for none).

    Closing the window counts as pressing `quit_key`. `gui` is the OpenCV module by
    default; tests pass a stand-in with the same five functions.
    """

    def __init__(self, title: str = "vidbokeh", *, wait_ms: int = 1, quit_key: str = "q",
                 gui: Any | None = None, check_display: bool = True) -> None:
        self.title = title
        self.wait_ms = max(1, int(wait_ms))
        self.quit_key = ord(quit_key)
        self._gui = gui
        self._check = check_display and gui is None
        self._open = False
        self.frames_shown = 0

    def open(self) -> "PreviewSink":
        if self._open:
            return self
        if self._check:
            problem = display_problem()
            if problem:
                raise UsageError(f"cannot open the preview window: {problem}; use --no-preview")
        if self._gui is None:
            import cv2

            self._gui = cv2
        try:
            self._gui.namedWindow(self.title, getattr(self._gui, "WINDOW_NORMAL", 0))
        except Exception as exc:
            raise UsageError(f"cannot open the preview window: {exc}; use --no-preview") from exc
        self._open = True
        return self

    def __enter__(self) -> "PreviewSink":
        return self.open()

    def __exit__(self, *exc) -> None:
        self.close()

    def write(self, rgb: np.ndarray, pts: int | None = None, time_base: Fraction | None = None,
              duration: int | None = None, *, lines: tuple[str, ...] = ()) -> int:
        """Show one RGB frame with optional text `lines` (fps, latency...); return the key code or -1."""
        if not self._open:
            self.open()
        gui = self._gui
        bgr = np.ascontiguousarray(rgb[..., ::-1])
        if lines:
            scale = max(0.4, bgr.shape[0] / 900)
            for i, text in enumerate(lines):
                org = (10, int((i + 1) * 26 * scale + 6))
                gui.putText(bgr, text, org, 0, scale, (0, 0, 0), 3, 16)
                gui.putText(bgr, text, org, 0, scale, (255, 255, 255), 1, 16)
        gui.imshow(self.title, bgr)
        key = int(gui.waitKey(self.wait_ms))
        self.frames_shown += 1
        try:
            visible = gui.getWindowProperty(self.title, getattr(gui, "WND_PROP_VISIBLE", 4))
        except Exception:
            visible = 1
        if visible is not None and visible < 1:
            return self.quit_key  # the user closed the window
        return key & 0xFF if key >= 0 else -1

    def close(self) -> None:
        if self._open and self._gui is not None:
            try:
                self._gui.destroyWindow(self.title)
                self._gui.waitKey(1)
            except Exception:
                pass
        self._open = False


# --------------------------------------------------------------------------- virtual camera


class VirtualCameraSink:
    """Send frames to a virtual camera (pyvirtualcam, an optional extra) for video calls.

    `backend` builds the camera: pyvirtualcam.Camera by default (imported only here);
    tests pass a stand-in with the same call signature returning an object with
    send(rgb), close() and a `device` attribute.
    """

    def __init__(self, width: int, height: int, fps: float, *, device: str | None = None,
                 backend: Callable[..., Any] | None = None) -> None:
        self.width, self.height, self.fps = int(width), int(height), float(fps)
        self.device_request = device
        self._backend = backend
        self._camera: Any = None
        self.frames_sent = 0

    def open(self) -> "VirtualCameraSink":
        if self._camera is not None:
            return self
        backend = self._backend
        kwargs: dict[str, Any] = {}
        if backend is None:
            try:
                import pyvirtualcam
            except ImportError:
                raise UsageError(
                    "--virtual-camera needs pyvirtualcam: pip install 'vidbokeh[virtualcam]' "
                    "(and v4l2loopback on Linux, OBS on Windows/macOS)"
                ) from None
            backend = pyvirtualcam.Camera
            kwargs["fmt"] = pyvirtualcam.PixelFormat.RGB
        try:
            self._camera = backend(self.width, self.height, self.fps, device=self.device_request, **kwargs)
        except (RuntimeError, OSError, ValueError) as exc:
            raise OutputError(f"virtual camera unavailable: {exc}") from exc
        return self

    @property
    def device(self) -> str | None:
        return getattr(self._camera, "device", None)

    def __enter__(self) -> "VirtualCameraSink":
        return self.open()

    def __exit__(self, *exc) -> None:
        self.close()

    def write(self, rgb: np.ndarray, pts: int | None = None, time_base: Fraction | None = None,
              duration: int | None = None) -> None:
        if self._camera is None:
            self.open()
        if rgb.shape[:2] != (self.height, self.width):
            import cv2

            rgb = cv2.resize(rgb, (self.width, self.height), interpolation=cv2.INTER_AREA)
        try:
            self._camera.send(np.ascontiguousarray(rgb))
        except (RuntimeError, OSError) as exc:
            raise OutputError(f"virtual camera {self.device or ''}: send failed: {exc}") from exc
        self.frames_sent += 1

    def close(self) -> None:
        if self._camera is not None:
            try:
                self._camera.close()
            except Exception:
                pass
            self._camera = None


# --------------------------------------------------------------------------- null


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
