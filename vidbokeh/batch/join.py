"""Joining processed segments into one file by stream copy, and measuring the seams.

Every segment is encoded by the same sink with the same settings as ``vidbokeh file`` would use, with
each frame at its input pts, so the join only copies packets: the video packets of every segment in
order, the audio packet for packet from the source (interleaved by time, re-encoded only where the
container needs it, as the file sink does), container and stream metadata as the segments carry them.
The result is written to a temporary name and renamed into place when complete.

``join_flicker`` says whether a cut shows: the flicker ratio (output change over input change, see
vidbokeh/flicker.py) of the frame pairs that straddle the cuts, beside that of the pairs around them.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import av

from ..errors import OutputError
from ..flicker import FlickerMeter
from ..media.atomic import commit_temp, remove_quietly, temp_path_for
from ..media.probe import MUXER_OWNED_KEYS
from ..media.audio_copy import AudioCopier
from .segments import frames_between

log = logging.getLogger(__name__)

_STREAM_KEYS_NOT_COPIED = frozenset({"duration", "number_of_frames", "number_of_bytes"})


def join_segments(parts: Sequence[Path], dst: Path, audio_from: Path, *, overwrite: bool = True) -> int:
    """Write ``dst`` from the segment files ``parts`` (in order) and the audio of ``audio_from``.

    Returns the number of video packets written. Raises OutputError; nothing is left under ``dst``
    unless the file is complete."""
    if not parts:
        raise OutputError(f"{dst}: no segments to join")
    temp = temp_path_for(dst)
    packets = 0
    audio = None
    try:
        with av.open(str(parts[0])) as first, av.open(str(temp), "w") as out:
            out.metadata.update({k: v for k, v in first.metadata.items() if k.lower() not in MUXER_OWNED_KEYS})
            template = first.streams.video[0]
            video = out.add_stream_from_template(template)
            video.time_base = template.time_base
            for key, value in template.metadata.items():
                if key.lower() not in _STREAM_KEYS_NOT_COPIED:
                    video.metadata[key] = value
            video.disposition = template.disposition
            audio = AudioCopier(audio_from, out, dst.suffix.lower() == ".webm")
            last_dts: int | None = None
            for part in parts:
                with av.open(str(part)) as segment:
                    stream = segment.streams.video[0]
                    for packet in segment.demux(stream):
                        if packet.dts is None or packet.size == 0:
                            continue
                        if last_dts is not None and packet.dts <= last_dts:
                            raise OutputError(f"{dst}: segment {part.name} does not continue the previous one "
                                              f"(dts {packet.dts} after {last_dts})")
                        last_dts = packet.dts
                        when = float(packet.pts * packet.time_base) if packet.pts is not None else None
                        packet.stream = video
                        out.mux(packet)
                        packets += 1
                        if when is not None:
                            audio.pump(when, out.mux)
            audio.pump(None, out.mux)
            audio.finish(out.mux)
    except (OSError, av.FFmpegError) as exc:
        remove_quietly(temp)
        raise OutputError(f"{dst}: joining segments failed: {getattr(exc, 'strerror', None) or exc}") from exc
    except BaseException:
        remove_quietly(temp)
        raise
    finally:
        if audio is not None:
            audio.close()
    commit_temp(temp, dst, overwrite=overwrite)
    return packets


@dataclass(frozen=True)
class SeamReport:
    joins: int
    at_joins: float  # flicker ratio of the frame pairs straddling the cuts
    around: float  # flicker ratio of the other pairs within ``window`` frames of the cuts

    def as_dict(self) -> dict[str, float]:
        return {"joins": self.joins, "at_joins": round(self.at_joins, 4), "around": round(self.around, 4)}


def _ratio(meters: list[FlickerMeter]) -> float:
    inp = sum(m.input_change for m in meters if m.frames > 1)
    outp = sum(m.output_change for m in meters if m.frames > 1)
    if inp == 0:
        return 1.0 if outp == 0 else float("inf")
    return outp / inp


def join_flicker(source: Path, joined: Path, frame_pts: Sequence[int], cuts: Sequence[int],
                 window: int = 4) -> SeamReport | None:
    """Flicker at each cut (pts of a segment's first frame) against the ``window`` frames either side."""
    if not cuts:
        return None
    pts = list(frame_pts)
    at, near = [], []
    for cut in cuts:
        try:
            i = pts.index(cut)
        except ValueError:
            continue
        lo, hi = pts[max(0, i - window)], pts[min(len(pts) - 1, i + window - 1)]
        source_frames = {f.pts: f.rgb for f in frames_between(source, lo, hi)}
        output_frames = {f.pts: f.rgb for f in frames_between(joined, lo, hi)}
        common = [p for p in pts[max(0, i - window): i + window] if p in source_frames and p in output_frames]
        for group in ([p for p in common if p < cut], [p for p in common if p >= cut]):
            meter = FlickerMeter()
            for p in group:
                meter.add(source_frames[p], output_frames[p])
            near.append(meter)
        pair = (pts[i - 1], cut)
        if i > 0 and all(p in source_frames and p in output_frames for p in pair):
            meter = FlickerMeter()
            for p in pair:
                meter.add(source_frames[p], output_frames[p])
            at.append(meter)
    if not at:
        return None
    return SeamReport(joins=len(at), at_joins=_ratio(at), around=_ratio(near))
