"""The torch frame path through the engine (issue 11), on the CPU (and on CUDA with the ``gpu`` marker).

A VideoSession with ``frame_backend="torch"`` uploads each frame once; depth is made from the uploaded frame and
stays on the device, focus and the CoC map are computed there, the protection mask is brought to the frame's size
there, and one uint8 frame comes back. Checked against the OpenCV path on frames of a shared clip (PSNR >= 40 dB,
protected pixels bit-exact), by what crosses to the host, and by memory that does not grow with the stream.
"""
from __future__ import annotations

import gc
import math
import tracemalloc
import warnings
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from vidbokeh.engine import EffectSettings, VideoProfile, VideoSession, load_models, render_still
from vidbokeh.render import get_ops

MIN_PSNR = 40.0
CUDA = torch.cuda.is_available()


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0.0 else 10.0 * math.log10(255.0**2 / mse)


@pytest.fixture(scope="module")
def clip(samples_dir: Path) -> list[np.ndarray]:
    """12 frames of the juggling clip at 320x180."""
    import av

    frames = []
    with av.open(str(samples_dir / "videos" / "sam2_juggle.mp4")) as container:
        for frame in container.decode(video=0):
            frames.append(cv2.resize(frame.to_ndarray(format="rgb24"), (320, 180), interpolation=cv2.INTER_AREA))
            if len(frames) == 12:
                break
    return frames


@pytest.fixture(scope="module")
def hybrid(synthetic_weights):
    """Hybrid models for video; the working copy (160 px) is smaller than the frames, so the mask is upsampled."""
    settings = EffectSettings(approach="hybrid", weights=synthetic_weights("dav2_vits"), device="cpu", depth_size=98,
                              video_profile=VideoProfile(work_max_side=160))
    with load_models(settings, "video", progress=False) as models:
        yield models


def _session_results(models, frames, **knobs):
    session = VideoSession(models, replace(models.settings, **knobs))
    stamps = [i / 24 for i in range(len(frames))]
    return session.process_batch(frames[:4], stamps[:4]) + [session.process(f, t) for f, t in
                                                             zip(frames[4:], stamps[4:])]


def test_torch_path_matches_opencv_through_a_video_session(hybrid, clip):
    for blur_foreground in (False, True):
        reference = _session_results(hybrid, clip, frame_backend="opencv", blur_foreground=blur_foreground)
        results = _session_results(hybrid, clip, frame_backend="torch", blur_foreground=blur_foreground)
        for rgb, ref, out in zip(clip, reference, results):
            for name in ("depth", "protect", "coc"):
                assert isinstance(out.as_made(name), torch.Tensor), name  # made on the device
                assert isinstance(getattr(out, name), np.ndarray), name  # and brought to the host when read
            assert isinstance(ref.as_made("coc"), np.ndarray)
            assert psnr(ref.output, out.output) >= MIN_PSNR, psnr(ref.output, out.output)
            sharp = out.protect >= 1.0
            assert sharp.any() and np.array_equal(out.output[sharp], rgb[sharp])
            assert not np.array_equal(out.output[~sharp], rgb[~sharp])
            assert float(np.abs(out.protect - ref.protect).max()) < 1e-5
            span = float(ref.depth.max() - ref.depth.min())
            assert float(np.abs(out.depth - ref.depth).max()) < 2e-3 * span
            assert abs(out.focus - ref.focus) < 2e-3


def _downloads(monkeypatch, ops) -> list[tuple]:
    """The shapes and dtypes of what the frame path brings to the host."""
    seen: list[tuple] = []
    real = ops.download

    def counting(x):
        seen.append((tuple(x.shape), x.dtype))
        return real(x)

    monkeypatch.setattr(ops, "download", counting)
    return seen


def test_depth_stays_on_the_device_and_only_the_frame_comes_back(hybrid, clip, monkeypatch):
    """A frame sends to the host its output (uint8) only; the host depth route of the model is not taken, and the
    people's subject choice reads depth on the device. Smoothing runs on the device too: it brings only its fit's
    samples to the host (two short vectors per map after the first), never a map."""
    ops = get_ops("torch", "cpu")
    seen = _downloads(monkeypatch, ops)
    host_route = []
    monkeypatch.setattr(hybrid.depth, "predict_batch", lambda *a, **k: host_route.append(1))
    results = _session_results(hybrid, clip[:6], frame_backend="torch", smoothing=0.0)
    assert not host_route
    frame_shape = clip[0].shape
    assert seen.count((frame_shape, torch.uint8)) == 6
    assert len(seen) == 6, seen
    seen.clear()
    smoothed = _session_results(hybrid, clip[:6], frame_backend="torch")
    assert all(isinstance(r.as_made("depth"), torch.Tensor) for r in smoothed)
    samples = [s for s in seen if len(s[0]) == 1]
    assert samples and all(s == ((2048,), torch.float32) for s in samples), samples
    assert len(samples) == 2 * 5  # the first map starts the estimate; each later one: its samples and the estimate's
    assert len(seen) - len(samples) == 6  # the rest as without smoothing: the frames
    assert all(r.focus is not None for r in results)


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=[
    pytest.mark.gpu, pytest.mark.skipif(not CUDA, reason="needs a CUDA GPU")])])
def test_a_smoothed_file_frame_sends_back_only_the_frame_and_the_fit_samples(clip, synthetic_weights, monkeypatch,
                                                                               device):
    """depth_anything with smoothing, the model and the frame path on one device: per frame the uint8 output comes
    back, and after the first map the smoother's two sample vectors; no map. On CUDA the synchronising calls per
    frame are counted too (printed; a bound, not a figure to chase)."""
    settings = EffectSettings(approach="depth_anything", weights=synthetic_weights("dav2_vits"), device=device,
                              depth_size=98, frame_backend="torch")
    ops = get_ops("torch", device)
    seen = _downloads(monkeypatch, ops)
    with load_models(settings, "video", progress=False) as models:
        session = VideoSession(models, settings)
        session.process(clip[0], 0.0)
        seen.clear()
        with warnings.catch_warnings(record=True) as syncs:
            warnings.simplefilter("always")
            if device == "cuda":
                torch.cuda.set_sync_debug_mode("warn")
            try:
                results = [session.process(f, i / 24) for i, f in enumerate(clip[1:7], start=1)]
            finally:
                if device == "cuda":
                    torch.cuda.set_sync_debug_mode("default")
    assert all(r.as_made("depth").device.type == device for r in results)
    assert seen.count((clip[0].shape, torch.uint8)) == 6
    assert seen.count(((2048,), torch.float32)) == 12
    assert len(seen) == 18, seen
    if device == "cuda":
        per_frame = sum("synchronizing" in str(w.message) for w in syncs) / 6
        print(f"CUDA synchronising calls per frame: {per_frame:.1f}")
        assert per_frame <= 40


def test_live_depth_stays_on_the_device(clip, synthetic_weights, monkeypatch):
    """Live: the depth worker makes its map from the frame on the device (the host route of the model is not
    taken), the smoother and the carry work on it there, and a frame sends back its output and the fit's samples
    only."""
    from vidbokeh.pipeline import LatestWorker

    settings = EffectSettings(approach="depth_anything", weights=synthetic_weights("dav2_vits"), device="cpu",
                              depth_size=98, frame_backend="torch")
    ops = get_ops("torch", "cpu")
    with load_models(settings, "video", progress=False) as models:
        host_route: list = []
        monkeypatch.setattr(models.depth, "predict_batch", lambda *a, **k: host_route.append(1))
        seen = _downloads(monkeypatch, ops)
        fresh, carried = 0, 0
        with VideoSession(models, settings, live_depth=LatestWorker) as session:
            for i in range(600):  # until two fresh maps and a carried one have been used
                r = session.process(clip[i % len(clip)], i / 30)
                depth = r.as_made("depth")
                if depth is not None:
                    assert isinstance(depth, torch.Tensor)
                    fresh, carried = fresh + ("depth" in r.timings), carried + ("carry" in r.timings)
                if fresh >= 2 and carried >= 1:
                    break
    assert fresh >= 2 and carried >= 1 and not host_route
    assert set(seen) <= {(clip[0].shape, torch.uint8), ((2048,), torch.float32)}, set(seen)


def _frames(path: Path, count: int, start: int = 0) -> list[np.ndarray]:
    import av

    frames = []
    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i >= start:
                frames.append(cv2.resize(frame.to_ndarray(format="rgb24"), (320, 180), interpolation=cv2.INTER_AREA))
            if len(frames) == count:
                break
    return frames


def _db(reference: np.ndarray, other: np.ndarray) -> float:
    """PSNR of a depth map against the reference, the reference's span as the peak."""
    span = float(reference.max() - reference.min())
    mse = float(np.mean((reference.astype(np.float64) - other.astype(np.float64)) ** 2))
    return math.inf if mse == 0.0 else 10.0 * math.log10(span**2 / mse)


@pytest.fixture(scope="module")
def joined_maps(samples_dir, synthetic_weights):
    """Frames of two shared clips joined by a cut, and the synthetic model's depth maps of them (host arrays)."""
    videos = samples_dir / "videos"
    frames = _frames(videos / "sam2_juggle.mp4", 8) + _frames(videos / "davis2016_breakdance.mp4", 8, start=20)
    settings = EffectSettings(approach="depth_anything", weights=synthetic_weights("dav2_vits"), device="cpu")
    with load_models(settings, "video", progress=False) as models:
        return frames, models.depth.predict_batch(frames, input_size=98)


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=[
    pytest.mark.gpu, pytest.mark.skipif(not CUDA, reason="needs a CUDA GPU")])])
def test_smoothing_on_the_device_matches_the_host(joined_maps, device):
    """The temporal smoother is one algorithm over the array operations: on torch tensors it gives the OpenCV
    backend's smoothed maps (>= 60 dB of the map's span) on two shared clips joined by a cut, with the same scene
    cuts, the same fits and the same motion gate."""
    from vidbokeh.stages.smoothing import DepthSmoother, SmoothingSettings

    frames, maps = joined_maps
    ops = get_ops("torch", device)
    host, moved = DepthSmoother(SmoothingSettings()), DepthSmoother(SmoothingSettings(), ops)
    figures, cuts = [], []
    for rgb, depth in zip(frames, maps):
        ref = host.update(depth, rgb)
        out = moved.update(ops.upload(depth), rgb)
        assert isinstance(out, torch.Tensor) and out.device.type == device
        figures.append(_db(ref, ops.download(out)))
        assert (moved.last_cut, moved.last_cut_reason) == (host.last_cut, host.last_cut_reason)
        cuts.append(host.last_cut_reason)
        if host.last_alignment is not None:
            assert moved.last_alignment.scale == pytest.approx(host.last_alignment.scale, rel=1e-4)
        assert abs(moved.last_motion_fraction - host.last_motion_fraction) < 0.01
    assert cuts[8] is not None and cuts.count(None) == 15  # the join is a cut, the rest is smoothed
    assert host.last_motion_fraction > 0.0  # the gate did cut in on the moving dancer
    print(f"smoothed depth, torch on {device} vs OpenCV: min {min(figures):.1f} dB, median {np.median(figures):.1f} dB")
    assert min(figures) >= 60.0, figures


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=[
    pytest.mark.gpu, pytest.mark.skipif(not CUDA, reason="needs a CUDA GPU")])])
def test_the_live_carry_on_the_device_matches_the_host(samples_dir, device):
    """The live depth carry resamples a map along the host's DIS flow with the frame path's operations: on torch
    tensors it gives the OpenCV remap's result (a map made on frame 30 of the breakdance clip, carried to 33 and
    36), within the remap's 1/32-pixel positions; also where it is carried on a reduced copy (map_side: live
    depth's default), brought back to the map's size on either backend."""
    from vidbokeh.engine.map_carry import MapCarry

    frames = _frames(samples_dir / "videos" / "davis2016_breakdance.mp4", 7, start=30)
    depth = cv2.GaussianBlur(cv2.cvtColor(frames[0], cv2.COLOR_RGB2GRAY).astype(np.float32), (0, 0), 2.0)
    ops = get_ops("torch", device)
    for side in (0, 640):
        _carry_matches(MapCarry(flow_side=160, map_side=side), MapCarry(flow_side=160, ops=ops, map_side=side),
                       depth, frames, device, ops)


def _carry_matches(host, moved, depth, frames, device, ops) -> None:
    host.anchor(depth, frames[0])
    moved.anchor(depth, frames[0])
    for later in (3, 6):
        ref, out = host.carry(frames[later]), moved.carry(frames[later])
        assert isinstance(out, torch.Tensor) and out.device.type == device
        assert not np.array_equal(ref, depth)  # it was carried
        db = _db(ref, ops.download(out))
        print(f"carried map (+{later} frames), torch on {device} vs OpenCV's remap: {db:.1f} dB")
        assert db >= 50.0, db


def test_still_renders_on_the_torch_path_like_opencv(hybrid, samples_dir, synthetic_weights):
    settings = EffectSettings(approach="hybrid", weights=synthetic_weights("dav2_vits"), device="cpu", depth_size=98)
    rgb = cv2.imread(str(samples_dir / "images" / "obama_official_portrait.jpg"))[:, :, ::-1]
    rgb = np.ascontiguousarray(cv2.resize(rgb, (240, 300), interpolation=cv2.INTER_AREA))
    with load_models(settings) as models:
        ref = render_still(models, rgb, settings)
        out = render_still(models, rgb, replace(settings, frame_backend="torch"))
    assert isinstance(out.as_made("coc"), torch.Tensor)
    assert psnr(ref.output, out.output) >= MIN_PSNR
    sharp = out.protect >= 1.0
    assert sharp.any() and np.array_equal(out.output[sharp], rgb[sharp])
    assert float(np.abs(out.coc - ref.coc).max()) < 0.05


def _grow(session, frames, count: int, start: int) -> None:
    for i in range(start, start + count):
        session.process(frames[i % len(frames)], i / 30)


def _live_tensors() -> int:
    gc.collect()
    with warnings.catch_warnings():  # isinstance on every object touches deprecated torch names
        warnings.simplefilter("ignore")
        return sum(1 for o in gc.get_objects() if isinstance(o, torch.Tensor))


def _memory_stays_flat(device: str, frames, weights) -> None:
    settings = EffectSettings(approach="depth_anything", weights=weights, device=device, depth_size=56,
                              frame_backend="torch")
    ops = get_ops("torch", device)
    with load_models(settings, "video", progress=False) as models:
        session = VideoSession(models, settings)
        _grow(session, frames, 40, 0)  # warm: kernels, tables, the smoother's state
        consts, tensors = len(ops._consts), _live_tensors()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            device_before = torch.cuda.memory_allocated() if device == "cuda" else 0
            _grow(session, frames, 260, 40)
            grown = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
        assert len(ops._consts) == consts <= 256  # the uploaded kernels and tables: a bounded cache, not per frame
        assert _live_tensors() <= tensors  # no tensor kept per frame (depth maps, CoC maps, frames)
        assert grown < 1_000_000, grown  # host memory (numpy's allocations are traced): a frame is 17 KB
        if device == "cuda":
            assert torch.cuda.memory_allocated() - device_before < 1_000_000


def test_device_path_memory_does_not_grow_with_video_length(clip, synthetic_weights):
    """300 small frames through a torch-path session on the CPU: no per-frame cache or state grows."""
    frames = [cv2.resize(f, (96, 54), interpolation=cv2.INTER_AREA) for f in clip]
    _memory_stays_flat("cpu", frames, synthetic_weights("dav2_vits"))


@pytest.mark.gpu
@pytest.mark.skipif(not CUDA, reason="needs a CUDA GPU")
def test_cuda_session_memory_does_not_grow(clip, synthetic_weights):
    _memory_stays_flat("cuda", clip, synthetic_weights("dav2_vits"))


@pytest.mark.gpu
@pytest.mark.skipif(not CUDA, reason="needs a CUDA GPU")
def test_cuda_session_matches_opencv(clip, synthetic_weights):
    pytest.importorskip("mediapipe", reason="hybrid needs MediaPipe's segmenter (tools/gpu_pack.sh may leave it out)")
    settings = EffectSettings(approach="hybrid", weights=synthetic_weights("dav2_vits"), device="cuda",
                              depth_size=98, video_profile=VideoProfile(work_max_side=160))
    with load_models(settings, "video", progress=False) as models:
        reference = _session_results(models, clip, frame_backend="opencv")
        results = _session_results(models, clip, frame_backend="torch")
    for rgb, ref, out in zip(clip, reference, results):
        assert out.as_made("depth").device.type == "cuda"
        assert psnr(ref.output, out.output) >= MIN_PSNR
        sharp = out.protect >= 1.0
        assert np.array_equal(out.output[sharp], rgb[sharp])


def _write_clip(path: Path, frames: list[np.ndarray]) -> None:
    import av

    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = frames[0].shape[1], frames[0].shape[0], "yuv444p"
        stream.options = {"crf": "0"}
        for rgb in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def _decoded(path: Path) -> list[np.ndarray]:
    import av

    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def test_file_mode_through_the_cli_on_both_backends(clip, tmp_path, synthetic_weights):
    """`vidbokeh file --frame-backend torch` (depth made and kept on the device, CoC and render there) writes
    every frame, and the same picture as the OpenCV path within 40 dB."""
    from vidbokeh.cli import run

    src = tmp_path / "in.mkv"
    _write_clip(src, clip[:8])
    outputs = {}
    for backend in ("opencv", "torch"):
        dst = tmp_path / f"out_{backend}.mkv"
        assert run(["file", str(src), str(dst), "--approach", "depth_anything", "--weights",
                    str(synthetic_weights("dav2_vits")), "--device", "cpu", "--depth-size", "98", "--crf", "0",
                    "--frame-backend", backend]) == 0
        outputs[backend] = _decoded(dst)
    assert len(outputs["opencv"]) == len(outputs["torch"]) == 8
    for ref, out, rgb in zip(outputs["opencv"], outputs["torch"], clip):
        assert psnr(ref, out) >= MIN_PSNR, psnr(ref, out)
        assert psnr(ref, rgb) < 35.0  # the frames were blurred
