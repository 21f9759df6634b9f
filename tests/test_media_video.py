"""Video probe, sources and sinks on generated clips (AAC 440 Hz tone, VFR, odd, 10-bit, rotated)."""
from __future__ import annotations

import errno
import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from media_factory import (
    audio_packets,
    corrupt_copy,
    decoded_video,
    make_audio_only,
    make_clip,
    make_zero_frame_video,
    pattern_frame,
    truncate_copy,
)
from vidbokeh.errors import InputError, InputNotFoundError, OutputError, UsageError
from vidbokeh.media.probe import probe
from vidbokeh.media.display import display_problem, probe_display
from vidbokeh.media.encoders import encoder_available
from vidbokeh.media.preview import PreviewSink
from vidbokeh.media.sinks import NullSink
from vidbokeh.media.video_file import VideoFileSink
from vidbokeh.media.virtual_camera import VirtualCameraSink
from vidbokeh.media.camera import CameraSource
from vidbokeh.media.sources import FileSource

VFR_PTS = [0, 33, 70, 90, 140, 200, 210, 260, 300, 370, 380, 450, 480, 530, 600]


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("clips")
    return {
        "main": make_clip(d / "main.mp4", width=160, height=120, frames=45, rotation=90,
                          metadata={"title": "tone test", "comment": "vidbokeh"}),
        "mkv": make_clip(d / "main.mkv", width=64, height=48, frames=30),
        "vfr": make_clip(d / "vfr.mp4", pts=VFR_PTS, time_base=Fraction(1, 1000)),
        "odd": make_clip(d / "odd.mp4", width=161, height=121, frames=30),
        "ten": make_clip(d / "ten.mp4", pix_fmt="yuv420p10le", frames=30),
        "long": make_clip(d / "long.mkv", width=160, height=120, frames=60),
        "faststart": make_clip(d / "faststart.mp4", width=160, height=120, frames=60, faststart=True),
    }


def transcode(src: Path, dst: Path, *, pass_durations: bool = True, **sink_options) -> FileSource:
    """Decode `src` and encode every frame into `dst` (the identity 'effect'), audio from src."""
    with FileSource(src) as source:
        audio = src if source.info.has_audio else None
        with VideoFileSink(dst, source.info, audio_from=audio, **sink_options) as sink:
            for frame in source:
                duration = frame.duration if pass_durations else None
                sink.write(frame.rgb, frame.pts, frame.time_base, duration)
    return source


def seconds(path: Path) -> list[float]:
    pts, tb, _ = decoded_video(path)
    return [float(p * tb) for p in pts]


# ----------------------------------------------------------------------------- probe


def test_probe_describes_the_clip(clips):
    info = probe(clips["main"])
    assert (info.width, info.height) == (160, 120) and info.display_size == (120, 160)
    assert info.rotation == 90 and info.fps == 30 and info.frame_count == 45
    assert info.duration == pytest.approx(1.5, abs=1e-6)
    assert info.has_audio and info.audio_codecs == ("aac",)
    assert info.pix_fmt == "yuv420p" and info.bit_depth == 8
    assert info.metadata["title"] == "tone test"
    assert probe(clips["ten"]).bit_depth == 10


def test_probe_mkv_has_no_frame_count_but_an_estimate(clips):
    info = probe(clips["mkv"])
    assert info.frame_count is None  # never trust stream.frames == 0
    assert info.expected_frames == pytest.approx(30, abs=1)


@pytest.mark.parametrize(
    "make,error,words",
    [
        (lambda d: d / "missing.mp4", InputNotFoundError, "no such file"),
        (lambda d: (d / "dir.mp4").mkdir() or d / "dir.mp4", InputError, "folder"),
        (lambda d: (d / "empty.mp4").write_bytes(b"") and None or d / "empty.mp4", InputError, "empty"),
        (lambda d: (d / "text.mp4").write_text("hello, not a video\n") and None or d / "text.mp4", InputError,
         "not a readable media file"),
        (lambda d: make_audio_only(d / "tone.m4a"), InputError, "no video stream"),
        (lambda d: make_zero_frame_video(d / "zero.mkv"), InputError, "no decodable video frames"),
    ],
    ids=["missing", "folder", "empty", "text", "audio-only", "zero-frames"],
)
def test_probe_rejects_unusable_inputs(tmp_path, make, error, words):
    path = make(tmp_path)
    with pytest.raises(error, match=words) as info:
        probe(path)
    assert path.name in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(error):
        FileSource(path)


def test_cut_mp4_without_index_is_a_clean_error(clips, tmp_path):
    cut = truncate_copy(make_clip(tmp_path / "moov_at_end.mp4", frames=30), tmp_path / "cut.mp4")
    with pytest.raises(InputError, match="cut.mp4"):
        probe(cut)


# ----------------------------------------------------------------------------- sources


def test_file_source_frames_are_upright_rgb_with_input_timestamps(clips):
    with FileSource(clips["main"]) as source:
        frames = list(source)
    assert len(frames) == 45 and source.skipped == 0 and source.missing == 0 and not source.truncated
    assert [f.index for f in frames] == list(range(45))
    assert frames[0].rgb.shape == (160, 120, 3) and frames[0].rgb.dtype == np.uint8  # rotated 90
    assert [f.pts for f in frames] == decoded_video(clips["main"])[0]
    assert frames[1].time == pytest.approx(1 / 30)
    # upright = the stored frame turned 90 degrees counterclockwise
    stored = pattern_frame(0, 160, 120).astype(int)
    assert np.abs(np.rot90(frames[0].rgb, -1).astype(int) - stored).mean() < 4
    with FileSource(clips["main"], upright=False) as source:
        assert next(iter(source)).rgb.shape == (120, 160, 3)


def test_ten_bit_source_decodes_to_rgb24(clips):
    with FileSource(clips["ten"]) as source:
        frames = list(source)
    assert len(frames) == 30 and frames[0].rgb.dtype == np.uint8
    assert np.abs(frames[3].rgb.astype(int) - pattern_frame(3, 64, 48)).mean() < 4


@pytest.mark.parametrize("kind", ["long", "faststart"])
def test_truncated_video_yields_the_first_part(clips, tmp_path, kind):
    src = clips[kind]
    cut = truncate_copy(src, tmp_path / f"cut{src.suffix}", 0.5)
    with FileSource(cut) as source:
        frames = list(source)
    assert 15 <= len(frames) < 60 and source.truncated
    assert [f.pts for f in frames] == decoded_video(src)[0][: len(frames)]


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("kind", ["long", "faststart"])
def test_corrupted_middle_decodes_the_rest_and_counts(clips, tmp_path, kind, seed):
    src = clips[kind]
    bad = corrupt_copy(src, tmp_path / f"bad{src.suffix}", seed=seed)
    with FileSource(bad) as source:
        frames = list(source)
    assert 30 <= len(frames) <= 60
    assert source.skipped > 0 or len(frames) < 60
    if source.missing is not None:
        assert source.missing == 60 - len(frames)
    times = [f.time for f in frames]
    assert times == sorted(times) and len(set(times)) == len(times)
    # frames after the damaged region are still there
    assert times[-1] == pytest.approx(59 / 30, abs=0.002)


def test_lavfi_test_camera_yields_frames():
    with CameraSource("testsrc2=size=640x480:rate=30", input_format="lavfi") as camera:
        frames = []
        for frame in camera:
            frames.append(frame)
            if len(frames) == 5:
                break
    assert camera.info is not None and camera.info.fps == 30
    assert frames[0].rgb.shape == (480, 640, 3)
    assert [f.pts for f in frames] == sorted(f.pts for f in frames)
    assert camera.disconnected is False


def test_clip_fed_as_a_camera_at_its_own_rate(clips):
    with CameraSource(clips["mkv"], realtime=True) as camera:
        frames = list(camera)
    assert len(frames) == 30
    captures = [f.capture_time for f in frames]
    assert captures == sorted(captures)
    # paced by timestamps: the last frame is released at least its timestamp after the first
    assert captures[-1] - captures[0] >= frames[-1].time - frames[0].time - 1e-3


def test_missing_camera_device_is_an_input_error():
    with pytest.raises(InputError):
        CameraSource("/dev/video-vidbokeh-none", input_format="v4l2").open()


# ----------------------------------------------------------------------------- file sink


@pytest.mark.parametrize("suffix", [".mp4", ".mov"])
def test_round_trip_keeps_frames_timing_size_rotation_audio_metadata(clips, tmp_path, suffix):
    src = clips["main"]
    out = tmp_path / f"out{suffix}"
    transcode(src, out)
    a, b = probe(src), probe(out)
    assert (b.width, b.height, b.rotation) == (a.width, a.height, a.rotation)
    assert b.frame_count == a.frame_count == 45
    assert b.fps == a.fps
    assert b.duration == pytest.approx(a.duration, abs=1 / 30)
    assert seconds(out) == pytest.approx(seconds(src), abs=1e-6)
    assert audio_packets(out) == audio_packets(src)  # copied packet for packet
    assert b.metadata.get("title") == "tone test" and b.metadata.get("comment") == "vidbokeh"
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]  # no temp left


def test_mkv_output_keeps_relative_timing_and_audio_payloads(clips, tmp_path):
    src, out = clips["main"], tmp_path / "out.mkv"
    transcode(src, out)
    a, b = seconds(src), seconds(out)
    assert len(b) == 45
    # Matroska cannot start below 0: AAC priming (-1024 samples) shifts everything by a constant
    offset = b[0] - a[0]
    assert 0 <= offset < 0.05
    assert [t - offset for t in b] == pytest.approx(a, abs=0.0011)  # ms time base
    assert [p for _, p in audio_packets(out)] == [p for _, p in audio_packets(src)]


def test_webm_uses_vp9_and_opus(clips, tmp_path):
    out = tmp_path / "out.webm"
    transcode(clips["mkv"], out)
    info = probe(out)
    assert info.codec == "vp9" and info.audio_codecs == ("opus",) and info.frame_count in (None, 30)
    assert len(seconds(out)) == 30
    with pytest.raises(UsageError, match="WebM"):
        VideoFileSink(tmp_path / "x.webm", info, codec="libx264")


@pytest.mark.parametrize("pass_durations", [True, False])
def test_vfr_keeps_irregular_timestamps(clips, tmp_path, pass_durations):
    out = tmp_path / "vfr_out.mp4"
    transcode(clips["vfr"], out, pass_durations=pass_durations)
    assert seconds(out) == pytest.approx([p / 1000 for p in VFR_PTS], abs=1e-6)
    assert probe(out).duration == pytest.approx(probe(clips["vfr"]).duration, abs=1e-6)


def test_odd_size_kept_exactly(clips, tmp_path):
    out = tmp_path / "odd_out.mp4"
    transcode(clips["odd"], out)
    info = probe(out)
    assert (info.width, info.height) == (161, 121) and info.pix_fmt == "yuv444p"
    assert decoded_video(out)[2] == (161, 121) and len(seconds(out)) == 30


def test_ten_bit_encoded_ten_bit(clips, tmp_path):
    out = tmp_path / "ten_out.mp4"
    transcode(clips["ten"], out)
    info = probe(out)
    assert info.bit_depth == 10 and info.pix_fmt == "yuv420p10le" and info.frame_count == 30


def test_colours_survive_a_round_trip(clips, tmp_path):
    out = tmp_path / "colour.mp4"
    transcode(clips["mkv"], out)
    with FileSource(clips["mkv"]) as a, FileSource(out) as b:
        diffs = [fb.rgb.astype(float) - fa.rgb for fa, fb in zip(a, b)]
    assert abs(float(np.mean(diffs))) < 0.5  # no systematic shift (range/matrix/rounding)
    assert float(np.mean(np.abs(diffs))) < 3


def test_encoder_fallback_is_announced(clips, tmp_path):
    sink = VideoFileSink(tmp_path / "n.mp4", probe(clips["mkv"]), prefer_nvenc=True)
    if encoder_available("h264_nvenc"):
        assert sink.codec_name == "h264_nvenc" and sink.note is None
    else:
        assert sink.codec_name == "libx264" and "h264_nvenc" in sink.note


def test_output_refusals(clips, tmp_path):
    info = probe(clips["mkv"])
    with pytest.raises(OutputError, match="same file as the input"):
        VideoFileSink(clips["mkv"], info, overwrite=True)
    existing = tmp_path / "exists.mp4"
    existing.write_bytes(b"keep")
    with pytest.raises(OutputError, match="already exists"):
        VideoFileSink(existing, info)
    with pytest.raises(OutputError, match="unsupported output extension"):
        VideoFileSink(tmp_path / "out.avi", info)
    with pytest.raises(OutputError, match="does not exist"):
        VideoFileSink(tmp_path / "missing" / "out.mp4", info)
    assert existing.read_bytes() == b"keep"


def test_abort_leaves_nothing(clips, tmp_path):
    out = tmp_path / "aborted.mp4"
    with FileSource(clips["mkv"]) as source:
        sink = VideoFileSink(out, source.info, audio_from=clips["mkv"]).open()
        for frame in source:
            sink.write(frame.rgb, frame.pts, frame.time_base)
        sink.abort()
    assert list(tmp_path.iterdir()) == []


class FullDiskSink(VideoFileSink):
    """Fails like a full disk once `fail_at` video frames have been written."""

    fail_at = 12

    def _mux(self, packet):
        if self.frames_written >= self.fail_at:
            raise OSError(errno.ENOSPC, "No space left on device")
        super()._mux(packet)


def test_write_failure_leaves_no_file_under_the_final_name(clips, tmp_path):
    out = tmp_path / "full.mp4"
    with pytest.raises(OutputError, match="no space left"):
        with FileSource(clips["long"]) as source, FullDiskSink(out, source.info, audio_from=clips["long"]) as sink:
            for frame in source:
                sink.write(frame.rgb, frame.pts, frame.time_base)
    assert list(tmp_path.iterdir()) == []
    assert sink.state == "failed"


def test_finalize_keeps_a_playable_file_with_the_frames_done(clips, tmp_path):
    out = tmp_path / "partial.mp4"
    with FileSource(clips["long"]) as source:
        sink = VideoFileSink(out, source.info, audio_from=clips["long"]).open()
        for frame in source:
            sink.write(frame.rgb, frame.pts, frame.time_base, frame.duration)
            if frame.index == 19:
                break
        assert sink.finalize() == out
    times = seconds(out)
    assert len(times) == 20 and times[-1] == pytest.approx(19 / 30, abs=0.002)
    info = probe(out)
    assert info.duration == pytest.approx(20 / 30, abs=1 / 30)
    with av.open(str(out)) as c:  # audio kept up to the last frame, not beyond
        audio = c.streams.audio[0]
        ends = [float((p.pts + p.duration) * p.time_base) for p in c.demux(audio) if p.size]
    assert 0.5 < max(ends) <= 20 / 30 + 1024 / 48000 + 1e-6
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]


def test_exception_inside_the_with_block_finalizes(clips, tmp_path):
    out = tmp_path / "interrupted.mp4"
    with pytest.raises(KeyboardInterrupt):
        with FileSource(clips["mkv"]) as source, VideoFileSink(out, source.info) as sink:
            for frame in source:
                sink.write(frame.rgb, frame.pts, frame.time_base)
                if frame.index == 9:
                    raise KeyboardInterrupt
    assert len(seconds(out)) == 10


@pytest.mark.parametrize("damage", ["corrupt", "truncate"])
def test_audio_that_survives_damage_is_kept(clips, tmp_path, damage):
    if damage == "corrupt":
        bad = corrupt_copy(clips["long"], tmp_path / "bad.mkv", seed=3)
    else:
        bad = truncate_copy(clips["long"], tmp_path / "bad.mkv", 0.5)
    out = tmp_path / "from_bad.mp4"
    source = transcode(bad, out)
    assert len(seconds(out)) == source.frames_read >= 15
    assert len(audio_packets(out)) > 0


# ----------------------------------------------------------------------------- other sinks


class FakeGui:
    """Stand-in for cv2's window functions; keys are scripted."""

    WINDOW_NORMAL, WND_PROP_VISIBLE = 0, 4

    def __init__(self, keys):
        self.keys, self.shown, self.visible = list(keys), [], 1.0

    def namedWindow(self, title, flags):
        self.title = title

    def imshow(self, title, image):
        self.shown.append(image.copy())

    def waitKey(self, ms):
        return self.keys.pop(0) if self.keys else -1

    def getWindowProperty(self, title, prop):
        return self.visible

    def putText(self, *args):
        pass

    def destroyWindow(self, title):
        self.visible = 0.0


def test_preview_returns_keys_and_shows_bgr():
    gui = FakeGui([-1, ord("+"), ord("q")])
    rgb = np.zeros((4, 6, 3), np.uint8)
    rgb[..., 0] = 200  # red
    with PreviewSink(gui=gui) as preview:
        keys = [preview.write(rgb) for _ in range(3)]
    assert keys == [-1, ord("+"), ord("q")]
    assert gui.shown[0][0, 0].tolist() == [0, 0, 200]  # OpenCV windows take BGR
    gui.visible = 0.0  # the user closed the window
    preview = PreviewSink(gui=gui).open()
    assert preview.write(rgb) == ord("q")


@pytest.mark.skipif(display_problem() is None, reason="a display is available here")
def test_preview_without_display_is_a_clear_error():
    with pytest.raises(UsageError, match="--no-preview"):
        PreviewSink().open()


def test_a_display_that_does_not_answer_is_named_with_qt_s_reason(monkeypatch):
    """A DISPLAY with no X server behind it: the probe's child fails, and the problem says what Qt said."""
    import cv2

    if not (Path(cv2.__file__).parent / "qt" / "plugins" / "platforms").is_dir():
        pytest.skip("this OpenCV has no Qt windows")
    monkeypatch.setenv("QT_QPA_PLATFORM", "xcb")
    monkeypatch.setenv("DISPLAY", ":987")  # nothing listens there (no /tmp/.X11-unix/X987)
    if Path("/tmp/.X11-unix/X987").exists():
        pytest.skip("an X server runs at :987 here")
    problem = probe_display().problem
    assert problem is not None and problem.startswith("OpenCV could not open a window on this display")
    assert "(Qt: could not connect to display :987)" in problem


class FakeVirtualCamera:
    instances: list = []

    def __init__(self, width, height, fps, device=None):
        self.width, self.height, self.fps, self.device = width, height, fps, device or "/dev/video9"
        self.frames, self.closed = [], False
        FakeVirtualCamera.instances.append(self)

    def send(self, frame):
        assert frame.shape == (self.height, self.width, 3)
        self.frames.append(frame)

    def close(self):
        self.closed = True


def test_virtual_camera_with_fake_backend():
    with VirtualCameraSink(64, 48, 30, backend=FakeVirtualCamera) as cam:
        cam.write(np.zeros((48, 64, 3), np.uint8))
        cam.write(np.zeros((96, 128, 3), np.uint8))  # resized to the camera's size
        assert cam.device == "/dev/video9"
    fake = FakeVirtualCamera.instances[-1]
    assert len(fake.frames) == 2 and fake.closed and cam.frames_sent == 2


def test_virtual_camera_without_pyvirtualcam(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyvirtualcam", None)
    with pytest.raises(UsageError, match="pyvirtualcam"):
        VirtualCameraSink(64, 48, 30).open()


def test_null_sink_counts():
    with NullSink() as sink:
        for _ in range(3):
            sink.write(np.zeros((2, 2, 3), np.uint8))
    assert sink.frames_written == 3


class _VanishingContainer:
    """Wraps an opened camera container; after `good` packets every read fails like an unplugged device."""

    def __init__(self, inner, good):
        self.inner, self.good, self.reads = inner, good, 0
        self.streams = inner.streams

    def demux(self, *args):
        for packet in self.inner.demux(*args):
            if self.reads >= self.good:
                raise OSError(errno.ENODEV, "No such device")
            self.reads += 1
            yield packet

    def close(self):
        self.inner.close()


def test_camera_that_disappears_ends_cleanly_with_a_flag():
    camera = CameraSource("testsrc2=size=160x120:rate=30", input_format="lavfi").open()
    camera._container = _VanishingContainer(camera._container, good=7)
    with camera:
        frames = list(camera)  # no exception, no hang
    assert len(frames) == 7 and camera.disconnected


def test_camera_recording_starts_at_zero(tmp_path):
    out = tmp_path / "rec.mp4"
    with CameraSource("testsrc2=size=160x120:rate=30", input_format="lavfi") as camera:
        with VideoFileSink(out, camera.info, start_at_zero=True) as sink:
            for frame in camera:
                sink.write(frame.rgb, frame.pts + 90_000, frame.time_base)  # a device clock far from 0
                if frame.index == 9:
                    break
    assert seconds(out) == pytest.approx([i / 30 for i in range(10)], abs=1e-6)


# ----------------------------------------------------------------------------- fuzz


def _damage(data: bytearray, rng, donor: bytes) -> tuple[str, bytearray]:
    kind = rng.choice(["flip", "truncate", "splice", "zero"])
    if kind == "flip":
        for _ in range(rng.randint(1, 50)):
            i = rng.randrange(len(data))
            data[i] ^= 1 << rng.randrange(8)
    elif kind == "truncate":
        data = data[: rng.randrange(len(data))]
    elif kind == "splice":  # bytes (often headers) of another container pasted in
        at, n, frm = rng.randrange(len(data)), rng.randint(16, 2000), rng.randrange(len(donor))
        data[at:at + n] = donor[frm:frm + n]
    else:
        at = rng.randrange(len(data))
        data[at:at + rng.randint(1, 4000)] = bytes(rng.randint(1, 4000))
    return kind, data


@pytest.mark.timeout(300)
def test_fuzzed_inputs_end_cleanly(tmp_path):
    """200 seeded corruptions through decode + encode + audio copy: each ends with a file or a typed error."""
    import random

    from vidbokeh.errors import VidbokehError

    bases = {
        ".mp4": make_clip(tmp_path / "base.mp4", frames=20, faststart=True),
        ".mkv": make_clip(tmp_path / "base.mkv", frames=20),
        ".mov": make_clip(tmp_path / "base.mov", frames=20),
        ".webm": make_clip(tmp_path / "base.webm", frames=20, codec="libvpx-vp9", audio_codec="libopus"),
    }
    blobs = {ext: p.read_bytes() for ext, p in bases.items()}
    work = tmp_path / "work"
    work.mkdir()
    outcomes: dict[str, int] = {}
    for seed in range(200):
        rng = random.Random(seed)
        ext = rng.choice(sorted(blobs))
        kind, data = _damage(bytearray(blobs[ext]), rng, blobs[rng.choice(sorted(blobs))])
        src = work / f"in{ext}"
        src.write_bytes(bytes(data))
        out = work / "out.mp4"
        out.unlink(missing_ok=True)
        try:
            with FileSource(src) as source:
                audio = src if source.info.has_audio else None
                with VideoFileSink(out, source.info, audio_from=audio) as sink:
                    for frame in source:
                        sink.write(frame.rgb, frame.pts, frame.time_base, frame.duration)
            assert len(seconds(out)) == source.frames_read, f"seed {seed}: frames lost in the output"
            outcome = "ok"
        except VidbokehError as exc:
            assert "\n" not in str(exc), f"seed {seed}: multi-line error"
            outcome = type(exc).__name__
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
        leftovers = [p.name for p in work.iterdir() if "partial" in p.name]
        assert not leftovers, f"seed {seed} ({kind} {ext}): temp file left: {leftovers}"
    assert outcomes.get("ok", 0) > 100  # most damage is survivable


def test_window_size_fits_the_screen_keeping_the_aspect():
    from vidbokeh.media.display import fit_to_screen

    assert fit_to_screen((512, 480), (1280, 1024)) == (512, 480)  # never scaled up
    assert fit_to_screen((3840, 2160), (1920, 1080), margin=80) == (1777, 1000)
    assert fit_to_screen((640, 480), None) == (640, 480)  # screen unknown: the frame's size
