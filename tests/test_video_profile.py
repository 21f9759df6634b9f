"""Video mode's per-frame profile (faces every N frames on a reduced working copy, plain segmentation), the
uint8 fast path of the uniform renderer, and the start-up of the selfie path (no torch, no matplotlib).

No timings here: speed is measured by tools/bench_video.py.
"""
from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from vidbokeh.engine import EffectSettings, VideoProfile, VideoSession, load_models, render_still
from vidbokeh.engine.stage_settings import stage_settings
from vidbokeh.errors import UsageError
from vidbokeh.stages import assets
from vidbokeh.stages.bokeh import BokehSettings, render_uniform
from vidbokeh.stages.faces import FaceDetector, FaceDetectorSettings

ROOT = Path(__file__).resolve().parents[1]


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


def test_video_mode_detects_faces_every_nth_frame_and_reuses_the_boxes(frame: np.ndarray) -> None:
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


def test_video_mode_mask_is_full_size_and_the_subject_exact(frame: np.ndarray) -> None:
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


def test_video_profile_is_validated() -> None:
    with pytest.raises(UsageError):
        VideoProfile(face_every=0)
    with pytest.raises(UsageError):
        VideoProfile(work_max_side=-1)
    with pytest.raises(UsageError):
        VideoProfile(mask_fit_side=4)


# ----------------------------------------------------------------------------- uniform renderer, uint8 path


def _texture(h: int, w: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (max(1, h // 4), max(1, w // 4), 3), dtype=np.uint8)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


@pytest.mark.parametrize("shape", [(203, 301), (240, 320), (97, 513)])
def test_uniform_blur_at_reduced_resolution_keeps_protected_pixels_exact(shape) -> None:
    h, w = shape
    img = _texture(h, w, seed=1)
    protect = np.zeros((h, w), np.float32)
    cv2.ellipse(protect, (w // 2, h // 2), (w // 5, h // 3), 0, 0, 360, 1.0, -1)
    protect = cv2.GaussianBlur(protect, (0, 0), 3)
    protect[protect > 0.97] = 1.0
    radius = 0.04 * np.hypot(h, w)  # blurred at 1/4 or 1/8 of the size
    out = render_uniform(img, radius, protect)
    assert out.shape == img.shape and out.dtype == np.uint8
    kept = protect == 1.0
    assert kept.any() and np.array_equal(out[kept], img[kept])
    # the reduced-resolution uint8 path agrees with the full-resolution float reference
    ref = render_uniform(img, radius, protect, BokehSettings(full_resolution=True))
    diff = np.abs(out.astype(np.float32) - ref.astype(np.float32))
    assert diff.mean() <= 2.0
    assert np.percentile(diff, 99) <= 12.0


def test_uniform_weakly_fed_pixels_keep_their_colour() -> None:
    # premultiplied in uint16: a pixel feeding the blur with a small weight still brings its own colour
    h, w = 64, 96
    img = np.zeros((h, w, 3), np.uint8)
    img[..., 0], img[..., 1], img[..., 2] = 37, 141, 229
    protect = np.full((h, w), 0.49, np.float32)  # feed = 1 - 0.49 / 0.5 = 0.02
    out = render_uniform(img, 20.0, protect)
    assert np.abs(out.astype(int) - img.astype(int)).max() <= 1


def test_uniform_without_protection_is_the_plain_blur() -> None:
    img = _texture(120, 200, seed=3)
    out = render_uniform(img, 16.0, None)
    ref = render_uniform(img, 16.0, None, BokehSettings(full_resolution=True))
    assert np.abs(out.astype(np.float32) - ref.astype(np.float32)).mean() <= 2.0
    assert np.abs(np.diff(out.astype(np.float32), axis=1)).mean() < 0.5 * np.abs(
        np.diff(img.astype(np.float32), axis=1)).mean()


# ----------------------------------------------------------------------------- start-up of the selfie path


def _tiny_clip(path: Path) -> None:
    import av

    with av.open("testsrc2=size=160x120:rate=24", format="lavfi") as src, av.open(str(path), "w") as out:
        st = out.add_stream("libx264", rate=24)
        st.width, st.height, st.pix_fmt = 160, 120, "yuv420p"
        for i, f in enumerate(src.decode(video=0)):
            if i >= 6:
                break
            f.pts = None
            for p in st.encode(f):
                out.mux(p)
        for p in st.encode():
            out.mux(p)


def test_selfie_file_mode_imports_neither_torch_nor_matplotlib(tmp_path: Path, frame) -> None:
    clip = tmp_path / "in.mp4"
    _tiny_clip(clip)
    child = (
        "import sys\n"
        "from vidbokeh.cli import run\n"
        f"code = run(['file', {str(clip)!r}, {str(tmp_path / 'out.mp4')!r}, '--approach', 'selfie'])\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'matplotlib', 'timm'})\n"
        "import mediapipe\n"
        "spec = mediapipe.tasks.vision.drawing_utils.DrawingSpec  # still there when touched\n"
        "print('RESULT', code, ','.join(heavy) or '-')\n"
    )
    proc = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, cwd=ROOT, timeout=300)
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT")]
    assert proc.returncode == 0 and line, proc.stderr[-2000:]
    assert line[0].split()[1:] == ["0", "-"]


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
