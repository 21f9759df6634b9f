"""`VideoFileSink`: RGB frames encoded into a video file like its input (audio kept).

A synchronous context manager; the pipeline decides which thread calls it. It writes a file
like its input:
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
import os
from collections.abc import Mapping
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from vidbokeh.errors import InputError, OutputError, UsageError
from vidbokeh.media.atomic import check_output_path, commit_temp, remove_quietly, temp_path_for
from vidbokeh.media.audio_copy import STREAM_METADATA_SKIP, AudioCopier
from vidbokeh.media.encoders import VIDEO_SUFFIXES, choose_pix_fmt, default_codec, encoder_available, encoder_options
from vidbokeh.media.probe import BYTES_NAME, MUXER_OWNED_KEYS, VideoInfo, VideoSource, in_memory
from vidbokeh.media.sources import COLOR_FLAGS, stored


def _copyable_metadata(items: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in items.items() if k.lower() not in MUXER_OWNED_KEYS | STREAM_METADATA_SKIP}


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
        audio_from: VideoSource | None = None,
        overwrite: bool = False,
        prefer_nvenc: bool = False,
        frames_upright: bool = True,
        inputs: tuple[str | os.PathLike[str], ...] = (),
        start_at_zero: bool = False,
    ) -> None:
        self.path = Path(out_path)
        self.info = info
        sources = [*inputs, *([audio_from] if audio_from is not None and not in_memory(audio_from) else []),
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
        self.audio_from = audio_from if audio_from is None or in_memory(audio_from) else Path(audio_from)
        self.crf = crf
        self.preset = preset
        self.note: str | None = None  # one line for the user about a choice made (encoder fallback...)
        self.codec_name = self._pick_codec(codec, prefer_nvenc)
        self.pix_fmt = choose_pix_fmt(self.codec_name, info.width, info.height, info.bit_depth)
        self.frames_written = 0
        self.temp = temp_path_for(self.path)
        self._container: av.container.OutputContainer | None = None
        self._video: av.VideoStream | None = None
        self._audio: AudioCopier | None = None
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
            cc.options = encoder_options(self.codec_name, self.crf, self.preset)
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
                    self._audio = AudioCopier(self.audio_from, self._container, self.path.suffix.lower() == ".webm")
                except (av.FFmpegError, OSError) as exc:
                    name = BYTES_NAME if in_memory(self.audio_from) else self.audio_from
                    raise InputError(f"{name}: cannot read its audio: {exc}") from exc
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
