"""Issue 12, video: the subject of a video is whoever the frame is about (stages/subject_motion.py in a session).

Real clips from ../shared/samples/videos through VideoSession with default settings (selfie: no depth weights),
against the same session with ``VideoProfile(subject_motion=False)`` (everyone a subject, as in a photo).
The breakdance clip has a labelled mask per frame: the dancer; a crowd stands right behind him.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from vidbokeh.engine import EffectSettings, load_models
from vidbokeh.engine.settings import VideoProfile
from vidbokeh.engine.video import VideoSession


def _frames(path: Path, limit: int | None = None) -> list[np.ndarray]:
    import av

    with av.open(str(path)) as container:
        frames = []
        for frame in container.decode(video=0):
            frames.append(frame.to_ndarray(format="rgb24"))
            if limit is not None and len(frames) == limit:
                break
    return frames


def _protect(frames: list[np.ndarray], motion: bool) -> list[np.ndarray]:
    settings = EffectSettings(approach="selfie", video_profile=VideoProfile(subject_motion=motion))
    with load_models(settings, "video", progress=False) as models, VideoSession(models) as session:
        return [session.process(rgb, i / 24.0).protect for i, rgb in enumerate(frames)]


@pytest.fixture(scope="module")
def breakdance(samples_dir: Path):
    videos = samples_dir / "videos"
    frames = _frames(videos / "davis2016_breakdance.mp4")
    labels = [cv2.imread(str(videos / "davis2016_breakdance_masks" / f"{i:05d}.png"), cv2.IMREAD_GRAYSCALE) > 127
              for i in range(len(frames))]
    return frames, labels, _protect(frames, motion=True), _protect(frames, motion=False)


@pytest.mark.slow
def test_the_dancer_stays_sharp_and_the_crowd_far_from_him_is_blurred(breakdance) -> None:
    frames, labels, chosen, everyone = breakdance
    h, w = frames[0].shape[:2]
    kept, far_chosen, far_everyone = [], [], []
    for label, with_motion, without in list(zip(labels, chosen, everyone))[40:]:  # once the choice is made
        kept.append(float(with_motion[label].mean()))
        xs = np.flatnonzero(label.any(axis=0))
        far = np.zeros((h, w), bool)  # the spectators a fifth of the frame or more beside the dancer
        far[int(0.15 * h):int(0.85 * h), :max(0, xs.min() - w // 5)] = True
        far[int(0.15 * h):int(0.85 * h), min(w, xs.max() + w // 5):] = True
        crowd = far & (without > 0.5)  # what everyone-a-subject keeps sharp there: the crowd
        if crowd.sum() > 0.02 * h * w:
            far_everyone.append(float(without[crowd].mean()))
            far_chosen.append(float(with_motion[crowd].mean()))
    assert np.median(kept) > 0.9, kept  # the dancer himself: as sharp as without the choice
    assert len(far_chosen) > 20
    assert np.median(far_everyone) > 0.9  # without the choice the crowd is sharp ...
    assert np.median(far_chosen) < 0.1, far_chosen  # ... with it, blurred
    assert max(far_chosen[5:]) < 0.3


@pytest.mark.slow
def test_the_choice_fades_in_without_a_pop(breakdance) -> None:
    """The crowd goes from sharp to blurred over frames, never at once."""
    frames, labels, chosen, _ = breakdance
    h, w = frames[0].shape[:2]
    band = np.zeros((h, w), bool)
    band[int(0.2 * h):int(0.7 * h), int(0.85 * w):] = True  # the crowd at the right edge
    levels = [float(p[band].mean()) for p in chosen[:20]]
    assert levels[0] > 0.5 and levels[-1] < 0.2, levels
    assert max(abs(a - b) for a, b in zip(levels, levels[1:])) < 0.3, levels


@pytest.mark.slow
def test_the_juggler_alone_is_left_as_he_is(samples_dir: Path) -> None:
    """Nobody beside the juggler: the motion cue changes nothing (720p, the first 3 s)."""
    frames = _frames(samples_dir / "videos" / "sam2_juggle.mp4", limit=72)
    chosen, everyone = _protect(frames, motion=True), _protect(frames, motion=False)
    for a, b in zip(chosen, everyone):
        assert np.array_equal(a, b)
    assert np.mean([p.max() for p in chosen]) > 0.99  # and he is kept sharp at all


@pytest.mark.parametrize("command", ["file", "webcam", "batch"])
def test_keep_everyone_switches_the_choice_off(command: str) -> None:
    from vidbokeh.cli_parser import build_parser, settle_device
    from vidbokeh.commands import effect_settings

    def settings(argv: list[str]):
        args = build_parser().parse_args(argv)
        settle_device(args)
        return effect_settings(args, video=True)

    base = {"file": ["file", "in.mp4", "out.mp4"], "webcam": ["webcam"], "batch": ["batch", "in.mp4", "--out", "o"]}[command]
    assert settings(base).video_profile.subject_motion
    assert not settings([*base, "--keep-everyone"]).video_profile.subject_motion
