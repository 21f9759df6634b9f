"""Who the subjects are, and the person map restricted to them.

The main subject is the most prominent person (largest head unit, favouring the centre). The subjects are
the people at its distance: with depth, those whose depth is within a tolerance of the main subject's (or
nearer); without depth, those whose scale (head unit) is comparable to the main subject's. A crowd far
behind is smaller (or farther) and stays out.

The person map (what ``masks.build_protection_mask`` turns into sharpness) is then: the segmenter's
probability less the regions of the people who are not subjects (the connected regions of the map holding
their landmarks or face, and their own pose masks; a subject's body zone always wins); each subject's own pose
mask; and the drawn body of a subject that no map covered, or of each limb of a subject that no map covered
(an arm lost against a busy background, legs in socks), drawn only where the pose model is sure it saw it.
What the segmenter sees and no detector explains (a person seen from behind, a backlit silhouette) stays when
it is large enough to be a person at the subjects' scale: blurring a person is worse than keeping something
sharp. A full-body subject's region that runs on past its own pose mask and its body is cut there into pieces
judged the same way (a magazine on the table beside her, the back of a chair: kept only when tall enough for a
person; on made group scenes median bg_energy 0.042 -> 0.022, sharp_iou 0.624 -> 0.633, leak 0.036 -> 0.038), in
stills (``SubjectSettings.cut_pieces``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np

from vidbokeh.errors import UsageError
from vidbokeh.stages.bodies import body_zone, draw_body, draw_face_body, limb_parts
from vidbokeh.stages.people import Person

BODY_HEADS = 7.5  # a standing person is about this many head units tall


@dataclass(frozen=True)
class SubjectSettings:
    # without depth: a subject's head unit is at least this x the main subject's (lenient: a person blurred away
    # is worse than a far one kept sharp; a crowd far behind is at a third of the scale or less)
    scale_ratio: float = 0.45
    depth_tolerance: float = 0.12  # with depth: within this share of the frame's depth range of the main subject
    zone_heads: float = 1.0  # a subject's body zone: this many head units around its body
    missed_below: float = 0.35  # a subject whose drawn body the maps cover less than this gets the drawn body
    blob_threshold: float = 0.3  # a person's region of the segmenter's map: connected pixels above this
    lone_min_heads: float = 1.5  # a region no one explains is kept when at least this many subject heads tall
    # a full-body subject (its own pose mask, both hips seen) ends near its body: the parts of its region of the map
    # beyond that mask and its body drawn this many head units wider are judged as lone regions are
    body_heads: float = 0.3
    body_visible: float = 0.1  # ... its body drawn from every landmark the pose model gives at least this surely
                               # (limbs it only guesses too: a limb lost to both maps is not cut off)
    # whether to cut those pieces at all: video does not, its landmarks are up to ``people_every`` frames old and a
    # limb that moved since would be cut off (its pose masks follow the flow, which falls short of fast limbs)
    cut_pieces: bool = True
    region_side: int = 320  # regions of the person map are told apart on a copy no longer than this (speed)
    visible: float = 0.5
    # a subject's limb the maps cover less than ``missed_below`` of is drawn, when both its ends were seen at least
    # this surely (the pose model also guesses limbs it cannot see, at lower visibility)
    limb_visible: float = 0.8

    def __post_init__(self) -> None:
        if not 0.0 < self.scale_ratio <= 1.0 or not 0.0 < self.depth_tolerance <= 1.0:
            raise UsageError("scale_ratio and depth_tolerance must be in (0, 1]")
        if self.zone_heads < 0 or self.lone_min_heads < 0 or self.body_heads < 0 \
                or not 0.0 <= self.missed_below <= 1.0 or self.region_side < 16:
            raise UsageError("zone_heads, lone_min_heads and body_heads must be >= 0, missed_below in [0, 1], "
                             "region_side >= 16")
        if not (0.0 <= self.visible <= 1.0 and 0.0 <= self.limb_visible <= 1.0 and 0.0 <= self.body_visible <= 1.0):
            raise UsageError("visible, limb_visible and body_visible must be in [0, 1]")


def prominence(person: Person, shape: tuple[int, ...]) -> float:
    """Scale x centrality: a person at a corner must be twice as large to win over a central one."""
    h, w = shape[:2]
    cx, cy = person.center
    dist = math.hypot(cx - 0.5 * w, cy - 0.5 * h) / (0.5 * math.hypot(w, h))
    return person.unit * (1.0 - 0.5 * min(1.0, dist))


def choose_subjects(people: Sequence[Person], shape: tuple[int, ...], depth=None,
                    settings: SubjectSettings = SubjectSettings(), ops=None) -> list[bool]:
    """For each person, whether it is a subject (see the module docstring). ``depth``: a map of any size, a host
    array or the array operations ``ops``' own (render/ops.py; a device map is read there, a few values come back)."""
    if not people:
        return []
    if len(people) == 1:
        return [True]  # the only person is the main subject (no depth percentiles: ~9 ms of CPU a 720p frame)
    main = max(range(len(people)), key=lambda i: prominence(people[i], shape))
    if ops is None:
        from vidbokeh.render.ops_opencv import OPENCV as ops
    spread = None if depth is None or 0 in depth.shape else ops.percentiles(depth, (5, 95))
    if spread is not None:
        near = [_person_depth(p, depth, shape, settings.visible, ops) for p in people]
        lo, hi = spread
        span = max(float(hi - lo), 1e-6)
        # larger depth values are nearer: anyone nearer than the main subject, or about as near, is a subject
        return [i == main or (near[i] - near[main]) / span >= -settings.depth_tolerance for i in range(len(people))]
    ref = people[main].unit
    return [i == main or p.unit >= settings.scale_ratio * ref for i, p in enumerate(people)]


def _person_depth(person: Person, depth, shape: tuple[int, ...], visible: float, ops) -> float:
    """Median depth at the person's visible landmarks (or face), read from a map of any size."""
    h, w = shape[:2]
    dh, dw = depth.shape[:2]
    pts = person.visible_points(visible)
    xs = np.clip((pts[:, 0] * dw / w).astype(int), 0, dw - 1)
    ys = np.clip((pts[:, 1] * dh / h).astype(int), 0, dh - 1)
    return float(np.median(ops.take(depth, ys * dw + xs)))


def subject_person_map(shape: tuple[int, int], person_prob: np.ndarray | None, people: Sequence[Person],
                       is_subject: Sequence[bool], settings: SubjectSettings = SubjectSettings()) -> np.ndarray | None:
    """The person probability (HxW float32) without the people who are not subjects, with the subjects' own
    pose masks and the drawn bodies of subjects no map covers (see the module docstring). ``person_prob`` as
    it is when there is no one to go by."""
    h, w = shape
    subjects = [p for p, s in zip(people, is_subject) if s]
    others = [p for p, s in zip(people, is_subject) if not s]
    if not subjects:
        return person_prob
    own = np.zeros((h, w), np.float32)
    for person in subjects:
        person.mask_onto(own)
    for person in subjects:  # a body no map covers is drawn from what the detectors saw
        body = np.zeros((h, w), np.uint8)
        _draw_shape(body, person)
        inside = body > 0
        if not inside.any():
            continue
        covered = own[inside] if person_prob is None else np.maximum(own[inside], person_prob[inside])
        if float((covered >= 0.5).mean()) < settings.missed_below:
            np.maximum(own, body.astype(np.float32) * np.float32(1.0 / 255.0), out=own)
        elif person.landmarks is not None:
            _draw_missed_limbs(own, person_prob, person, settings)
    if person_prob is None:
        return own
    # each other person's region of the segmenter's map (the connected regions holding its landmarks or face, and
    # its own pose mask) leaves it whole, so nobody is left half sharp; so does a region no one explains that is
    # too small for a person at the subjects' scale (a far figure, a small object); where a subject's body zone
    # reaches into such a region, the subject keeps it
    # regions are told apart on a copy no longer than ``region_side`` px (whole regions are dropped, so their
    # outline needs no more); the drop is brought back to full size a pixel wider and cut by the subjects' zones
    scale = min(1.0, settings.region_side / max(h, w))
    small_size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small_prob = person_prob if scale == 1.0 else cv2.resize(person_prob, small_size, interpolation=cv2.INTER_AREA)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(
        (small_prob > settings.blob_threshold).astype(np.uint8), connectivity=8)
    if count <= 1:
        return np.maximum(person_prob, own)
    zone = np.zeros((h, w), np.uint8)
    for person in subjects:
        draw_zone(zone, person, grow=settings.zone_heads)
    small_zone = _on_copy(zone, small_size)
    in_zone = np.zeros(count, bool)
    in_zone[labels[small_zone > 0]] = True
    hit = np.zeros(count, bool)
    for person in others:
        pts = np.round(person.visible_points(settings.visible) * scale).astype(int)
        inside = (pts[:, 0] >= 0) & (pts[:, 0] < small_size[0]) & (pts[:, 1] >= 0) & (pts[:, 1] < small_size[1])
        hit[labels[pts[inside, 1], pts[inside, 0]]] = True
    tall = stats[:, cv2.CC_STAT_HEIGHT] / scale
    hit |= (tall < settings.lone_min_heads * max(p.unit for p in subjects)) & ~in_zone
    hit[0] = False
    drop = np.zeros((h, w), bool)
    if hit.any():
        drop = _at_full_size(hit[labels], (h, w))
    for person in others:
        if person.mask is not None:
            drop |= person.mask_in((h, w)) > 0.5
    drop &= zone == 0
    pieces = _pieces_beyond_bodies((h, w), labels, count, hit, scale, subjects, own, settings) \
        if settings.cut_pieces else None
    if pieces is not None:
        drop |= pieces
    if drop.any():
        person_prob = np.where(drop, np.float32(0.0), person_prob)
    return np.maximum(person_prob, own)


def _pieces_beyond_bodies(shape: tuple[int, int], labels: np.ndarray, count: int, dropped: np.ndarray,
                          scale: float, subjects: Sequence[Person], own: np.ndarray,
                          settings: SubjectSettings) -> np.ndarray | None:
    """Where a full-body subject's region of the segmenter's map (``labels``, on the copy at ``scale``) runs on past
    its own pose mask and its body drawn ``body_heads`` wider (limbs the pose model only guesses included): each
    such piece shorter than a person at the subjects' scale is no person (a magazine on the table beside her, the
    back of a chair), as a lone region that small is not. Full-size bool map of those pieces, or None. Regions that
    touch a subject without a pose mask (a portrait, a person seated behind a table: where its body ends is not
    known) are left whole."""
    whole = [p for p in subjects if p.mask is not None and p.landmarks is not None]
    if not whole:
        return None
    h, w = shape
    body = np.zeros((h, w), np.uint8)
    for person in whole:
        draw_body(body, person.landmarks, person.unit, grow=settings.body_heads, visible=settings.body_visible)
    body[own > settings.blob_threshold] = 255
    unknown = np.zeros((h, w), np.uint8)
    for person in subjects:
        if person.mask is None:
            draw_zone(unknown, person, grow=settings.zone_heads)
    small_size = (labels.shape[1], labels.shape[0])
    small_body = _on_copy(body, small_size)
    small_unknown = _on_copy(unknown, small_size)
    joined = np.zeros(count, bool)
    joined[labels[small_body > 0]] = True
    joined[labels[small_unknown > 0]] = False
    joined[0] = False
    beyond = (joined & ~dropped)[labels] & (small_body == 0)
    n, parts, stats, _ = cv2.connectedComponentsWithStats(beyond.astype(np.uint8), connectivity=8)
    short = stats[:, cv2.CC_STAT_HEIGHT] / scale < settings.lone_min_heads * max(p.unit for p in subjects)
    short[0] = False
    if n <= 1 or not short.any():
        return None
    return _at_full_size(short[parts], (h, w)) & (body == 0)


def _on_copy(canvas: np.ndarray, small_size: tuple[int, int]) -> np.ndarray:
    """A full-size uint8 ``canvas`` on the copy regions are told apart on (``small_size``: width, height)."""
    if (canvas.shape[1], canvas.shape[0]) == small_size:
        return canvas
    return cv2.resize(canvas, small_size, interpolation=cv2.INTER_NEAREST)


def _at_full_size(small: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A bool map of whole regions on the copy brought back to ``shape`` (h, w), a copy's pixel wider (the
    regions' outline there is coarse)."""
    if small.shape == shape:
        return small.astype(bool)
    grown = cv2.dilate(small.astype(np.uint8), np.ones((3, 3), np.uint8))
    return cv2.resize(grown, (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST) > 0


def _draw_missed_limbs(own: np.ndarray, person_prob: np.ndarray | None, person: Person,
                       settings: SubjectSettings) -> None:
    """Each limb of a subject that the maps miss (an arm the segmenter lost against a busy background, a leg in
    a sock) is drawn into ``own`` from its landmarks, when the model is sure it saw both ends."""
    for (x0, y0, x1, y1), limb in limb_parts(person.landmarks, person.unit, own.shape, visible=settings.limb_visible):
        region = own[y0:y1, x0:x1]
        covered = region if person_prob is None else np.maximum(region, person_prob[y0:y1, x0:x1])
        if float((covered[limb] >= 0.5).mean()) < settings.missed_below:
            region[limb] = np.maximum(region[limb], np.float32(1.0))


def draw_zone(canvas: np.ndarray, person: Person, grow: float) -> None:
    """Draw (255) where ``person``'s body is or can be (a zone), ``grow`` head units beyond it."""
    if person.landmarks is not None:
        draw_body(canvas, person.landmarks, person.unit, grow=grow)
    elif person.face is not None:
        body_zone(canvas, person.face, heads_below=BODY_HEADS, width_heads=3.0 + 2.0 * grow)


def _draw_shape(canvas: np.ndarray, person: Person) -> None:
    """The honest body shape of ``person``: from its landmarks, else from its face."""
    if person.landmarks is not None:
        draw_body(canvas, person.landmarks, person.unit)
    elif person.face is not None:
        draw_face_body(canvas, person.face)
