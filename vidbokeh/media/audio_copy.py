"""The input's audio in an output file: copied packet for packet, re-encoded only when the container needs it.

The input is opened a second time; packets are interleaved by time as video is written
(`pump(until)`), so a cut-short output carries exactly the audio of its video.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import av

from vidbokeh.media.probe import VideoSource, demux_tolerant, open_input, usable_audio_streams
from vidbokeh.media.sources import MAX_CONSECUTIVE_ERRORS

#: Audio codecs that cannot be stream-copied without their codec setup data (extradata).
# AAC too: without its AudioSpecificConfig (ADTS input, or a damaged esds) MKV/MOV refuse the track
_NEEDS_EXTRADATA = frozenset({"opus", "vorbis", "flac", "alac", "aac"})
#: Stream metadata a muxer or encoder writes itself (never copied to an output).
STREAM_METADATA_SKIP = frozenset({"encoder", "duration", "rotate", "number_of_frames", "number_of_bytes",
                                  "_statistics_tags", "_statistics_writing_app", "bps",
                                  "_statistics_writing_date_utc"})


class AudioCopier:
    """Copy (or, where the container needs it, re-encode) the input's audio into `output`."""

    def __init__(self, source: VideoSource, output: av.container.OutputContainer, webm: bool) -> None:
        self.source = source
        self._input = open_input(source)
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
                if key.lower() not in STREAM_METADATA_SKIP:
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
