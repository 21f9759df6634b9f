"""Issue 12, video: who the video is about, told by motion (stages/subject_motion.py).

Synthetic scenes where the answer is known by construction: a textured background seen through a camera that
pans or keeps still, people as textured figures with their own person map, moving in the scene or keeping
still. The real optical flow, camera fit and zone logic run on them; nothing of the thing under test is stubbed.
"""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from vidbokeh.errors import UsageError
from vidbokeh.stages.people import Person
from vidbokeh.stages.subject_motion import MotionSettings, SubjectMotion

W, H = 320, 180
RNG = np.random.default_rng(12)


def _texture(h: int, w: int, seed: int) -> np.ndarray:
    noise = np.random.default_rng(seed).uniform(0, 255, (h // 4 + 1, w // 4 + 1, 3)).astype(np.float32)
    return cv2.resize(noise, (w, h), interpolation=cv2.INTER_CUBIC).clip(0, 255).astype(np.uint8)


BACKGROUND = _texture(H + 40, 3 * W, 1)


class Figure:
    """A person: an upright textured ellipse (``w`` x ``h`` px) at scene position ``x(t)``, ``y``."""

    def __init__(self, x0: float, y: float, speed: float, w: int = 36, h: int = 110, seed: int = 2) -> None:
        self.x0, self.y, self.speed, self.w, self.h = x0, y, speed, w, h
        self.texture = _texture(h, w, seed)
        self.shape = np.zeros((h, w), np.uint8)
        cv2.ellipse(self.shape, (w // 2, h // 2), (w // 2 - 1, h // 2 - 1), 0, 0, 360, 1, -1)

    def x(self, t: int) -> float:
        return self.x0 + self.speed * t


def scene(t: int, figures: list[Figure], pan: float) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """(RGB frame at time ``t``, its person map, each figure's own mask) through a camera panned ``pan`` px a frame."""
    cam = int(round(pan * t))
    frame = BACKGROUND[20:20 + H, cam:cam + W].copy()
    prob = np.zeros((H, W), np.float32)
    masks = []
    for fig in figures:
        x, y = int(round(fig.x(t))) - cam, int(round(fig.y))
        mask = np.zeros((H, W), np.uint8)
        x0, x1 = max(0, x), min(W, x + fig.w)
        if x1 > x0:
            inside = fig.shape[:, x0 - x:x1 - x] > 0
            frame[y:y + fig.h, x0:x1][inside] = fig.texture[:, x0 - x:x1 - x][inside]
            mask[y:y + fig.h, x0:x1] = fig.shape[:, x0 - x:x1 - x]
        masks.append(mask > 0)
        prob = np.maximum(prob, mask.astype(np.float32))
    return frame, prob, masks


def run(figures: list[Figure], pan: float, frames: int = 30, motion: SubjectMotion | None = None):
    """Feed a scene to a SubjectMotion; per frame (weight or None, the figures' masks)."""
    motion = motion or SubjectMotion()
    out = []
    for t in range(frames):
        rgb, prob, masks = scene(t, figures, pan)
        motion.update(rgb)
        out.append((motion.weight(prob), masks))
    return out


def mean_in(weight: np.ndarray | None, mask: np.ndarray) -> float:
    return 1.0 if weight is None else float(weight[mask].mean())


def _crowd(xs: tuple[float, ...]) -> list[Figure]:
    return [Figure(x, 50, 0.0, seed=10 + i) for i, x in enumerate(xs)]


@pytest.mark.parametrize("pan", [0.0, 3.0])
def test_a_still_crowd_behind_a_mover_is_blurred_and_the_mover_kept(pan: float) -> None:
    """A camera still or panning to follow the mover: he stays sharp, the bystanders who keep still fade out."""
    mover = Figure(40, 40, 4.0 + pan)  # keeps up with (and moves against) the panning camera
    # a panning camera brings the later ones in at the frame's edge
    crowd = _crowd((300, 360, 420) if pan else (240, 285))
    frames = run([mover, *crowd], pan, frames=30)
    late = frames[20:]
    for weight, masks in late:
        assert weight is not None
        assert mean_in(weight, masks[0]) > 0.95
        for mask in masks[1:]:
            if mask.any():
                assert mean_in(weight, mask) < 0.15


def test_bystanders_fade_out_and_never_pop() -> None:
    mover = Figure(60, 40, 4.0)
    crowd = _crowd((200, 250))
    frames = run([mover, *crowd], 0.0, frames=24)
    fade = MotionSettings().fade_frames
    levels = [mean_in(w, masks[1]) for w, masks in frames]
    steps = np.abs(np.diff(levels))
    assert steps.max() <= 1.0 / fade + 0.02, levels
    assert levels[0] == 1.0 and levels[-1] < 0.15  # sharp at first, blurred once the choice is clear


def test_nobody_moves_everyone_stays_a_subject() -> None:
    """A group posing: no motion, no choice; a panning camera alone makes nobody a mover."""
    group = _crowd((40, 110, 180, 250))
    for pan in (0.0, 2.0):
        assert all(w is None for w, _ in run(group, pan, frames=20))


@pytest.mark.parametrize("pan", [0.0, 3.0])
def test_a_lone_mover_is_left_as_it_is(pan: float) -> None:
    """Nobody beside the mover (the juggler; a runner the camera follows): the protection mask is left untouched."""
    assert all(w is None for w, _ in run([Figure(60, 40, 4.0 + pan)], pan, frames=20))


def test_people_who_all_move_stay_subjects() -> None:
    """Two people moving alike (talking, walking together): no clear main subject."""
    pair = [Figure(60, 40, 3.0, seed=3), Figure(150, 40, 3.0, seed=4)]
    assert all(w is None for w, _ in run(pair, 0.0, frames=20))


def test_a_mover_who_stops_is_not_dropped_at_once() -> None:
    """The zone follows the mover along the flow and fades only over ``fade_frames``: a pause is no pop."""
    motion = SubjectMotion()
    mover = Figure(60, 40, 4.0)
    crowd = _crowd((220, 270))
    run([mover, *crowd], 0.0, frames=20, motion=motion)
    stopped = Figure(mover.x(19), 40, 0.0, seed=2)
    levels = [mean_in(w, masks[0]) for w, masks in run([stopped, *crowd], 0.0, frames=4, motion=motion)]
    assert min(levels) > 0.5, levels


def test_a_person_in_the_movers_zone_becomes_a_subject() -> None:
    motion = SubjectMotion()
    mover = Figure(60, 40, 4.0)
    crowd = _crowd((220, 270))
    run([mover, *crowd], 0.0, frames=20, motion=motion)
    motion.update(scene(20, [mover, *crowd], 0.0)[0])

    def person(fig: Figure) -> Person:
        x = fig.x(20)
        box = (x, fig.y, x + fig.w, fig.y + fig.h)
        marks = np.asarray([[x + fig.w * fx, fig.y + fig.h * fy, 1.0] for fx in (0.3, 0.7) for fy in (0.2, 0.5, 0.8)],
                           np.float32)
        return Person(box=box, unit=fig.w / 2, source="pose", landmarks=marks)

    people = [person(mover), person(crowd[0])]
    assert motion.choose(people, [False, True], (H, W)) == [True, True]  # adds the mover, drops no one
    assert SubjectMotion().choose(people, [False, True], (H, W)) == [False, True]  # no motion seen yet


def test_a_movers_part_the_person_map_misses_is_kept() -> None:
    """A dancer's legs in the air that the segmenter does not see: where the clear mover moves outside the person
    map, joined to his moving body, his missing part comes back; the still crowd and the background stay out."""
    motion = SubjectMotion()
    mover = Figure(40, 40, 4.0)
    crowd = _crowd((240, 285))
    missed = None
    for t in range(24):
        rgb, prob, masks = scene(t, [mover, *crowd], 0.0)
        legs = masks[0] & (np.arange(H)[:, None] < mover.y + 0.35 * mover.h)  # the top third, unseen by the map
        prob[legs] = 0.0
        motion.update(rgb)
        motion.weight(prob)
        missed = motion.missed_parts((H, W))
    assert missed is not None
    assert float(missed[legs].mean()) > 0.6
    for mask in masks[1:]:
        assert float(missed[mask].max()) < 0.05
    far = np.ones((H, W), bool)
    far[:, max(0, int(mover.x(23)) - 30):int(mover.x(23)) + mover.w + 30] = False
    assert float(missed[far].max()) < 0.05


def test_nothing_is_added_without_a_clear_mover() -> None:
    """A lone mover (no one to tell him from) gets nothing added: the person map is left as the segmenter made it."""
    motion = SubjectMotion()
    mover = Figure(40, 40, 4.0)
    for t in range(16):
        rgb, prob, masks = scene(t, [mover], 0.0)
        prob[:H // 2] = 0.0
        motion.update(rgb)
        motion.weight(prob)
        assert motion.missed_parts((H, W)) is None


def test_settings_validate_themselves() -> None:
    with pytest.raises(UsageError):
        MotionSettings(flow_side=8)
    with pytest.raises(UsageError):
        MotionSettings(fade_frames=0)
    with pytest.raises(UsageError):
        MotionSettings(contrast=2.0)
    with pytest.raises(UsageError):
        MotionSettings(body_area=-1.0)
    with pytest.raises(UsageError):
        MotionSettings(match=300)
