"""Video in memory: bytes in where a path goes, arrays in, bytes out (the web studio and batch workers)."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from media_factory import audio_packets, make_clip, pattern_frame
from vidbokeh.errors import InputError, UsageError
from vidbokeh.media.memory import ArraySource, encode_video
from vidbokeh.media.probe import probe
from vidbokeh.media.sources import FileSource
from vidbokeh.media.video_file import VideoFileSink


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return make_clip(tmp_path_factory.mktemp("mem") / "clip.mp4", width=96, height=64, frames=20)


def test_bytes_are_read_like_the_file(clip):
    data = clip.read_bytes()
    from_file, from_bytes = probe(clip), probe(data)
    assert from_bytes.path == "video data"
    assert dataclasses.replace(from_bytes, path=from_file.path) == from_file
    with FileSource(clip) as a, FileSource(data) as b:
        frames_a, frames_b = list(a), list(b)
    assert b.path is None and len(frames_b) == len(frames_a) == 20
    for fa, fb in zip(frames_a, frames_b):
        assert fa.pts == fb.pts
        np.testing.assert_array_equal(fa.rgb, fb.rgb)


def test_audio_is_copied_from_bytes_like_from_the_file(clip, tmp_path):
    outs = {}
    for name, audio in (("path", clip), ("bytes", clip.read_bytes())):
        outs[name] = tmp_path / f"{name}.mp4"
        with FileSource(clip) as source, VideoFileSink(outs[name], source.info, audio_from=audio) as sink:
            for frame in source:
                sink.write(frame.rgb, frame.pts, frame.time_base, frame.duration)
    assert audio_packets(outs["bytes"]) == audio_packets(outs["path"]) == audio_packets(clip)


def test_arrays_in_bytes_out_round_trip():
    frames = [pattern_frame(i, 80, 48) for i in range(12)]
    source = ArraySource(frames, fps=25)
    assert (source.info.width, source.info.height, source.info.fps) == (80, 48, 25)
    data = encode_video((f.rgb for f in source), source.info, crf=0)
    with FileSource(data) as back:
        decoded = list(back)
        assert (back.info.width, back.info.height, back.info.fps) == (80, 48, 25)
    assert [f.time for f in decoded] == [i / 25 for i in range(12)]
    for original, frame in zip(frames, decoded):  # lossless H.264, RGB <-> YUV rounding only
        assert np.abs(frame.rgb.astype(int) - original).mean() < 3


def test_bad_in_memory_input_is_a_one_line_error():
    with pytest.raises(InputError, match=r"^video data: not a readable media file"):
        probe(b"\x00not a video" * 100)
    with pytest.raises(InputError, match=r"^video data: empty"):
        FileSource(b"")
    with pytest.raises(InputError, match="frame 1 is"):
        list(ArraySource([np.zeros((8, 8, 3), np.uint8), np.zeros((4, 4, 3), np.uint8)]))
    with pytest.raises(UsageError, match="unsupported video format"):
        encode_video([np.zeros((8, 8, 3), np.uint8)], ArraySource([np.zeros((8, 8, 3), np.uint8)]).info,
                     suffix=".gif")
