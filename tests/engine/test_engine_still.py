"""engine/still.py: a still is analysed once (depth, faces, people, masks) and rendered as often as the settings
change; render_still is the two in one; very large pictures are worked on reduced and composited back."""
from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import pytest

from vidbokeh.engine import (EffectSettings, LiveControls, VideoSession, analyse_still, load_models, render_analysis,
                             render_still)
from vidbokeh.errors import InputError, UsageError


@pytest.fixture(scope="module")
def photo(samples_dir) -> np.ndarray:
    bgr = cv2.imread(str(samples_dir / "images" / "obama_official_portrait.jpg"), cv2.IMREAD_COLOR)
    bgr = cv2.resize(bgr, (360, round(bgr.shape[0] * 360 / bgr.shape[1])), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(bgr[:, :, ::-1])


@pytest.fixture(scope="module")
def hybrid(synthetic_weights):
    settings = EffectSettings(approach="hybrid", weights=synthetic_weights("dav2_vits"), device="cpu", depth_size=182)
    with load_models(settings, "image", progress=False) as models:
        yield models, settings


def test_one_analysis_serves_every_strategy(hybrid, photo: np.ndarray) -> None:
    models, settings = hybrid
    analysis = analyse_still(models, photo, settings)  # made for the default strategy (portrait)
    for strategy in ("portrait", "face_aware", "conservative", "adaptive"):
        wanted = replace(settings, strategy=strategy, aperture_blades=6)
        again = render_analysis(analysis, wanted)
        direct = render_still(models, photo, wanted)
        assert np.array_equal(again.output, direct.output), strategy
        assert np.array_equal(again.protect, direct.protect), strategy
        assert again.focus == direct.focus
    assert set(render_analysis(analysis, settings).timings) == {"focus", "render"}  # no model ran again


def test_rendering_an_analysis_runs_no_model(hybrid, photo: np.ndarray, monkeypatch) -> None:
    models, settings = hybrid
    analysis = analyse_still(models, photo, settings)
    for part in (models.depth, models.faces, models.segmenter, models.people):
        monkeypatch.setattr(part, "__class__", type("Gone", (), {}))  # any model call would now fail
    near = render_analysis(analysis, replace(settings, focus=0.9))
    far = render_analysis(analysis, replace(settings, focus=0.1))
    assert near.focus == pytest.approx(0.9) and far.focus == pytest.approx(0.1)
    assert not np.array_equal(near.coc, far.coc)
    tapped = render_analysis(analysis, replace(settings, focus_point=(0.5, 0.3)))
    assert 0.0 <= tapped.focus <= 1.0


def test_live_controls_scale_the_blur_of_a_still(hybrid, photo: np.ndarray) -> None:
    models, settings = hybrid
    analysis = analyse_still(models, photo, settings)
    plain = render_analysis(analysis, settings)
    double = render_analysis(analysis, settings, LiveControls(blur_scale=2.0))
    assert double.coc.max() == pytest.approx(2 * plain.coc.max(), rel=1e-4)


def test_a_very_large_picture_is_worked_on_reduced_and_composited_back(photo: np.ndarray, monkeypatch) -> None:
    from vidbokeh.engine import large_pictures

    monkeypatch.setattr(large_pictures, "MAX_WORK_PIXELS", 60_000)  # the portrait counts as very large
    h, w = photo.shape[:2]
    settings = EffectSettings(approach="selfie")  # (a focus point needs depth: refused with selfie)
    with load_models(settings, "image", progress=False) as models:
        analysis = analyse_still(models, photo, settings)
        result = render_still(models, photo, settings)
    assert analysis.work.shape[0] * analysis.work.shape[1] <= 1.01 * 60_000 < h * w  # (rounded)
    assert result.output.shape == photo.shape and result.protect.shape == (h, w) and result.coc.shape == (h, w)
    kept = result.protect >= 1.0
    assert kept.mean() > 0.1
    assert np.array_equal(result.output[kept], photo[kept])  # the subject keeps its own full-size pixels
    face = result.faces[0]
    assert face.x1 > analysis.work.shape[1]  # boxes in the full picture's pixels


def test_models_are_used_in_their_own_mode(photo: np.ndarray) -> None:
    settings = EffectSettings(approach="selfie")
    with load_models(settings, "image", progress=False) as models:
        with pytest.raises(UsageError):
            VideoSession(models)
        with pytest.raises(UsageError):
            render_still(models, photo, EffectSettings(approach="midas"))  # loaded for selfie
        assert render_still(models, photo, EffectSettings()).output.shape == photo.shape  # auto: these models'
    models.close()  # closing twice is harmless
    with load_models(settings, "video", progress=False) as models:
        with pytest.raises(UsageError):
            analyse_still(models, photo, settings)


def test_a_preview_is_made_once_per_size_and_never_larger_than_asked(hybrid, photo: np.ndarray) -> None:
    from vidbokeh.engine.still import preview_analysis

    models, settings = hybrid
    analysis = analyse_still(models, photo, settings)
    h, w = photo.shape[:2]
    small = preview_analysis(analysis, h * w // 4)
    assert small is preview_analysis(analysis, h * w // 4)  # kept with the analysis
    assert preview_analysis(analysis, h * w) is analysis  # already that small
    sh, sw = small.work.shape[:2]
    assert sh * sw <= h * w // 4 and small.depth.shape == small.protect.shape == (sh, sw)
    assert all(f.x1 <= sw + 1 and f.y1 <= sh + 1 for f in small.subject_faces)
    result = render_analysis(analysis, settings, max_pixels=h * w // 4)
    assert result.output.shape == (sh, sw, 3)
    with pytest.raises(UsageError, match="max_pixels"):
        preview_analysis(analysis, 0)


def test_the_segmenter_shares_a_picture_with_the_side_thread_and_changes_nothing(hybrid, photo: np.ndarray,
                                                                                 monkeypatch) -> None:
    """The segmenter's first pass needs no one found yet, so image mode makes it on the models' side thread while
    the pose model looks for people, and the crops' model runs after it are shared with the segmenter's twin there;
    both face detectors run there too (their faces are wanted once the pose model has run):
    the same picture comes out as when everything runs one after the other on the caller's thread."""
    import threading

    from vidbokeh.stages.faces import FaceDetector

    models, settings = hybrid
    assert models.side is not None and models.side_segmenter is not None
    small = cv2.resize(photo, (150, round(photo.shape[0] * 150 / photo.shape[1])), interpolation=cv2.INTER_AREA)
    group = np.full((small.shape[0] + 40, 640, 3), 128, np.uint8)  # two people, each small: a crop each
    for x in (60, 420):
        group[20:20 + small.shape[0], x:x + small.shape[1]] = small
    threads: dict[str, list] = {"first": [], "here": [], "twin": [], "faces": []}

    def recorded(name, real):
        def call(*args, **kwargs):
            threads[name].append(threading.current_thread())
            return real(*args, **kwargs)
        return call

    monkeypatch.setattr(models.segmenter, "first_pass", recorded("first", models.segmenter.first_pass))
    monkeypatch.setattr(models.segmenter, "run", recorded("here", models.segmenter.run))
    monkeypatch.setattr(models.side_segmenter, "run", recorded("twin", models.side_segmenter.run))
    detect = FaceDetector.detect
    monkeypatch.setattr(FaceDetector, "detect", lambda self, *a, **k: recorded("faces", detect)(self, *a, **k))
    beside = analyse_still(models, group, settings)
    me = threading.current_thread()
    assert len(threads["faces"]) == 2 and all(t is not me for t in threads["faces"])  # short and full range
    assert len(threads["first"]) == 1 and threads["first"][0] is not me
    assert threads["here"] and all(t is me for t in threads["here"])
    assert threads["twin"] and all(t is not me for t in threads["twin"])
    twin_runs = len(threads["twin"])
    monkeypatch.setattr(models, "side", None)
    after = analyse_still(models, group, settings)
    assert len(threads["first"]) == 1 and len(threads["twin"]) == twin_runs  # all of it on the caller's thread
    assert len(threads["faces"]) == 4 and all(t is me for t in threads["faces"][2:])
    assert beside.detected_faces == after.detected_faces
    assert beside.subject_faces and [f.center for f in beside.subject_faces] == [f.center for f in after.subject_faces]
    assert np.array_equal(beside.person, after.person)
    assert np.array_equal(beside.protect, after.protect)
    with pytest.raises(InputError, match="first pass"):
        models.segmenter.segment(photo, coarse=np.zeros((8, 8), np.float32))
