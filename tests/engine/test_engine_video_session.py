"""engine/video.py: a VideoSession owns every piece of temporal state (faces every N frames on a reduced working
copy, depth every N, smoothing, timestamps, the focus puller); the live controls come with each frame.

No timings here: speed is measured by tools/bench_video.py.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from vidbokeh.engine import EffectSettings, LiveControls, VideoProfile, VideoSession, load_models, render_still
from vidbokeh.engine.stage_settings import stage_settings
from vidbokeh.live_keys import after_key
from vidbokeh.stages import assets
from vidbokeh.stages.faces import FaceDetector, FaceDetectorSettings


@pytest.fixture(scope="module")
def frame(samples_dir: Path) -> np.ndarray:
    """A 1280x720 frame: a portrait at full height in the middle of a textured background."""
    assets.model_path(assets.FACE_DETECTOR, progress=False)
    assets.model_path(assets.SELFIE_SEGMENTER, progress=False)
    bgr = cv2.imread(str(samples_dir / "images" / "obama_official_portrait.jpg"), cv2.IMREAD_COLOR)
    person = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    ph, pw = person.shape[:2]
    person = cv2.resize(person, (round(pw * 720 / ph), 720), interpolation=cv2.INTER_AREA)
    rng = np.random.default_rng(0)
    canvas = cv2.resize(rng.integers(0, 256, (90, 160, 3), dtype=np.uint8), (1280, 720),
                        interpolation=cv2.INTER_NEAREST)
    x0 = (1280 - person.shape[1]) // 2
    canvas[:, x0:x0 + person.shape[1]] = person
    return canvas


def _iou(a, b) -> float:
    ix = max(0.0, min(a.x1, b.x1) - max(a.x0, b.x0))
    iy = max(0.0, min(a.y1, b.y1) - max(a.y0, b.y0))
    inter = ix * iy
    return inter / (a.area + b.area - inter)


def test_video_detects_faces_every_nth_frame_and_reuses_the_boxes(frame: np.ndarray) -> None:
    settings = EffectSettings(approach="selfie", video_profile=VideoProfile(face_every=3))
    with load_models(settings, "video", progress=False) as models:
        calls = []
        detect = models.faces.detect

        def counting(rgb, ts=None):
            calls.append(rgb.shape)
            return detect(rgb, ts)

        models.faces.detect = counting
        session = VideoSession(models)
        results = [session.process(frame, i / 30.0) for i in range(7)]
    assert len(calls) == 3  # frames 0, 3 and 6
    assert all(shape == (360, 640, 3) for shape in calls)  # on the working copy
    assert results[0].faces and results[1].faces == results[0].faces and results[2].faces == results[0].faces
    with FaceDetector(FaceDetectorSettings(backend="mediapipe")) as still:
        full = still.detect(frame)
    assert full
    # reused boxes are in the full frame's pixels: they match a detection on the full-size frame
    assert _iou(results[1].faces[0], full[0]) >= 0.6


def test_video_mask_is_full_size_and_the_subject_exact(frame: np.ndarray) -> None:
    with load_models(EffectSettings(approach="selfie"), "video", progress=False) as models:
        result = VideoSession(models).process(frame, 0.0)
    assert result.protect.shape == frame.shape[:2] and result.output.shape == frame.shape
    face = result.faces[0]
    cx, cy = (int(v) for v in face.center)
    assert result.protect[cy, cx] == pytest.approx(1.0)
    kept = result.protect >= 1.0
    assert kept.mean() > 0.1
    assert np.array_equal(result.output[kept], frame[kept])
    background = result.protect == 0.0
    assert background[:, :100].all()  # the left margin is background
    in_energy = np.abs(np.diff(frame[:, :100].astype(np.float32), axis=1)).mean()
    out_energy = np.abs(np.diff(result.output[:, :100].astype(np.float32), axis=1)).mean()
    assert out_energy < 0.3 * in_energy


def test_stills_keep_the_full_quality_stages(frame: np.ndarray) -> None:
    settings = EffectSettings(approach="selfie")
    assert stage_settings(settings).mask.guided_max_side == 640
    with load_models(settings, "image", progress=False) as models:
        assert models.segmenter.settings.tile and models.segmenter.settings.refine
        calls = []
        detect = models.faces.detect
        models.faces.detect = lambda rgb, ts=None: calls.append(rgb.shape) or detect(rgb, ts)
        for _ in range(2):
            render_still(models, frame, settings)
    assert calls == [frame.shape, frame.shape]  # every picture, at full size


def test_video_depth_on_cpu_uses_the_capped_threads(synthetic_weights) -> None:
    import torch

    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        settings = EffectSettings(approach="depth_anything", weights=synthetic_weights("dav2_vits"), device="cpu",
                                  video_profile=VideoProfile(cpu_depth_threads=1))
        with load_models(settings, "video", progress=False) as models:
            assert models.device == "cpu"
            assert torch.get_num_threads() == 1
        torch.set_num_threads(2)
        with load_models(settings, "image", progress=False):
            assert torch.get_num_threads() == 2  # stills keep every thread
    finally:
        torch.set_num_threads(before)


def test_video_depth_size_is_reduced_more_on_a_cpu(synthetic_weights) -> None:
    from vidbokeh.engine import VIDEO_DEPTH_SIZE, VIDEO_DEPTH_SIZE_CPU

    weights = synthetic_weights("dav2_vits")
    settings = EffectSettings(approach="depth_anything", weights=weights, device="cpu")
    with load_models(settings, "video", progress=False) as models:
        session = VideoSession(models)
        assert session.depth_size == VIDEO_DEPTH_SIZE_CPU["depth_anything"] < VIDEO_DEPTH_SIZE["depth_anything"]
        assert session.depth_size % 14 == 0  # whole ViT patches
        assert VideoSession(models, replace(settings, depth_size=266)).depth_size == 266  # --depth-size wins


def test_live_controls_act_on_their_own_frame_only(frame: np.ndarray) -> None:
    frames = [frame, np.ascontiguousarray(frame[:, ::-1])]
    with load_models(EffectSettings(approach="selfie"), "video", progress=False) as models:
        plain = VideoSession(models)
        steady = [plain.process(f, i / 30.0) for i, f in enumerate(frames)]
    with load_models(EffectSettings(approach="selfie"), "video", progress=False) as models:
        live = VideoSession(models)
        turned = live.process(frames[0], 0.0, LiveControls(blur_scale=2.0))
        after = live.process(frames[1], 1 / 30.0)
    background = steady[0].protect == 0.0
    assert turned.coc[background].max() == pytest.approx(2 * steady[0].coc[background].max(), rel=1e-4)
    assert not np.array_equal(turned.output, steady[0].output)
    assert np.array_equal(after.output, steady[1].output)  # nothing of the first frame's controls stayed behind


def test_live_controls_shift_the_focus_of_a_depth_session(synthetic_weights, frame: np.ndarray) -> None:
    small = np.ascontiguousarray(frame[::4, ::4])
    settings = EffectSettings(approach="depth_anything", weights=synthetic_weights("dav2_vits"), device="cpu",
                              depth_size=98, smoothing=0.0)  # no focus puller: the focus moves at once
    with load_models(settings, "video", progress=False) as models:
        session = VideoSession(models)
        base = session.process(small, 0.0).focus
        nearer = session.process(small, 1 / 30.0, LiveControls(focus_offset=0.1)).focus
    assert nearer == pytest.approx(min(1.0, base + 0.1), abs=1e-6)


def test_keys_change_the_live_controls() -> None:
    start = LiveControls()
    more = after_key(ord("+"), start)
    assert more.blur_scale == pytest.approx(1.25) and start.blur_scale == 1.0  # a new value; the old one stays
    assert after_key(ord("-"), start).blur_scale == pytest.approx(0.8)
    assert after_key(ord("["), start).focus_offset == pytest.approx(0.05)
    assert after_key(ord("]"), start).focus_offset == pytest.approx(-0.05)
    assert after_key(ord("0"), replace(more, focus_offset=0.3)) == LiveControls()
    assert after_key(ord("x"), more) is more
    top = LiveControls(blur_scale=4.0, focus_offset=1.0)
    assert after_key(ord("+"), top).blur_scale == 4.0 and after_key(ord("["), top).focus_offset == 1.0


def test_one_set_of_models_serves_one_stream_after_another(frame: np.ndarray) -> None:
    """A second stream starting again at 0 s on the same models (a server's next connection, a worker's next
    segment) runs, and its frames come out as from freshly loaded models."""
    clip = [frame, np.ascontiguousarray(frame[:, ::-1]), frame]
    with load_models(EffectSettings(approach="selfie"), "video", progress=False) as models:
        first = [VideoSession(models).process(f, i / 30.0).output for i, f in enumerate(clip)]
        second = [VideoSession(models).process(f, i / 30.0).output for i, f in enumerate(clip)]
    assert all(np.array_equal(a, b) for a, b in zip(first, second))
