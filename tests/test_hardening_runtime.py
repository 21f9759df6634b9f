"""Hardening (issue 6): failures while running. An exception in any stage or thread ends the run within 2 s
with a non-zero exit and one line, leaves no ``vidbokeh-*`` thread behind and finalizes what was written (a
failing output instead leaves nothing); SIGINT/SIGTERM finalize a playable file and exit 130/143; a camera
that disappears stops cleanly and keeps the recording.

Injection: the stage functions and methods the engine calls are monkeypatched to raise on their Nth call; the
source iterator and the sink's write likewise. Signals go to a real ``python -m vidbokeh`` process.
"""
from __future__ import annotations

import importlib.util
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import av
import numpy as np
import pytest

from media_factory import audio_packets, decoded_video, make_clip
from cli_helpers import error_line, progress_reader
from vidbokeh.cli import run

SELFIE = ["--approach", "selfie"]
FAIL_AT = 8  # the stage fails on its 8th call: earlier frames are through the sink by then
CLIP_FRAMES = 60  # room for FAIL_AT calls of a stage that runs only every few frames (faces in video mode)
ROOT = Path(__file__).resolve().parents[1]


class Boom(RuntimeError):
    """The injected failure."""



def vidbokeh_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("vidbokeh-") and t.is_alive()]


class Injector:
    """Wraps a callable so that its ``fail_at``-th call raises Boom; records when."""

    def __init__(self, fail_at: int = FAIL_AT) -> None:
        self.fail_at = fail_at
        self.calls = 0
        self.when: float | None = None

    def wrap(self, fn):
        def wrapper(*args, **kwargs):
            self.calls += 1
            if self.calls == self.fail_at:
                self.when = time.monotonic()
                raise Boom(f"injected failure in {getattr(fn, '__qualname__', fn)}")
            return fn(*args, **kwargs)

        return wrapper


class WriteCounter:
    """Counts frames the video sink accepted (to compare with what the finalized file holds);
    ``reached`` is set once ``wanted`` frames are in."""

    def __init__(self, monkeypatch, wanted: int = 3) -> None:
        from vidbokeh.media.video_file import VideoFileSink

        self.count = 0
        self.reached = threading.Event()
        real = VideoFileSink.write

        def write(sink, *args, **kwargs):
            result = real(sink, *args, **kwargs)
            self.count += 1
            if self.count >= wanted:
                self.reached.set()
            return result

        monkeypatch.setattr(VideoFileSink, "write", write)


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return make_clip(tmp_path_factory.mktemp("runtime") / "clip.mp4", width=64, height=48, frames=CLIP_FRAMES)


@pytest.fixture(scope="module")
def synth_weights(tmp_path_factory, reference_dir: Path) -> Path:
    """Depth-Anything V2 ViT-S weights made from the reference spec (speed and shapes only, not quality)."""
    import torch

    spec = importlib.util.spec_from_file_location("synth_weights", reference_dir / "synth_weights.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("synth_weights", module)
    spec.loader.exec_module(module)
    state_spec = json.loads((reference_dir / "dav2_vits" / "spec.json").read_text())
    state = {k: torch.from_numpy(np.array(v)) for k, v in module.synth_state_dict(state_spec).items()}
    path = tmp_path_factory.mktemp("weights") / "dav2_vits_synth.pth"
    torch.save(state, path)
    return path


def _patch_stage(monkeypatch, stage: str, injector: Injector) -> None:
    from vidbokeh.depth.model import DepthModel
    from vidbokeh.stages import bokeh, focus, masks
    from vidbokeh.stages.faces import FaceDetector
    from vidbokeh.stages.segmentation import PersonSegmenter
    from vidbokeh.stages.smoothing import DepthSmoother

    owner, name = {
        "faces": (FaceDetector, "detect"),
        "segment": (PersonSegmenter, "segment"),
        "mask": (masks, "build_protection_mask"),
        "render_uniform": (bokeh, "render_uniform"),
        "depth": (DepthModel, "predict_batch"),
        "smooth": (DepthSmoother, "update"),
        "focus": (focus, "choose_focus"),
        "render_bokeh": (bokeh, "render_bokeh"),
    }[stage]
    monkeypatch.setattr(owner, name, injector.wrap(getattr(owner, name)))


def _assert_failed_cleanly(code: int, err: str, injector: Injector, returned: float) -> None:
    assert injector.when is not None, "the injected failure never happened"
    assert code not in (0, 130, 143)
    line = error_line(err)
    assert "injected failure" in line
    assert returned - injector.when < 2.0  # the run ended within 2 s of the failure
    assert vidbokeh_threads() == []


def _assert_finalized(out: Path, counter: WriteCounter, err: str) -> None:
    assert counter.count >= 1
    assert f"{counter.count} frames finalized in {out}" in error_line(err)  # the one line says what was kept
    pts, _, size = decoded_video(out)  # playable, under the final name
    assert len(pts) == counter.count and size == (64, 48)
    assert not [p for p in out.parent.iterdir() if "partial" in p.name]


SELFIE_STAGES = ["faces", "segment", "mask", "render_uniform"]
DEPTH_STAGES = ["depth", "smooth", "focus", "render_bokeh"]


@pytest.mark.parametrize("stage", SELFIE_STAGES)
def test_selfie_stage_failure_stops_everything_and_finalizes(clip, tmp_path, capsys, monkeypatch, stage):
    injector = Injector()
    _patch_stage(monkeypatch, stage, injector)
    counter = WriteCounter(monkeypatch)
    out = tmp_path / "out.mp4"
    code = run(["file", str(clip), str(out), *SELFIE])
    returned = time.monotonic()
    err = capsys.readouterr().err
    _assert_failed_cleanly(code, err, injector, returned)
    _assert_finalized(out, counter, err)


@pytest.mark.parametrize("stage", DEPTH_STAGES)
def test_depth_stage_failure_stops_everything_and_finalizes(clip, tmp_path, capsys, monkeypatch, synth_weights,
                                                            stage):
    injector = Injector()
    _patch_stage(monkeypatch, stage, injector)
    counter = WriteCounter(monkeypatch)
    out = tmp_path / "out.mp4"
    code = run(["file", str(clip), str(out), "--approach", "depth_anything", "--weights", str(synth_weights),
                "--depth-size", "56", "--device", "cpu"])
    returned = time.monotonic()
    err = capsys.readouterr().err
    _assert_failed_cleanly(code, err, injector, returned)
    _assert_finalized(out, counter, err)


def test_source_thread_failure_stops_everything_and_finalizes(clip, tmp_path, capsys, monkeypatch):
    from vidbokeh.media.sources import FileSource

    injector = Injector()
    counter = WriteCounter(monkeypatch)
    real_frames = FileSource._frames

    def frames(self):
        for frame in real_frames(self):
            if injector.calls + 1 == injector.fail_at:
                # fail once some frames are through (decoding runs ahead of processing: without this wait
                # the failure would land before anything was written, and there would be nothing to keep)
                assert counter.reached.wait(timeout=60)
            yield injector.wrap(lambda: frame)()

    monkeypatch.setattr(FileSource, "_frames", frames)
    out = tmp_path / "out.mp4"
    code = run(["file", str(clip), str(out), *SELFIE])
    returned = time.monotonic()
    err = capsys.readouterr().err
    _assert_failed_cleanly(code, err, injector, returned)
    _assert_finalized(out, counter, err)


def test_sink_thread_failure_leaves_nothing_under_the_final_name(clip, tmp_path, capsys, monkeypatch):
    from vidbokeh.media.video_file import VideoFileSink

    injector = Injector()
    monkeypatch.setattr(VideoFileSink, "write", injector.wrap(VideoFileSink.write))
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    code = run(["file", str(clip), str(out_dir / "out.mp4"), *SELFIE])
    returned = time.monotonic()
    _assert_failed_cleanly(code, capsys.readouterr().err, injector, returned)
    assert list(out_dir.iterdir()) == []  # the output itself failed: no file, no temporary file


def test_preview_failure_on_the_main_thread_finalizes_the_recording(tmp_path, capsys, monkeypatch):
    from vidbokeh.media import preview

    injector = Injector()

    class FakeGui:
        WINDOW_NORMAL, WND_PROP_VISIBLE = 0, 4

        def namedWindow(self, *a):
            pass

        imshow = staticmethod(injector.wrap(lambda title, img: None))

        def waitKey(self, ms):
            return -1

        def getWindowProperty(self, *a):
            return 1

        def destroyWindow(self, *a):
            pass

        def putText(self, *a):
            pass

    real_preview = preview.PreviewSink
    monkeypatch.setattr(preview, "PreviewSink", lambda title: real_preview(title, gui=FakeGui()))
    counter = WriteCounter(monkeypatch)
    out = tmp_path / "rec.mp4"
    code = run(["webcam", "--input-format", "lavfi", "--camera", "testsrc2=size=64x48:rate=30", "--frames", "100",
                "--output", str(out), *SELFIE])
    returned = time.monotonic()
    err = capsys.readouterr().err
    _assert_failed_cleanly(code, err, injector, returned)
    _assert_finalized(out, counter, err)


# ----------------------------------------------------------------------------- camera unplugged


class _VanishingContainer:
    """An opened camera container whose reads fail like an unplugged device after ``good`` packets."""

    def __init__(self, inner, good: int) -> None:
        self.inner, self.good, self.reads = inner, good, 0
        self.streams = inner.streams

    def demux(self, *args):
        for packet in self.inner.demux(*args):
            if self.reads >= self.good:
                raise OSError(19, "No such device")
            self.reads += 1
            yield packet

    def close(self) -> None:
        self.inner.close()


def test_camera_that_disappears_stops_cleanly_and_keeps_the_recording(tmp_path, capsys, monkeypatch):
    from vidbokeh.media.camera import CameraSource

    real_open = CameraSource.open

    def open_then_vanish(self):
        real_open(self)
        if not isinstance(self._container, _VanishingContainer):
            self._container = _VanishingContainer(self._container, good=12)
        return self

    monkeypatch.setattr(CameraSource, "open", open_then_vanish)
    out = tmp_path / "rec.mp4"
    code = run(["webcam", "--input-format", "lavfi", "--camera", "testsrc2=size=64x48:rate=30", "--no-preview",
                "--frames", "1000", "--output", str(out), *SELFIE])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "Traceback" not in err
    assert "camera stopped delivering frames" in err and "recording kept" in err
    summary = [ln for ln in err.replace("\r", "\n").splitlines() if "frames written to" in ln][-1]
    written = int(re.search(r"(\d+) frames written", summary).group(1))
    dropped = re.search(r"(\d+) frames dropped", summary)  # lavfi delivers faster than real time
    assert written + (int(dropped.group(1)) if dropped else 0) == 12
    pts, _, _ = decoded_video(out)
    assert len(pts) == written >= 1
    assert vidbokeh_threads() == []


# ----------------------------------------------------------------------------- signals, in a real process


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory) -> Path:
    # long enough that the signal lands mid-run: ~10 s of processing on 2 cores
    return make_clip(tmp_path_factory.mktemp("signals") / "long.mp4", width=160, height=120, frames=900,
                     gop=30)


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_during_file_mode_finalizes_a_playable_file(long_clip, tmp_path, sig, code):
    out = tmp_path / "out.mp4"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "vidbokeh", "file", str(long_clip), str(out), *SELFIE],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env)
    seen = threading.Event()
    collected: list[str] = []
    reader = threading.Thread(target=progress_reader, args=(proc.stderr, seen, 30, collected), daemon=True)
    reader.start()
    assert seen.wait(timeout=240), "no progress seen"
    assert proc.poll() is None, "finished before the signal: make the clip longer"
    proc.send_signal(sig)
    proc.wait(timeout=60)
    reader.join(timeout=10)
    err = "".join(collected)
    assert proc.returncode == code, err[-2000:]
    assert "Traceback" not in err
    last = err.replace("\r", "\n").strip().splitlines()[-1]
    assert last.startswith("vidbokeh: interrupted") and str(out) in last, last
    reported = int(re.search(r"(\d+) frames written", last).group(1))
    pts, _, size = decoded_video(out)  # playable
    assert size == (160, 120)
    assert 30 <= len(pts) == reported < 900
    assert audio_packets(out)  # the audio up to the last frame is kept
    with av.open(str(out)) as c:
        assert c.duration / av.time_base < 900 / 30
    assert not [p for p in tmp_path.iterdir() if "partial" in p.name]


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_while_the_output_is_being_closed_still_gives_the_complete_file(clip, tmp_path, capsys, monkeypatch,
                                                                               sig, code):
    from vidbokeh.media.video_file import VideoFileSink

    real_end = VideoFileSink._end

    def end(sink, complete):
        os.kill(os.getpid(), sig)  # lands while the trailer is written and the file renamed
        return real_end(sink, complete)

    monkeypatch.setattr(VideoFileSink, "_end", end)
    out = tmp_path / "out.mp4"
    assert run(["file", str(clip), str(out), *SELFIE]) == code
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert f"interrupted: {CLIP_FRAMES} frames written to {out}" in err
    assert len(decoded_video(out)[0]) == CLIP_FRAMES
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4"]  # no temporary file left


def test_second_ctrl_c_while_finalizing_is_absorbed(clip, tmp_path, capsys, monkeypatch):
    from vidbokeh.media.video_file import VideoFileSink
    from vidbokeh.stages import masks

    real_build, calls = masks.build_protection_mask, {"n": 0}

    def build(*args, **kwargs):  # the first Ctrl-C, as the processing thread sees it
        calls["n"] += 1
        if calls["n"] == FAIL_AT:
            raise KeyboardInterrupt
        return real_build(*args, **kwargs)

    real_end = VideoFileSink._end

    def end(sink, complete):  # a second, real SIGINT while the frames done are finalized
        os.kill(os.getpid(), signal.SIGINT)
        return real_end(sink, complete)

    monkeypatch.setattr(masks, "build_protection_mask", build)
    monkeypatch.setattr(VideoFileSink, "_end", end)
    counter = WriteCounter(monkeypatch)
    out = tmp_path / "out.mp4"
    assert run(["file", str(clip), str(out), *SELFIE]) == 130
    err = capsys.readouterr().err
    assert "Traceback" not in err and f"frames written to {out}" in err
    assert len(decoded_video(out)[0]) == counter.count >= 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4"]


# ----------------------------------------------------------------------------- contract


def test_debug_shows_the_traceback_and_plain_runs_do_not(clip, tmp_path, capsys, monkeypatch):
    injector = Injector(fail_at=2)
    _patch_stage(monkeypatch, "mask", injector)
    assert run(["file", str(clip), str(tmp_path / "a.mp4"), *SELFIE]) == 1
    plain = capsys.readouterr().err
    assert "Traceback" not in plain and "--debug" in error_line(plain)
    injector.calls = 0
    assert run(["--debug", "file", str(clip), str(tmp_path / "b.mp4"), *SELFIE]) == 1
    debug = capsys.readouterr().err
    assert "Traceback" in debug and "Boom" in debug


def test_readme_exit_code_table_covers_every_error_type():
    from vidbokeh import errors

    readme = (ROOT / "README.md").read_text()
    table = readme.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    documented = {int(m) for m in re.findall(r"^\| (\d+) \|", table, flags=re.M)}
    assert {0, 1, 2, 3, 4, 5, 130, 143} <= documented
    for obj in vars(errors).values():
        if isinstance(obj, type) and issubclass(obj, errors.VidbokehError):
            assert obj.exit_code in documented, obj
    assert errors.Interrupted("terminated", exit_code=143).exit_code in documented


@pytest.mark.parametrize("args, code", [
    (["file", "{tmp}/missing.mp4", "{tmp}/out.mp4"], 3),
    (["file", "{clip}", "{tmp}/out.avi"], 5),
    (["webcam", "--camera", "/dev/video-vidbokeh-none", "--input-format", "v4l2", "--no-preview", "--frames", "3"], 3),
    (["file", "{clip}"], 2),
])
def test_a_real_process_prints_exactly_one_line_and_exits_with_the_documented_code(clip, tmp_path, args, code):
    argv = [a.format(tmp=tmp_path, clip=clip) for a in args]
    proc = subprocess.run([sys.executable, "-m", "vidbokeh", *argv, *SELFIE], capture_output=True, text=True,
                          cwd=ROOT, timeout=300)
    assert proc.returncode == code, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vidbokeh: ") and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stdout == ""
