"""Who a video is about: the person who moves against the scene, told from bystanders who keep still.

A photo has only size and place to go by; a video also has motion. Dense optical flow (OpenCV's DIS on grey
copies no longer than ``flow_side``) from each frame back to the one before is split into the camera's motion
(a similarity transform fitted robustly over the whole frame: a camera panning to follow a runner moves the
background, not the runner) and what is left over: a person who moves in the scene. That residual motion
is carried along the flow from frame to frame and decays, so a dancer's hand planted for a moment still
counts as moving while the rest of him spins.

The mover's zone is where the person map and that motion meet, grown a little; a region of the person map
the motion touches and that is no larger than a person around it (the juggler's still legs under his moving
arms) joins the zone whole, while a crowd that the segmenter sees as one region with the mover is cut to
the zone. Where a clear mover moves outside the person map, joined to his moving body (a dancer's legs in the
air, which a segmenter made for upright people does not see), that part is added to the person map
(``missed_parts``). There is a clear main subject when the people outside the zone (bystanders) hold a fair share of
the person map and move much less than the mover; then the protection mask is weighted by the zone and the
bystanders are blurred. When nobody moves (a group posing), everybody moves alike (two people talking, a
group walking), or there is no one beside the mover, nothing changes: everyone stays a subject, as in a photo.

Nothing pops: the clarity of the choice and the zone itself change by at most ``1 / fade_frames`` a frame
when shrinking (a subject dropped fades out), and faster when a mover appears (a subject is never blurred
while the zone catches up). Each session owns one ``SubjectMotion`` (engine/video.py); stills never use it.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Sequence

import cv2
import numpy as np

from vidbokeh.errors import UsageError
from vidbokeh.stages.faces import scale_faces
from vidbokeh.stages.flow import dis_flow, small_grey
from vidbokeh.stages.people import Person
from vidbokeh.stages.subjects import draw_zone


@dataclass(frozen=True)
class MotionSettings:
    flow_side: int = 160  # the flow runs on grey copies no longer than this (px)
    decay: float = 0.85  # share of the carried motion left after a frame
    # a pixel moves when its residual motion per frame is at least this share of the copy's long side ...
    min_motion: float = 0.006
    relative: float = 0.3  # ... and at least this share of the strongest motion of a person (99th percentile)
    person_threshold: float = 0.3  # the person map's pixels above this are people
    min_core: float = 0.002  # the mover's moving pixels cover at least this share of the frame
    # a region of the person map the motion touches is the mover's own body when it lies within the moving
    # blob's box grown by ``body_grow`` (each side) and covers at most ``body_area`` x the blob
    body_grow: float = 0.25
    body_area: float = 2.0
    zone_grow: float = 0.03  # the zone reaches this share of the long side beyond the moving pixels
    bystanders: float = 0.25  # clear main subject: people outside the zone hold at least this x the zone's mass
    contrast: float = 0.35  # ... and move at most this x as much as the mover
    fade_frames: int = 8  # a subject dropped (or a choice given up) fades over this many frames
    grow_rate: float = 1.0  # the zone grows by at most this a frame (1: it follows the mover at once)
    subject_share: float = 0.5  # a person whose seen points lie this much in the zone is a subject
    # bystanders are the people beyond the zone (and the zone carried from the frames before) grown by this x the
    # side of the largest moving blob's area: a mover's own still parts (the juggler's legs) are not
    near_grow: float = 0.25
    match: int = 12  # motion is carried to a pixel whose picture a frame ago differs by at most this (grey levels)
    mover_share: float = 0.3  # a moving blob is a mover when at least this x the largest one
    mover_points: float = 0.1  # a person found is a mover when this share (and 2) of his seen points are in the zone

    def __post_init__(self) -> None:
        if self.flow_side < 32:
            raise UsageError(f"flow_side must be >= 32, got {self.flow_side}")
        if self.fade_frames < 1:
            raise UsageError(f"fade_frames must be >= 1, got {self.fade_frames}")
        shares = (self.decay, self.min_motion, self.relative, self.person_threshold, self.min_core, self.zone_grow,
                  self.contrast, self.grow_rate, self.subject_share, self.mover_share,
                  self.mover_points)
        if not all(0.0 <= v <= 1.0 for v in shares):
            raise UsageError("decay, min_motion, relative, person_threshold, min_core, zone_grow, contrast, "
                             "grow_rate, subject_share, mover_share and mover_points must be in [0, 1]")
        if self.body_grow < 0 or self.body_area < 0 or self.bystanders < 0 or self.near_grow < 0:
            raise UsageError("body_grow, body_area, bystanders and near_grow must be >= 0")
        if not 0 <= self.match <= 255:
            raise UsageError(f"match must be in [0, 255], got {self.match}")


class SubjectMotion:
    """One stream's motion cue (see the module docstring). Per frame, on the working copy: ``update(rgb)``,
    then ``choose(people, chosen)`` (movers join the subjects), then ``weight(person_prob)``: the map the
    protection mask is multiplied by, or None while everyone stays a subject."""

    def __init__(self, settings: MotionSettings = MotionSettings()) -> None:
        self.settings = settings
        self._grey: np.ndarray | None = None
        self._flow = None  # cv2.DISOpticalFlow, made on first use
        self._grid: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self._energy: np.ndarray | None = None  # residual motion carried along the flow (copy pixels a frame)
        self._zone: np.ndarray | None = None  # the mover's zone, 0..1, on the copy
        self.clarity = 0.0  # 0: everyone is a subject .. 1: only the mover's zone is
        self._missed: np.ndarray | None = None  # the mover's moving parts the person map does not hold, on the copy

    def reset(self) -> None:
        self._grey = self._energy = self._zone = self._missed = None
        self.clarity = 0.0

    def update(self, rgb: np.ndarray) -> None:
        """Flow from ``rgb`` back to the previous frame; the camera's motion taken out; the rest carried."""
        grey = small_grey(rgb, self.settings.flow_side)
        prev, self._grey = self._grey, grey
        if prev is None or prev.shape != grey.shape:
            self._energy = np.zeros(grey.shape, np.float32)
            self._zone = np.zeros(grey.shape, np.float32)
            self.clarity = 0.0
            return
        if self._flow is None:
            self._flow = dis_flow(1)  # flow on a 1/2-scale grid of the copy: a quarter of the CPU of scale 0
        flow = self._flow.calc(grey, prev, None)  # current pixel -> where it was a frame ago
        gx, gy, samples = self._pixel_grid(grey.shape)
        camera = _camera_motion(flow, samples)
        if camera is None:  # no consistent motion at all (a cut, a blank frame): start over
            self._energy[:] = 0.0
            self._zone[:] = 0.0
            return
        (a, b, tx), (c, d, ty) = camera
        residual = cv2.magnitude(flow[..., 0] - ((a - 1.0) * gx + b * gy + tx),
                                 flow[..., 1] - (c * gx + (d - 1.0) * gy + ty))
        map_x, map_y = gx + flow[..., 0], gy + flow[..., 1]
        carried = cv2.remap(self._energy, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        if self.settings.match < 255:  # 255: carried everywhere
            # carried only where the flow found the same picture a frame ago: where a dancer just left, the
            # ground's flow points at where he was, and his motion would stay behind as a trail
            before = cv2.remap(prev, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            carried[cv2.absdiff(before, grey) > self.settings.match] = 0.0
        self._energy = np.maximum(carried * np.float32(self.settings.decay), residual)
        self._zone = cv2.remap(self._zone, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)

    def choose(self, people: Sequence[Person], chosen: Sequence[bool], shape: tuple[int, ...]) -> list[bool]:
        """``chosen`` with every person in the mover's zone made a subject (while the choice is clear)."""
        out = list(chosen)
        if self.clarity <= 0.0 or self._zone is None:
            return out
        h, w = shape[:2]
        zh, zw = self._zone.shape
        for i, person in enumerate(people):
            if out[i]:
                continue
            pts = person.visible_points()
            xs = np.clip((pts[:, 0] * zw / w).astype(int), 0, zw - 1)
            ys = np.clip((pts[:, 1] * zh / h).astype(int), 0, zh - 1)
            out[i] = float(np.mean(self._zone[ys, xs] >= 0.5)) >= self.settings.subject_share
        return out

    def weight(self, person_prob: np.ndarray | None, people: Sequence[Person] = ()) -> np.ndarray | None:
        """The mover's zone and the clarity brought up to date with this frame's person map (and the people
        found on it, in its pixels); the weight (HxW float32 of ``person_prob``'s size, 0..1) for the protection
        mask, or None when it is all ones."""
        s = self.settings
        if self._energy is None or person_prob is None:
            return None
        zh, zw = self._energy.shape
        h, w = person_prob.shape[:2]
        prob = person_prob if (h, w) == (zh, zw) else cv2.resize(person_prob, (zw, zh), interpolation=cv2.INTER_AREA)
        target, clear = self._target_zone(prob, people, zw / w)
        zone = self._zone
        np.add(zone, np.clip(target - zone, -1.0 / s.fade_frames, s.grow_rate), out=zone)
        step = 1.0 / s.fade_frames
        self.clarity = min(1.0, self.clarity + step) if clear else max(0.0, self.clarity - step)
        if self.clarity <= 0.0:
            return None
        small = np.float32(1.0 - self.clarity) + np.float32(self.clarity) * zone
        return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)

    def _target_zone(self, prob: np.ndarray, people_found: Sequence[Person], scale: float) -> tuple[np.ndarray, bool]:
        """(where the mover is this frame, 0..1 on the copy; whether he is clearly the main subject).
        ``people_found`` in pixels of the copy / ``scale``."""
        s = self.settings
        energy = self._energy
        people = prob > s.person_threshold
        empty = np.zeros(prob.shape, np.float32)
        self._missed = None
        if not people.any():
            return empty, False
        side = max(prob.shape)
        strongest = float(np.percentile(energy[people], 99))
        threshold = max(s.min_motion * side, s.relative * strongest)
        core = people & (energy > threshold)
        if core.sum() < s.min_core * prob.size:
            return empty, False
        r = max(1, int(round(s.zone_grow * side)))
        disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
        moving = cv2.dilate(core.astype(np.uint8), disc)
        # the movers: the moving blobs at least ``mover_share`` of the largest (a spectator's nod is not one)
        n_blobs, blob_labels, blob_stats, _ = cv2.connectedComponentsWithStats(moving, connectivity=8)
        area = blob_stats[1:, cv2.CC_STAT_AREA]
        movers = np.flatnonzero(area >= s.mover_share * area.max()) + 1
        zone = np.isin(blob_labels, movers)
        core &= zone
        self._missed = self._moving_parts(energy > threshold, core, people)
        # a region of the person map a mover touches and no larger than a person around him joins whole
        count, labels, stats, _ = cv2.connectedComponentsWithStats(people.astype(np.uint8), connectivity=8)
        left, top = stats[:, cv2.CC_STAT_LEFT], stats[:, cv2.CC_STAT_TOP]
        right, bottom = left + stats[:, cv2.CC_STAT_WIDTH], top + stats[:, cv2.CC_STAT_HEIGHT]
        whole = np.zeros(count, bool)
        for blob in movers:
            bx, by, bw, bh = blob_stats[blob, :4]
            gx, gy = s.body_grow * bw, s.body_grow * bh
            fits = (left >= bx - gx) & (right <= bx + bw + gx) & (top >= by - gy) & (bottom <= by + bh + gy) \
                & (stats[:, cv2.CC_STAT_AREA] <= s.body_area * blob_stats[blob, cv2.CC_STAT_AREA])
            touched = np.zeros(count, bool)
            touched[labels[core & (blob_labels == blob)]] = True
            whole |= fits & touched
        whole[0] = False
        zone |= whole[labels]
        # a person found whom the motion touches most (one a moving blob) is the mover: his whole body joins the
        # zone (the juggler's still legs under his moving arms); the spectators a dancer passes in front of are not
        candidates = []
        for person in people_found:
            seen = (person.visible_points() * scale).astype(int)
            seen = seen[(seen >= 0).all(axis=1) & (seen[:, 0] < zone.shape[1]) & (seen[:, 1] < zone.shape[0])]
            hits = int(zone[seen[:, 1], seen[:, 0]].sum())
            if hits >= 2 and hits >= s.mover_points * len(seen):
                candidates.append((hits / len(seen), person))
        bodies = np.zeros(zone.shape, np.uint8)
        for _, person in sorted(candidates, key=lambda t: -t[0])[:len(movers)]:
            draw_zone(bodies, _scaled(person, scale), grow=0.5)
        zone |= bodies > 0
        reach = max(1, int(round(s.near_grow * np.sqrt(area.max()))))
        near = cv2.dilate((zone | (self._zone > 0.5)).astype(np.uint8),
                          cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * reach + 1, 2 * reach + 1))) > 0
        inside = float(prob[zone].sum())
        outside = float(prob[~near].sum())
        still = people & ~near
        mover_motion = float(energy[core].mean())
        bystander_motion = float(energy[still].mean()) if still.any() else 0.0
        clear = outside >= s.bystanders * inside and bystander_motion <= s.contrast * mover_motion
        # softened outward only: the zone itself keeps its full weight, the falloff lies beyond it
        soft = cv2.GaussianBlur(cv2.dilate(zone.astype(np.float32), disc), (0, 0), max(0.7, 0.5 * r))
        return soft, clear

    def missed_parts(self, shape: tuple[int, int]) -> np.ndarray | None:
        """The clear mover's moving parts that the person map missed (a dancer's legs in the air), 0..1 in a
        map of ``shape`` (weighted by the clarity), or None."""
        if self._missed is None or self.clarity <= 0.0 or not self._missed.any():
            return None
        h, w = shape
        soft = cv2.GaussianBlur(self._missed.astype(np.float32), (0, 0), 0.7)
        return np.float32(self.clarity) * cv2.resize(soft, (w, h), interpolation=cv2.INTER_LINEAR)

    def _moving_parts(self, active: np.ndarray, core: np.ndarray, people: np.ndarray) -> np.ndarray:
        """Where the copy moves like the mover, joined to his moving body, outside the person map."""
        count, labels = cv2.connectedComponents(active.astype(np.uint8), connectivity=8)
        joined = np.zeros(count, bool)
        joined[labels[core]] = True
        joined[0] = False
        return joined[labels] & ~people

    def _pixel_grid(self, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self._grid is None or self._grid[0].shape != shape:
            h, w = shape
            gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
            step = max(2, min(h, w) // 12)
            yy, xx = np.mgrid[step // 2:h:step, step // 2:w:step]
            self._grid = (gx, gy, np.stack([xx.ravel(), yy.ravel()], axis=1).astype(np.int32))
        return self._grid


def _scaled(person: Person, scale: float) -> Person:
    """``person`` in the pixels of a copy ``scale`` x the size."""
    marks = None
    if person.landmarks is not None:
        marks = person.landmarks.copy()
        marks[:, :2] *= scale
    face = None if person.face is None else scale_faces([person.face], scale, scale)[0]
    return replace(person, box=tuple(v * scale for v in person.box), unit=person.unit * scale, landmarks=marks,
                   face=face, mask=None, mask_box=None)


def _camera_motion(flow: np.ndarray, samples: np.ndarray) -> np.ndarray | None:
    """The camera's part of ``flow`` (current -> previous pixel) as a 2x3 similarity transform fitted with RANSAC
    on the sample points (the background is most of a frame; a followed subject is an outlier), or None."""
    src = samples.astype(np.float32)
    dst = src + flow[samples[:, 1], samples[:, 0]]
    transform, _ = cv2.estimateAffinePartial2D(src, dst, method=cv2.RANSAC, ransacReprojThreshold=1.0,
                                               maxIters=200, refineIters=5)
    if transform is None or not np.isfinite(transform).all():
        return None
    return transform.astype(np.float32)
