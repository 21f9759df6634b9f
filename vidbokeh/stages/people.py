"""Every person in a frame: the pose landmarker (body landmarks and the person's own mask) and the full-range
face detector (small and distant faces), each at a scale its model handles.

The pose landmarker's person detector sees a 224-px copy of the frame, so a small person is missed there; a
face the face detectors found without a pose around it gets a second look on a square crop sized to the body
that face implies. A face for which no pose is found even then is still a person (its face and scale known),
when the face detector is sure of it (``lone_face_score``): a weak face with no body in the crop where a body
would be is most often a pattern (a logo, a bag), and taking it as a person would keep a body-shaped patch of
background sharp and could even make it the main subject.
A person's ``unit`` is its head size in pixels (about a face detector box's height), estimated from whatever
is visible, so people can be compared by scale whatever their pose or how much of them the frame holds.
A person's own mask is kept only when both hips were seen in the picture: for a portrait the pose model segments
over a square round a body mostly outside the frame, and its mask is a coarse blob with a ring of background round
the head (the Obama portrait: the band round the head 0.21 kept against 0.07 without it).
"""
from __future__ import annotations

import logging
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import cv2
import numpy as np

from vidbokeh.errors import ModelError, UsageError
from vidbokeh.stages.faces import (Face, FaceDetector, FaceDetectorSettings, as_rgb_uint8, import_mediapipe,
                                   scale_faces)

log = logging.getLogger(__name__)

# BlazePose landmark indices
NOSE, LEFT_EAR, RIGHT_EAR = 0, 7, 8
LEFT_SHOULDER, RIGHT_SHOULDER, LEFT_HIP, RIGHT_HIP = 11, 12, 23, 24
# head size (a face box's height) per pixel of: ear to ear, shoulder to shoulder, mid-shoulder to mid-hip,
# nose to mid-shoulder (measured on upright frontal people; foreshortening only shrinks each, so the
# largest estimate is the one to trust)
_UNIT_PER = {"ears": 1.4, "shoulders": 0.6, "torso": 0.42, "neck": 1.0}


@dataclass(frozen=True)
class PeopleSettings:
    max_poses: int = 4  # people the pose landmarker returns per run
    min_pose_score: float = 0.5
    min_face_score: float = 0.5  # full-range face detector
    max_face_crops: int = 1  # faces without a pose that get a pose run on their own crop (~40 ms of CPU each)
    crop_min_ratio: float = 0.45  # ... only faces at least this x the largest person's head unit (could be subjects)
    crop_heads: float = 10.0  # side of a face's body crop, in face heights
    lone_face_score: float = 0.8  # a face whose own crop shows no body is a person only when at least this sure
    visible: float = 0.5  # landmark visibility that counts as seen
    # the detectors see a copy no longer than this (their models take 192-256 px; converting a full-size photo
    # for them cost more than the models)
    model_side: int = 512

    def __post_init__(self) -> None:
        if self.max_poses < 1 or self.max_face_crops < 0 or not 0.0 <= self.crop_min_ratio <= 1.0:
            raise UsageError("max_poses must be >= 1, max_face_crops >= 0, crop_min_ratio in [0, 1]")
        if not (0.0 <= self.min_pose_score <= 1.0 and 0.0 <= self.min_face_score <= 1.0):
            raise UsageError("scores must be in [0, 1]")
        if not 0.0 <= self.lone_face_score <= 1.0:
            raise UsageError("lone_face_score must be in [0, 1]")
        if self.crop_heads < 2.0:
            raise UsageError("crop_heads must be >= 2")
        if self.model_side < 64:
            raise UsageError("model_side must be >= 64")


@dataclass(frozen=True)
class Person:
    """One person. ``landmarks``: (33, 3) x, y pixels and visibility, or None (face only). ``mask``: the pose
    model's person probability over ``mask_box`` (x0, y0, x1, y1 in frame pixels), or None (also when the hips
    were not seen in the picture: see ``_hips_inside``)."""

    box: tuple[float, float, float, float]
    unit: float
    source: str  # "pose" | "face"
    landmarks: np.ndarray | None = None
    mask: np.ndarray | None = field(default=None, repr=False)
    mask_box: tuple[int, int, int, int] | None = None
    face: Face | None = None

    @property
    def center(self) -> tuple[float, float]:
        return (0.5 * (self.box[0] + self.box[2]), 0.5 * (self.box[1] + self.box[3]))

    def mask_in(self, shape: tuple[int, int]) -> np.ndarray | None:
        """The pose model's person probability placed in a zero frame of ``shape`` (None without one)."""
        if self.mask is None or self.mask_box is None:
            return None
        out = np.zeros(shape, np.float32)
        self.mask_onto(out)
        return out

    def mask_onto(self, frame: np.ndarray) -> None:
        """The pose model's person probability joined (maximum) into ``frame`` (float32, frame pixels) in place;
        nothing without one."""
        if self.mask is None or self.mask_box is None:
            return
        x0, y0, x1, y1 = self.mask_box
        mask = self.mask
        if (mask.shape[1], mask.shape[0]) != (x1 - x0, y1 - y0):
            mask = cv2.resize(mask, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
        region = frame[y0:y1, x0:x1]
        np.maximum(region, mask, out=region)

    def upright(self, threshold: float = 0.5) -> bool:
        """True when the landmarks show the head above the body: from the shoulders to the hips (else from the nose to
        the shoulders) the body goes down more than sideways. False without landmarks."""
        if self.landmarks is None:
            return False
        pts, seen = self.landmarks[:, :2], self.landmarks[:, 2] >= threshold
        if not (seen[LEFT_SHOULDER] and seen[RIGHT_SHOULDER]):
            return False
        top = 0.5 * (pts[LEFT_SHOULDER] + pts[RIGHT_SHOULDER])
        if seen[LEFT_HIP] and seen[RIGHT_HIP]:
            down = 0.5 * (pts[LEFT_HIP] + pts[RIGHT_HIP]) - top
        elif seen[NOSE]:
            down = top - pts[NOSE]
        else:
            return False
        return bool(down[1] > abs(down[0]))

    def visible_points(self, threshold: float = 0.5) -> np.ndarray:
        """(N, 2) pixel positions of the landmarks seen (or the face's keypoints/centre)."""
        if self.landmarks is not None:
            seen = self.landmarks[self.landmarks[:, 2] >= threshold, :2]
            if len(seen):
                return seen
        if self.face is not None:
            pts = list(self.face.keypoints[:4]) or [self.face.center]
            return np.asarray(pts, np.float32)
        return np.asarray([self.center], np.float32)


def head_unit(landmarks: np.ndarray, visible: float = 0.5) -> float:
    """Head size in pixels from body landmarks (the largest of the estimates whose landmarks are seen)."""
    pts, vis = landmarks[:, :2], landmarks[:, 2] >= visible

    def dist(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.hypot(*(a - b)))

    estimates = [0.0]
    if vis[LEFT_EAR] and vis[RIGHT_EAR]:
        estimates.append(_UNIT_PER["ears"] * dist(pts[LEFT_EAR], pts[RIGHT_EAR]))
    if vis[LEFT_SHOULDER] and vis[RIGHT_SHOULDER]:
        estimates.append(_UNIT_PER["shoulders"] * dist(pts[LEFT_SHOULDER], pts[RIGHT_SHOULDER]))
        mid_shoulder = 0.5 * (pts[LEFT_SHOULDER] + pts[RIGHT_SHOULDER])
        if vis[NOSE]:
            estimates.append(_UNIT_PER["neck"] * dist(pts[NOSE], mid_shoulder))
        if vis[LEFT_HIP] and vis[RIGHT_HIP]:
            estimates.append(_UNIT_PER["torso"] * dist(mid_shoulder, 0.5 * (pts[LEFT_HIP] + pts[RIGHT_HIP])))
    return max(estimates)


class PeopleFinder:
    """Finds the people in RGB uint8 frames (see the module docstring). A context manager."""

    def __init__(self, settings: PeopleSettings = PeopleSettings(), *, progress: bool = True) -> None:
        from vidbokeh.stages import assets
        from vidbokeh.stages.pose_bundle import pose_landmarker_bundle

        self.settings = settings
        self._closed = False
        self._faces: FaceDetector | None = None
        self._pose = None
        self._pose_one = None  # the crop around one face holds one person: one landmark run, not up to max_poses
        try:
            self._faces = FaceDetector(
                FaceDetectorSettings(backend="mediapipe", min_score=settings.min_face_score),
                model_path=assets.model_path(assets.FACE_DETECTOR_FULL, progress=progress), progress=progress,
            )
            bundle = pose_landmarker_bundle(progress=progress)
            self._pose = _create_landmarker(bundle, settings.max_poses, settings.min_pose_score)
            if settings.max_face_crops > 0:
                self._pose_one = _create_landmarker(bundle, 1, settings.min_pose_score)
        except BaseException:
            self.close()
            raise

    def find(self, rgb: np.ndarray, faces: Sequence[Face] | Callable[[], Sequence[Face]] = (), *,
             aside: Callable[..., AbstractContextManager] | None = None) -> tuple[list[Person], list[Face]]:
        """(people, faces): ``faces`` (from another detector, or a call returning them: made once the pose model
        has run) merged with the full-range detector's.

        ``aside(work, *args)``: runs ``work(*args)`` beside the caller and returns a context manager whose
        ``result()`` waits for its value, and whose exit waits for it however the block ends
        (``pipeline.SideThread.start``): the full-range face detector then runs there while the pose model
        runs here."""
        if self._closed:
            raise RuntimeError("PeopleFinder is closed")
        image = as_rgb_uint8(rgb)
        h, w = image.shape[:2]
        small, scale = _reduced(image, self.settings.model_side)
        with aside(self._faces.detect, small) if aside is not None else nullcontext() as pending:
            people = self._poses(image, (0, 0, w, h), self._pose, small)
            found_faces = pending.result() if pending is not None else self._faces.detect(small)
        if scale != 1.0:
            found_faces = scale_faces(found_faces, w / small.shape[1], h / small.shape[0])
        all_faces = merge_faces(found_faces, faces() if callable(faces) else faces)
        largest = max([p.unit for p in people] + [face_unit(f) for f in all_faces] + [0.0])
        crops = 0
        for face in sorted(all_faces, key=lambda f: -face_unit(f)):
            if any(_face_belongs(face, p) for p in people):
                continue
            found, looked = [], False
            if crops < self.settings.max_face_crops and face_unit(face) >= self.settings.crop_min_ratio * largest:
                crops += 1
                looked = True
                box = body_crop(face, w, h, self.settings.crop_heads)
                found = [p for p in self._poses(image, box, self._pose_one) if _face_belongs(face, p)]
            if found:
                people.append(found[0])
            elif looked and face.score < self.settings.lone_face_score:
                log.debug("face at (%.0f, %.0f) scored %.2f and its crop holds no body: not taken as a person",
                          *face.center, face.score)
            else:
                people.append(Person(box=(face.x0, face.y0, face.x1, face.y1), unit=face_unit(face),
                                     source="face", face=face))
        for i, person in enumerate(people):
            if person.face is None:
                match = next((f for f in all_faces if _face_belongs(f, person)), None)
                if match is not None:  # a face box measures every face alike: the unit to compare people in
                    people[i] = Person(box=person.box, unit=face_unit(match), source=person.source,
                                       landmarks=person.landmarks, mask=person.mask, mask_box=person.mask_box,
                                       face=match)
        return people, all_faces

    def _poses(self, image: np.ndarray, box: tuple[int, int, int, int], landmarker,
               reduced: np.ndarray | None = None) -> list[Person]:
        """The people the pose landmarker finds in ``box`` of ``image``; ``reduced``: the box's copy at the models'
        size when the caller has it already."""
        mp = import_mediapipe()
        x0, y0, x1, y1 = box
        crop = image if (x0, y0, x1, y1) == (0, 0, image.shape[1], image.shape[0]) else \
            np.ascontiguousarray(image[y0:y1, x0:x1])
        ch, cw = crop.shape[:2]  # landmarks come normalised: a reduced copy maps back through the crop's size
        seen_copy = _reduced(crop, self.settings.model_side)[0] if reduced is None else reduced
        result = landmarker.detect(mp.Image(image_format=mp.ImageFormat.SRGB, data=seen_copy))
        masks = result.segmentation_masks or []
        people = []
        for i, marks in enumerate(result.pose_landmarks):
            pts = np.asarray([[m.x * cw + x0, m.y * ch + y0, m.visibility or 0.0] for m in marks], np.float32)
            seen = pts[pts[:, 2] >= self.settings.visible]
            if len(seen) < 4:
                continue
            unit = head_unit(pts, self.settings.visible)
            if unit <= 0:
                continue
            bx0, by0 = seen[:, :2].min(axis=0)
            bx1, by1 = seen[:, :2].max(axis=0)
            mask = None
            if i < len(masks) and _hips_inside(pts, box, self.settings.visible):
                mask = np.asarray(masks[i].numpy_view(), np.float32)
                mask = mask[..., 0] if mask.ndim == 3 else mask
                # the model's map can hold NaN where it is unsure: that is not a person
                mask = np.clip(np.nan_to_num(mask, nan=0.0, posinf=1.0, neginf=0.0), 0.0, 1.0)
            people.append(Person(box=(float(bx0), float(by0), float(bx1), float(by1)), unit=unit, source="pose",
                                 landmarks=pts, mask=mask, mask_box=(x0, y0, x1, y1) if mask is not None else None))
        return people

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._faces is not None:
            self._faces.close()
        for landmarker in (self._pose, self._pose_one):
            if landmarker is not None:
                landmarker.close()
        self._faces = self._pose = self._pose_one = None

    def __enter__(self) -> PeopleFinder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _hips_inside(landmarks: np.ndarray, box: tuple[int, int, int, int], visible: float) -> bool:
    """True when both hips were seen inside ``box`` (what the landmarker looked at). The pose model segments a person
    over a square around the whole body it infers; with the hips outside the picture (a portrait, head and
    shoulders) that square is several times the picture and the mask a coarse blob, wider than the head by a ring of
    background: such a person is left to the segmenter, made for people close to the camera."""
    x0, y0, x1, y1 = box
    for i in (LEFT_HIP, RIGHT_HIP):
        x, y, seen = landmarks[i]
        if seen < visible or not (x0 <= x < x1 and y0 <= y < y1):
            return False
    return True


def _reduced(image: np.ndarray, side: int) -> tuple[np.ndarray, float]:
    """(``image`` no longer than ``side`` px (area averaging), the scale applied)."""
    h, w = image.shape[:2]
    scale = min(1.0, side / max(h, w))
    if scale == 1.0:
        return image, 1.0
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA), scale


def face_unit(face: Face) -> float:
    """Head size of a face detector box (the unit people are compared in)."""
    return max(face.height, face.width)


def merge_faces(primary: Sequence[Face], secondary: Sequence[Face] = ()) -> list[Face]:
    """``primary`` (duplicates merged, best score kept), then the faces of ``secondary`` none of them covers
    (boxes overlapping by more than a third are one face). The full-range detector's boxes come first: one
    detector measures every face it finds alike, so their sizes compare."""
    kept: list[Face] = []
    for group in (primary, secondary):
        fresh = []
        for face in sorted(group, key=lambda f: -f.score):
            if all(_iou(face, k) < 0.33 for k in kept + fresh):
                fresh.append(face)
        kept += fresh
    return kept


def body_crop(face: Face, w: int, h: int, heads: float) -> tuple[int, int, int, int]:
    """A square crop, ``heads`` face heights on a side, holding the body below ``face`` (inside the frame)."""
    unit = face_unit(face)
    side = int(round(min(max(w, h), heads * unit)))
    side = max(8, min(side, w, h))
    cx = 0.5 * (face.x0 + face.x1)
    top = face.y0 - 1.0 * unit
    x0 = int(round(min(max(cx - side / 2, 0), w - side)))
    y0 = int(round(min(max(top, 0), h - side)))
    return (x0, y0, x0 + side, y0 + side)


def _iou(a: Face, b: Face) -> float:
    ix = max(0.0, min(a.x1, b.x1) - max(a.x0, b.x0))
    iy = max(0.0, min(a.y1, b.y1) - max(a.y0, b.y0))
    inter = ix * iy
    return inter / max(1e-6, a.area + b.area - inter)


def _face_belongs(face: Face, person: Person) -> bool:
    """True when the pose's head (nose, else the top of its box) lies in the face box grown by half."""
    if person.landmarks is None:
        return False
    gx, gy = 0.5 * face.width, 0.5 * face.height
    x, y, seen = person.landmarks[NOSE]
    if seen < 0.3:
        return False
    return face.x0 - gx <= x <= face.x1 + gx and face.y0 - gy <= y <= face.y1 + gy


def _create_landmarker(bundle: Path, max_poses: int, min_score: float):
    try:
        import_mediapipe()
        from mediapipe.tasks.python import BaseOptions, vision

        options = vision.PoseLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=str(bundle)),
            running_mode=vision.RunningMode.IMAGE,
            num_poses=max_poses,
            min_pose_detection_confidence=min_score,
            output_segmentation_masks=True,
        )
        return vision.PoseLandmarker.create_from_options(options)
    except (ImportError, RuntimeError, ValueError, OSError) as exc:
        raise ModelError(f"MediaPipe pose landmarker could not load {bundle}: {exc}") from exc
