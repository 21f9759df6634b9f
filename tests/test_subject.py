"""Keeping the subject sharp: MediaPipe models, faces, person segmentation, protection mask.

Uses the real MediaPipe models (fetched once into the store: official host, else the PyPI wheel)
and the real photos and hand-labelled masks in ../shared/samples.
"""
from __future__ import annotations

import logging
import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from vidbokeh import store
from vidbokeh.errors import InputError, ModelError, UsageError
from vidbokeh.quality import evaluate
from vidbokeh.stages import assets
from vidbokeh.stages.faces import Face, FaceDetector, FaceDetectorSettings, main_face
from vidbokeh.stages.masks import MaskSettings, build_protection_mask, face_ellipses
from vidbokeh.stages.segmentation import PersonSegmenter, SegmenterSettings, square_tiles

PORTRAITS = ("obama_official_portrait.jpg", "biden_official_portrait.jpg", "mediapipe_sergey.png")


def _rgb(path: Path) -> np.ndarray:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert bgr is not None, path
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


@pytest.fixture(scope="module")
def model_files() -> dict[str, Path]:
    return {m.key: assets.model_path(m, progress=False) for m in assets.MODELS}


@pytest.fixture(scope="module")
def detector(model_files) -> FaceDetector:
    with FaceDetector(FaceDetectorSettings(backend="mediapipe")) as det:
        yield det


@pytest.fixture(scope="module")
def segmenter(model_files) -> PersonSegmenter:
    with PersonSegmenter() as seg:
        yield seg


@pytest.fixture(scope="module")
def labelled(samples_dir: Path) -> list[tuple[str, np.ndarray, np.ndarray]]:
    images = sorted((samples_dir / "portraits" / "images").glob("*.jpg"))
    assert len(images) == 9
    out = []
    for path in images:
        mask = cv2.imread(str(samples_dir / "portraits" / "masks" / (path.stem + ".png")), cv2.IMREAD_GRAYSCALE)
        out.append((path.stem, _rgb(path), mask))
    return out


# -- model files -------------------------------------------------------------------------------

def test_model_files_are_verified_tflite(model_files) -> None:
    for model in assets.MODELS:
        path = model_files[model.key]
        assert path.parent == store.home()
        assert assets.cached_model(model) == path
        if path.name == model.mirror.filename:
            assert store.sha256_file(path) == model.mirror.sha256


def test_offline_with_empty_store_is_one_line_model_error(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("VIDBOKEH_HOME", str(tmp_path / "empty"))
    monkeypatch.setenv("VIDBOKEH_OFFLINE", "1")
    with pytest.raises(ModelError) as info:
        assets.model_path(assets.FACE_DETECTOR, progress=False)
    assert "\n" not in str(info.value) and "OFFLINE" in str(info.value)


def test_corrupt_cached_mirror_file_is_not_used(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("VIDBOKEH_HOME", str(tmp_path))
    (tmp_path / assets.FACE_DETECTOR.mirror.filename).write_bytes(b"not a model")
    assert assets.cached_model(assets.FACE_DETECTOR) is None


# -- faces ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", PORTRAITS)
def test_one_face_at_the_right_place(detector, samples_dir, name) -> None:
    rgb = _rgb(samples_dir / "images" / name)
    h, w = rgb.shape[:2]
    faces = detector.detect(rgb)
    assert len(faces) == 1, faces
    face = faces[0]
    cx, cy = face.center
    # Official portraits and the MediaPipe test photo: one face, centred horizontally, in the
    # upper part of the frame, between a sixth and two thirds of the image width.
    assert abs(cx - w / 2) < 0.15 * w
    assert 0.1 * h < cy < 0.6 * h
    assert w / 6 < face.width < 2 * w / 3
    assert face.score > 0.5
    assert len(face.keypoints) == 6
    eyes_y = [face.keypoints[0][1], face.keypoints[1][1]]
    mouth_y = face.keypoints[3][1]
    assert max(eyes_y) < mouth_y  # upright
    assert all(face.x0 <= x <= face.x1 for x, _ in face.keypoints[:4])


def test_haar_fallback_agrees_with_mediapipe(detector, samples_dir) -> None:
    rgb = _rgb(samples_dir / "images" / "obama_official_portrait.jpg")
    mp_face = detector.detect(rgb)[0]
    with FaceDetector(FaceDetectorSettings(backend="haar")) as haar:
        assert haar.backend == "haar"
        faces = haar.detect(rgb)
    assert len(faces) >= 1
    best = max(faces, key=lambda f: _iou(f, mp_face))
    assert _iou(best, mp_face) > 0.4


def test_auto_falls_back_to_haar_loudly_explicit_fails(tmp_path, caplog) -> None:
    bad = tmp_path / "broken.tflite"
    bad.write_bytes(b"\0" * 64)
    with caplog.at_level(logging.WARNING), FaceDetector(model_path=bad) as det:
        assert det.backend == "haar"
    with pytest.raises(ModelError):
        FaceDetector(FaceDetectorSettings(backend="mediapipe"), model_path=bad)


def test_an_opencv_without_the_haar_cascade_is_a_clear_error(tmp_path, monkeypatch) -> None:
    """OpenCV 5 builds other than opencv-contrib-python lack cv2.CascadeClassifier: with MediaPipe's model
    broken too, the detector says both reasons in a ModelError (the CLI's one-line error), not an AttributeError."""
    bad = tmp_path / "broken.tflite"
    bad.write_bytes(b"\0" * 64)
    monkeypatch.delattr(cv2, "CascadeClassifier")
    with pytest.raises(ModelError, match=r"could not load .*broken\.tflite.*no Haar cascade.*opencv-contrib-python"):
        FaceDetector(model_path=bad)
    with pytest.raises(ModelError, match="Haar backend was asked for.*no Haar cascade"):
        FaceDetector(FaceDetectorSettings(backend="haar"))


def test_video_mode_and_lifecycle(model_files, samples_dir) -> None:
    rgb = _rgb(samples_dir / "images" / "mediapipe_sergey.png")
    det = FaceDetector(FaceDetectorSettings(backend="mediapipe", running_mode="video"))
    assert len(det.detect(rgb, 0)) == 1
    assert len(det.detect(rgb, 33)) == 1
    with pytest.raises(UsageError):
        det.detect(rgb, 33)  # not increasing
    with pytest.raises(UsageError):
        det.detect(rgb)  # no timestamp
    det.close()
    det.close()  # idempotent
    with pytest.raises(RuntimeError):
        det.detect(rgb, 66)


def test_main_face_prefers_large_and_central() -> None:
    shape = (1000, 1000)
    central = Face(450, 450, 550, 550, 0.9)
    corner_same = Face(0, 0, 100, 100, 0.99)
    corner_huge = Face(0, 0, 300, 300, 0.8)
    assert main_face([corner_same, central], shape) == central
    assert main_face([central, corner_huge], shape) == corner_huge
    assert main_face([], shape) is None


# -- segmentation --------------------------------------------------------------------------------

def test_square_tiles_cover_the_frame() -> None:
    assert square_tiles(480, 600, 0.25) == [(0, 0, 600, 480)]
    tiles = square_tiles(480, 854, 0.25)
    assert all(x1 - x0 == 480 and y1 - y0 == 480 for x0, y0, x1, y1 in tiles)
    assert tiles[0][0] == 0 and tiles[-1][2] == 854
    assert all(a[2] - b[0] >= 0.25 * 480 for a, b in zip(tiles, tiles[1:]))
    tall = square_tiles(900, 300, 0.25)
    assert tall[0][:2] == (0, 0) and tall[-1][3] == 900 and all(x1 == 300 for _, _, x1, _ in tall)
    panorama = square_tiles(33, 2000, 0.25, max_tiles=4)
    assert len(panorama) == 4 and panorama[0][0] == 0 and panorama[-1][2] == 2000
    assert all(a[2] - b[0] >= 0.25 * (a[2] - a[0]) - 1 for a, b in zip(panorama, panorama[1:]))


def test_segmentation_matches_hand_labels(segmenter, detector, labelled) -> None:
    ious = {}
    for name, rgb, gt in labelled:
        prob = segmenter.segment(rgb, faces=detector.detect(rgb))
        assert prob.shape == gt.shape and prob.dtype == np.float32
        assert 0.0 <= prob.min() and prob.max() <= 1.0
        person, label = prob >= 0.5, gt > 127
        ious[name] = (person & label).sum() / (person | label).sum()
    # Measured (tiles + crop pass): median 0.76; dance-twirl/parkour 0.73..0.90. The breakdance
    # frames score ~0.1 because the crowd around the dancer is people too (unlabelled here).
    assert np.median(list(ious.values())) >= 0.70, ious
    clear = [v for k, v in ious.items() if "breakdance" not in k]
    assert min(clear) >= 0.65, ious


def test_tall_full_length_portrait_keeps_the_legs(segmenter, samples_dir) -> None:
    """Tiles of a tall picture hold legs without a head; the person must stay whole."""
    rgb = _rgb(samples_dir / "images" / "biden_official_portrait.jpg")  # 451x1024, standing
    prob = segmenter.segment(rgb)
    h, w = prob.shape
    legs = prob[int(0.75 * h):int(0.95 * h), int(0.3 * w):int(0.6 * w)]
    assert float((legs >= 0.5).mean()) > 0.8
    assert float((prob[: int(0.1 * h), : int(0.1 * w)] >= 0.5).mean()) < 0.2  # wall, top left


def test_a_dancer_upside_down_in_a_row_of_people_keeps_his_legs(segmenter, labelled) -> None:
    """breakdance_00000: the dancer stands on his hands in front of a row of spectators, his legs in the air.
    The upright model sees the row as one region too wide for a crop and misses the legs (0.3% of them before
    rows were cropped in parts); the turned-over look at a person-sized part finds them."""
    name, rgb, gt = next(item for item in labelled if item[0].endswith("breakdance_00000"))
    prob = segmenter.segment(rgb)
    legs = gt[:150] > 127  # the labelled dancer above the spectators' heads: his legs
    assert legs.sum() > 2000
    assert float((prob[:150][legs] >= 0.5).mean()) >= 0.6
    sky = gt[:60] <= 127  # the building behind the legs stays background
    assert float((prob[:60][sky] >= 0.5).mean()) <= 0.1


def test_a_row_of_people_is_cropped_in_person_sized_parts(segmenter) -> None:
    prob = np.zeros((480, 854), np.float32)
    prob[100:440, 20:830] = 1.0  # one region 810 px wide, 340 tall: a row of people
    boxes = segmenter.person_boxes(prob)
    assert len(boxes) >= 2
    assert all(x1 - x0 <= 0.6 * 854 for x0, _, x1, _ in boxes)  # small enough to be looked at, not skipped
    covered = np.zeros(854, bool)
    for x0, _, x1, _ in boxes:
        covered[x0:x1] = True
    assert covered[20:830].all()


def test_only_people_not_seen_upright_get_the_turned_over_look(segmenter) -> None:
    """The turned-over look finds an upside-down person's legs but reads an upright person's surroundings as legs
    too: a crop whose person the pose model saw upright (or whose face was found) goes without it."""
    prob = np.zeros((480, 854), np.float32)
    prob[100:440, 20:830] = 1.0  # a row of people
    upright_box = (600.0, 120.0, 700.0, 440.0)  # one spectator seen upright on the right
    crops = segmenter._crops(prob, (), [upright_box])
    assert len(crops) >= 2
    for (x0, y0, x1, y1), tile_sized, seen in crops:
        assert tile_sized  # the parts are as large as a first-pass tile (480 px): only the turned look is new
        assert seen == (x0 <= 650 < x1 and y0 <= 280 < y1)
    assert any(not seen for _, _, seen in crops) and any(seen for _, _, seen in crops)
    lone = np.zeros((480, 854), np.float32)
    lone[200:400, 100:160] = 1.0  # one small person
    face = Face(400, 100, 430, 130, 0.9)
    flags = {box: seen for box, _, seen in segmenter._crops(lone, [face])}
    assert len(flags) == 2 and sum(flags.values()) == 1  # the face's crop is upright, the unexplained one is not


def test_tiles_beat_the_squashed_frame(model_files, labelled) -> None:
    with PersonSegmenter(SegmenterSettings(tile=False, refine=False)) as plain, PersonSegmenter() as full:
        gains = []
        for name, rgb, gt in labelled:
            if "breakdance" in name:
                continue
            label = gt > 127
            a = plain.segment(rgb) >= 0.5
            b = full.segment(rgb) >= 0.5
            gains.append((b & label).sum() / (b | label).sum() - (a & label).sum() / (a | label).sum())
    assert np.mean(gains) > 0.1, gains


# -- protection mask -----------------------------------------------------------------------------

def test_a_face_the_segmenter_missed_is_protected_as_the_face_itself() -> None:
    """No person map over the face: the face is kept sharp (its box's ellipse), and nothing around it."""
    rgb = np.full((200, 300, 3), 128, np.uint8)
    face = Face(120, 60, 180, 120, 0.9)
    mask = build_protection_mask(rgb, np.zeros((200, 300), np.float32), [face], MaskSettings(dilate_frac=0.0))
    assert mask.shape == (200, 300) and mask.dtype == np.float32
    ys, xs = np.mgrid[0:200, 0:300]
    inner = ((xs + 0.5 - 150) / 27) ** 2 + ((ys + 0.5 - 90) / 27) ** 2 <= 1.0
    assert mask[inner].min() == pytest.approx(1.0)  # the whole face
    ring = (((xs + 0.5 - 150) / 36) ** 2 + ((ys + 0.5 - 90) / 40) ** 2 > 1.0)
    assert mask[ring].max() < 0.05  # no band of background around it
    no_faces = build_protection_mask(rgb, None, [face], MaskSettings(protect_faces=False))
    assert no_faces.max() == 0.0


def test_a_face_is_protected_as_the_head_the_person_map_outlines() -> None:
    """Issue 12: the head as the segmenter outlines it (hair above the face box included), never the
    background beside it that a head ellipse wider than the head would hold."""
    rgb = np.full((200, 300, 3), 128, np.uint8)
    face = Face(130, 60, 170, 110, 0.9)
    ys, xs = np.mgrid[0:200, 0:300]
    head = ((xs - 150) / 21.0) ** 2 + ((ys - 78) / 33.0) ** 2 <= 1.0  # narrower than the old ellipse, hair above
    prob = np.where(head, 0.9, 0.02).astype(np.float32)
    settings = MaskSettings(dilate_frac=0.0, guided=False)
    mask = build_protection_mask(rgb, prob, [face], settings)
    assert mask[50, 150] == pytest.approx(1.0)  # hair, above the face box
    assert mask[head].mean() > 0.97
    old = face_ellipses((200, 300), [face], settings) > 0.5
    beside = old & ~(((xs - 150) / 24.0) ** 2 + ((ys - 78) / 36.0) ** 2 <= 1.0)
    assert beside.sum() > 300 and mask[beside].max() < 0.05


def test_mask_edges_follow_the_picture() -> None:
    """A blurry person probability whose edge is 6 px off moves onto the picture's real edge."""
    rgb = np.zeros((120, 160, 3), np.uint8)
    rgb[:, 80:] = 220
    rng = np.random.default_rng(0)
    rgb = np.clip(rgb + rng.normal(0, 3, rgb.shape), 0, 255).astype(np.uint8)
    step = (np.arange(160) >= 86).astype(np.float32)[None].repeat(120, 0)
    blurry = cv2.GaussianBlur(step, (0, 0), 4)
    common = dict(dilate_frac=0.0, fill_holes_frac=0.0, person_low=0.3, person_high=0.7)
    refined = build_protection_mask(rgb, blurry, [], MaskSettings(guided_radius_frac=0.05, **common))
    plain = build_protection_mask(rgb, blurry, [], MaskSettings(guided=False, **common))

    def crossing(m: np.ndarray) -> int:
        return int(np.argmax(m[60] >= 0.5))

    assert crossing(plain) == 86
    assert abs(crossing(refined) - 80) < abs(crossing(plain) - 80)
    assert refined[60, 60] < 0.05 and refined[60, 100] > 0.95


def test_holes_inside_the_subject_are_filled() -> None:
    prob = np.zeros((100, 100), np.float32)
    prob[20:80, 20:80] = 1.0
    prob[30:34, 30:34] = 0.0  # 16 px: below 0.2% of the image, a segmenter slip
    prob[50:70, 50:70] = 0.0  # 400 px: a real gap (e.g. between arm and body)
    mask = build_protection_mask(
        np.zeros((100, 100, 3), np.uint8), prob, [], MaskSettings(guided=False, dilate_frac=0.0)
    )
    assert mask[32, 32] == pytest.approx(1.0)
    assert mask[60, 60] == 0.0
    assert mask[5, 5] == 0.0


def test_face_ellipses_soft_rim() -> None:
    m = face_ellipses((100, 100), [Face(40, 40, 60, 60, 1.0)], MaskSettings())
    assert m[50, 50] == 1.0 and m[0, 0] == 0.0
    assert ((m > 0) & (m < 1)).any()


def test_protection_mask_quality_on_labelled_portraits(segmenter, detector, labelled) -> None:
    """The four issue-2 figures with our masks and a plain Gaussian composite (blur 1% of diag).

    Measured: median fg_psnr 53 dB, bg_energy 0.016, sharp_iou 0.65, leak 0.000 (perfect labels
    with the same composite: sharp_iou 0.99 on six frames, 0.62-0.65 on two parkour frames). The
    crowd behind the breakdancer is protected as people, which costs those three frames.
    """
    rows = []
    for _, rgb, gt in labelled:
        faces = detector.detect(rgb)
        protect = build_protection_mask(rgb, segmenter.segment(rgb, faces=faces), faces)
        assert protect.shape == gt.shape and 0.0 <= protect.min() and protect.max() <= 1.0
        sigma = 0.01 * math.hypot(*rgb.shape[:2])
        a = protect[..., None]
        out = np.clip(a * rgb + (1 - a) * cv2.GaussianBlur(rgb, (0, 0), sigma) + 0.5, 0, 255).astype(np.uint8)
        q = evaluate(rgb, out, gt)
        rows.append((q.fg_psnr, q.bg_energy, q.sharp_iou, q.leak))
    fg_psnr, bg_energy, sharp_iou, leak = np.median(np.array(rows), axis=0)
    assert fg_psnr >= 40
    assert bg_energy <= 0.05
    assert sharp_iou >= 0.58
    assert leak <= 0.02


def test_selfie_render_on_labelled_portraits(segmenter, detector, labelled) -> None:
    """The issue-2 figures for the selfie path (our mask, the product renderer and preset), and
    the same render with the hand labels as the mask, so the mask is judged apart from the blur.

    Measured (9 DAVIS frames, default preset, uniform renderer as in the engine's selfie path):
    median fg_psnr 56 dB, bg_energy 0.011, sharp_iou 0.74-0.87 (it moves with the renderer:
    the labels themselves score 0.90-0.99), leak 0.000. On the six frames without a crowd (the
    breakdancer's spectators are people but not labelled) our sharp_iou trails the labels' by
    0.042 on average; that gap is what this test guards.
    """
    from vidbokeh.stages.bokeh import render_uniform
    from vidbokeh.stages.presets import get_preset

    preset = get_preset()
    ours, gaps = [], []
    for name, rgb, gt in labelled:
        faces = detector.detect(rgb)
        protect = build_protection_mask(rgb, segmenter.segment(rgb, faces=faces), faces)
        radius = preset.focus.max_blur * math.hypot(*rgb.shape[:2])
        q = evaluate(rgb, render_uniform(rgb, radius, protect, preset.bokeh), gt)
        ours.append((q.fg_psnr, q.bg_energy, q.sharp_iou, q.leak))
        if "breakdance" not in name:
            labels = (gt > 127).astype(np.float32)
            ref = evaluate(rgb, render_uniform(rgb, radius, labels, preset.bokeh), gt)
            gaps.append(ref.sharp_iou - q.sharp_iou)
    fg_psnr, bg_energy, sharp_iou, leak = np.median(np.array(ours), axis=0)
    assert fg_psnr >= 40, ours
    assert bg_energy <= 0.05, ours
    assert leak <= 0.02, ours
    assert sharp_iou >= 0.6, ours  # sanity only: the absolute figure is the renderer's too
    assert np.mean(gaps) <= 0.08, gaps


def _iou(a: Face, b: Face) -> float:
    ix = max(0.0, min(a.x1, b.x1) - max(a.x0, b.x0))
    iy = max(0.0, min(a.y1, b.y1) - max(a.y0, b.y0))
    inter = ix * iy
    return inter / (a.area + b.area - inter)


def test_inputs_of_other_depths_and_alpha(detector, segmenter, samples_dir) -> None:
    rgb = _rgb(samples_dir / "images" / "mediapipe_sergey.png")
    base_faces = detector.detect(rgb)
    base = segmenter.segment(rgb)
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    as16 = rgb.astype(np.uint16) * 257
    asfloat = rgb.astype(np.float32) / 255.0
    for variant in (rgba, as16, asfloat):
        faces = detector.detect(variant)
        assert len(faces) == len(base_faces) == 1
        assert _iou(faces[0], base_faces[0]) > 0.95
        np.testing.assert_allclose(segmenter.segment(variant), base, atol=1e-3)
    with pytest.raises(InputError):
        detector.detect(rgb[..., 0])
    with pytest.raises(InputError):
        segmenter.segment(rgb.astype(np.int64))
