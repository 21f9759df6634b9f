"""Live depth (issue 10): depth runs at its own rate beside the frames; the frame loop never waits for it.

The worker (pipeline.LatestWorker) is the real thread; the depth model is the real network on synthetic
weights. Where a test must know that depth is still running, the model is held at a gate the test opens:
that is the test's clock, no sleeps and no timings.
"""
from __future__ import annotations

import threading

import cv2
import numpy as np
import pytest

from vidbokeh.engine import EffectSettings, VideoProfile, VideoSession, load_models
from vidbokeh.engine.map_carry import MapCarry
from vidbokeh.pipeline import LatestWorker


def _threads(prefix: str = "vidbokeh-") -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith(prefix)]


def _frames(n: int, shift: int = 6) -> list[np.ndarray]:
    """A textured 320x240 scene with a bright square moving right by ``shift`` px per frame."""
    rng = np.random.default_rng(3)
    base = cv2.resize(rng.integers(0, 256, (30, 40, 3), dtype=np.uint8), (320, 240), interpolation=cv2.INTER_NEAREST)
    out = []
    for i in range(n):
        f = base.copy()
        x = 40 + i * shift
        f[90:150, x:x + 60] = (250, 250, 250)
        out.append(f)
    return out


# -- the worker -------------------------------------------------------------------------------------------------
def test_worker_takes_the_newest_item_and_never_holds_up_the_caller() -> None:
    gate, started, seen = threading.Event(), threading.Event(), []

    def work(x: int) -> int:
        started.set()
        gate.wait(10)
        seen.append(x)
        return x * 10

    worker = LatestWorker(work, "vidbokeh-test-worker")
    try:
        worker.submit(0)
        assert started.wait(10)
        for x in range(1, 5):  # all return at once although the first item is still being worked on
            worker.submit(x)
        assert worker.busy and worker.poll() is None
        gate.set()
        results = []
        while worker.busy or not results:
            r = worker.wait(5)
            if r is not None:
                results.append(r)
        assert seen[0] == 0 and seen[-1] == 4 and len(seen) == 2  # 1..3 were replaced before they started
        assert results[-1] == 40
    finally:
        worker.close()
    assert "vidbokeh-test-worker" not in _threads()


def test_worker_error_reaches_the_caller_and_the_thread_ends() -> None:
    def work(x: int) -> int:
        raise ValueError(f"bad item {x}")

    worker = LatestWorker(work, "vidbokeh-test-failing")
    worker.submit(7)
    with pytest.raises(ValueError, match="bad item 7"):
        while True:
            worker.wait(5)
    worker.close()
    assert "vidbokeh-test-failing" not in _threads()


# -- carrying a map to a later frame -------------------------------------------------------------------------------
def test_carried_map_follows_the_motion_of_a_real_clip(samples_dir) -> None:
    """A map made on frame 30 of the breakdance clip, carried to frames 33 and 36, lines up with them better
    than the stale map does. The map here is the frame's own grey picture, so 'lines up' can be measured."""
    import av

    frames = []
    with av.open(str(samples_dir / "videos" / "davis2016_breakdance.mp4")) as container:
        for i, f in enumerate(container.decode(video=0)):
            frames.append(f.to_ndarray(format="rgb24"))
            if i >= 36:
                break
    grey = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY).astype(np.float32) for f in frames]
    carry = MapCarry(flow_side=160)
    carry.anchor(grey[30], frames[30])
    assert carry.carry(frames[30]) is grey[30]  # the frame the map was made on takes it as it is
    for later in (33, 36):
        stale = np.abs(grey[30] - grey[later]).mean()
        carried = np.abs(carry.carry(frames[later]) - grey[later]).mean()
        assert carried < 0.9 * stale, (later, stale, carried)
    off = MapCarry(flow_side=0)
    off.anchor(grey[30], frames[30])
    assert off.carry(frames[33]) is grey[30]
    # a map made at a network's size and enlarged to the frame (here the grey picture at 196 px) is carried on a
    # smaller copy (map_side) and comes back at the frame's size, within 1 % of the map's range of the full-size
    # carry (0.5 % measured; the stale map is 4 % off)
    h, w = grey[30].shape
    made = cv2.resize(cv2.resize(grey[30], (196 * w // h, 196), interpolation=cv2.INTER_AREA), (w, h))
    full, reduced = MapCarry(flow_side=160), MapCarry(flow_side=160, map_side=640)
    full.anchor(made, frames[30])
    reduced.anchor(made, frames[30])
    assert reduced.latest is made and reduced.carry(frames[30]) is made
    for later in (33, 36):
        a, b = full.carry(frames[later]), reduced.carry(frames[later])
        assert b.shape == (h, w)
        assert np.abs(a - b).mean() < 0.01 * float(np.ptp(made)), (later, np.abs(a - b).mean())


# -- a live session ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def depth_models(synthetic_weights):
    settings = EffectSettings(approach="depth_anything", weights=synthetic_weights("dav2_vits"), device="cpu",
                              depth_size=98, video_profile=VideoProfile(work_max_side=320))
    with load_models(settings, "video", progress=False) as models:
        yield models


def test_live_session_frames_never_wait_for_depth(depth_models) -> None:
    model = depth_models.depth
    gates, calls = [threading.Event(), threading.Event()], []
    real = model.predict_batch

    def gated(frames, **kw):
        calls.append(threading.current_thread().name)
        gates[min(len(calls), 2) - 1].wait(30)  # the first map, then every later one, held until the test opens
        return real(frames, **kw)

    model.predict_batch = gated
    frames = _frames(8)
    try:
        with VideoSession(depth_models, live_depth=LatestWorker) as session:
            # not even the stream's first frame waits: until a map arrives frames go without depth (a runtime
            # may still be opening or exporting), blurred uniformly around the subject
            early = [session.process(f, i / 30) for i, f in enumerate(frames[:3])]
            assert all(r.depth is None and "depth" not in r.timings for r in early)
            assert all(r.output.shape == frames[0].shape and not np.array_equal(r.output, f)
                       for r, f in zip(early, frames))
            assert calls == ["vidbokeh-depth"]  # every map is made on the worker, never on the frame loop
            gates[0].set()
            first = _until_fresh(session, frames)
            assert first.depth is not None
            held = [session.process(f, i / 30) for i, f in enumerate(frames[1:6], 1)]  # the next map is held
            assert all("depth" not in r.timings for r in held)  # no fresh map: each frame got the carried one
            assert all(r.depth is not None and r.output.shape == frames[0].shape for r in held)
            gates[1].set()
            assert _until_fresh(session, frames).depth is not None
            assert set(calls) == {"vidbokeh-depth"}
    finally:
        for gate in gates:
            gate.set()
        model.predict_batch = real
    assert "vidbokeh-depth" not in _threads()


def _until_fresh(session: VideoSession, frames: list[np.ndarray]):
    """Frames keep coming until the worker's map arrives with one of them (that frame's result)."""
    for i in range(400):
        r = session.process(frames[6 + i % 2], (6 + i) / 30)
        if "depth" in r.timings:
            return r
    raise AssertionError("no depth map arrived")


def test_file_session_keeps_depth_on_every_frame(depth_models) -> None:
    with VideoSession(depth_models) as session:
        results = [session.process(f, i / 30) for i, f in enumerate(_frames(3))]
    assert all("depth" in r.timings for r in results)


def test_webcam_with_depth_reports_depth_updates_and_keeps_the_stream(tmp_path, capsys, synthetic_weights) -> None:
    """Through the CLI: a clip played as a live camera with depth_anything; every frame is written with the
    effect and the summary says how often depth was updated."""
    from media_factory import decoded_video, make_clip
    from vidbokeh.cli import run

    clip = make_clip(tmp_path / "cam.mp4", width=320, height=240, frames=45, fps=15)
    out = tmp_path / "rec.mp4"
    code = run(["webcam", "--camera", str(clip), "--realtime", "--no-preview", "--output", str(out),
                "--approach", "depth_anything", "--weights", str(synthetic_weights("dav2_vits")),
                "--depth-size", "98", "--device", "cpu"])
    err = capsys.readouterr().err
    assert code == 0, err
    pts, _, size = decoded_video(out)
    assert size == (320, 240) and len(pts) >= 1
    line = [ln for ln in err.splitlines() if "frames written" in ln][-1]
    assert " depth " in line and "/s" in line and "latency median" in line
    assert "vidbokeh-depth" not in _threads()
