"""Camera sources: a live device, a lavfi graph, or a clip played as a camera, decoded into RGB frames."""
from __future__ import annotations

import os
import platform
import time
from collections.abc import Iterator, Mapping
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import av

from vidbokeh.errors import InputError, UsageError
from vidbokeh.media.probe import VideoInfo, check_input_file, info_from_container, probe
from vidbokeh.media.sources import Frame, DecodingSource

CAMERA_GONE_ERRORS = 8  # read errors in a row after which a camera counts as disconnected


def default_camera() -> tuple[str, str]:
    """(device, input format) of the platform's default camera."""
    system = platform.system()
    if system == "Darwin":
        return "0", "avfoundation"
    if system == "Windows":
        return "video=Integrated Camera", "dshow"
    return "/dev/video0", "v4l2"


class CameraSource(DecodingSource):
    """A live camera (or a lavfi test source, or a clip played at its own rate).

    `CameraSource()` opens the platform default; tests use
    `CameraSource("testsrc2=size=640x480:rate=30", input_format="lavfi")`.
    `CameraSource(path, realtime=True)` plays a file paced by its timestamps, as a camera would
    deliver it. A device that stops delivering ends iteration cleanly with `disconnected` set.

    `live` says how to read it: a device (or a clip with `realtime`) delivers frames on its own clock
    and waits for nobody, so the newest frame wins; a lavfi graph or a clip without `realtime` is read
    like a file, every frame at the reader's pace. `size` is asked of the device and, where the source
    delivers another size (a device that picked its nearest mode, a graph, a clip), frames are scaled to
    it. `fps` is asked of devices only: a graph and a clip have their own rate, so it is refused there.
    """

    def __init__(
        self,
        device: str | os.PathLike[str] | None = None,
        input_format: str | None = None,
        *,
        size: tuple[int, int] | None = None,
        fps: float | Fraction | None = None,
        options: Mapping[str, str] | None = None,
        realtime: bool = False,
        upright: bool = True,
    ) -> None:
        super().__init__(upright)
        if device is None:
            device, default_format = default_camera()
            input_format = input_format or default_format
        self.device = str(device)
        self.input_format = input_format
        self.realtime = realtime
        self.disconnected = False
        self.size = (int(size[0]), int(size[1])) if size is not None else None
        self.source_size: tuple[int, int] | None = None  # what the source delivers (known after open)
        opts = dict(options or {})
        # a device: a named input format other than lavfi, or a device node (/dev/video0) without one
        device_like = input_format != "lavfi" and (input_format is not None or not Path(self.device).is_file())
        self._device_like = device_like
        if fps is not None and not device_like:
            what = ("a lavfi graph sets its own rate (rate=... in the graph)" if input_format == "lavfi"
                    else "a video file plays at its own rate")
            raise UsageError(f"--fps applies to camera devices; {what}")
        if self.size is not None and device_like:
            opts.setdefault("video_size", f"{self.size[0]}x{self.size[1]}")
        if fps is not None:
            opts.setdefault("framerate", str(fps))
        self.options = opts
        self.info: VideoInfo | None = None  # known after open()
        self._first: av.VideoFrame | None = None
        self._opened_once = False

    def open(self) -> "CameraSource":
        if self._container is not None:
            return self
        if self.input_format is None:
            check_input_file(Path(self.device))
        try:
            self._container = av.open(
                self.device, "r", format=self.input_format, options=self.options or None
            )
        except FileNotFoundError as exc:
            raise InputError(f"{self.device}: camera not found ({exc.strerror or exc})") from exc
        except (av.FFmpegError, OSError, ValueError) as exc:
            what = f"{self.input_format} device" if self.input_format else "file"
            hint = ""
            if self.input_format == "dshow":
                hint = " (name the camera with --device 'video=NAME'; `ffmpeg -list_devices true -f dshow -i dummy` lists them)"
            reason = getattr(exc, "strerror", None) or exc
            raise InputError(f"{self.device}: cannot open {what}: {reason}{hint}") from exc
        if not self._container.streams.video:
            self._container.close()
            self._container = None
            raise InputError(f"{self.device}: no video stream")
        self._stream = self._container.streams.video[0]
        if self._stream.codec_context is None:
            self.close()
            raise InputError(f"{self.device}: unknown or unsupported video codec")
        # no threaded decoding for live sources: frame threads add latency
        if self.input_format is None:
            self.info = probe(self.device)  # a clip played as a camera: rotation, colour tags...
        else:
            self.info = info_from_container(self.device, self._container, self._stream, None)
        self._apply_size()
        return self

    @property
    def live(self) -> bool:
        """True for a device or a clip played in real time (newest frame wins), False for a graph or a clip."""
        return self.realtime or self._device_like

    def _apply_size(self) -> None:
        """Scale frames to the requested size where the source delivers another (info says the result)."""
        info = self.info
        assert info is not None
        self.source_size = info.display_size
        if self.size is None or self.size == info.display_size:
            return
        width, height = self.size
        coded = (height, width) if info.rotation % 180 else (width, height)
        self._coded_size = coded
        self.info = replace(info, width=coded[0], height=coded[1])

    def _packets(self) -> Iterator[av.Packet]:
        yield from self._tolerant_packets(CAMERA_GONE_ERRORS)
        if self._failures_in_a_row >= CAMERA_GONE_ERRORS:
            # the device went away (v4l2 ENODEV/EIO): stop cleanly, let the caller report it
            self.disconnected = True

    def __iter__(self) -> Iterator[Frame]:
        if self._container is None:
            self.open()
        frames = self._frames()
        if not self.realtime:
            return frames
        return self._paced(frames)

    def _paced(self, frames: Iterator[Frame]) -> Iterator[Frame]:
        """Release each frame no earlier than its timestamp after the first (monotonic clock)."""
        start_clock: float | None = None
        start_time = 0.0
        for frame in frames:
            now = time.monotonic()
            if start_clock is None:
                start_clock, start_time = now, frame.time
            else:
                due = start_clock + (frame.time - start_time)
                if due > now:
                    time.sleep(due - now)
            yield Frame(
                index=frame.index,
                rgb=frame.rgb,
                pts=frame.pts,
                time_base=frame.time_base,
                time=frame.time,
                capture_time=time.monotonic(),
                rotation=frame.rotation,
                duration=frame.duration,
            )
