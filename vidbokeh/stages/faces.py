"""Face detection: MediaPipe Tasks short-range face detector, OpenCV Haar cascade as fallback.

The Haar cascade ships inside opencv-contrib-python (OpenCV 5's main modules no longer hold it); when
MediaPipe cannot load (its model cannot be fetched, the runtime fails) we say so once in the log and use
it. Asking for ``backend="mediapipe"`` explicitly turns that into a ModelError instead, and so does an
OpenCV without the cascade, naming both reasons.
"""
from __future__ import annotations

import importlib.abc
import importlib.util
import logging
import math
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal, Sequence

import cv2
import numpy as np

from vidbokeh.errors import InputError, ModelError, UsageError

log = logging.getLogger(__name__)

Backend = Literal["auto", "mediapipe", "haar"]
RunningMode = Literal["image", "video"]
_HAAR_WARNED = False


@dataclass(frozen=True)
class Face:
    """One detected face: box corners in pixels (x1, y1 exclusive), score in [0, 1], keypoints.

    MediaPipe keypoints are (x, y) pixels of: right eye, left eye, nose tip, mouth, right ear
    tragion, left ear tragion (the subject's right/left). The Haar fallback gives none.
    """

    x0: float
    y0: float
    x1: float
    y1: float
    score: float
    keypoints: tuple[tuple[float, float], ...] = ()

    @property
    def width(self) -> float:
        return self.x1 - self.x0

    @property
    def height(self) -> float:
        return self.y1 - self.y0

    @property
    def center(self) -> tuple[float, float]:
        return (0.5 * (self.x0 + self.x1), 0.5 * (self.y0 + self.y1))

    @property
    def area(self) -> float:
        return max(0.0, self.width) * max(0.0, self.height)


@dataclass(frozen=True)
class FaceDetectorSettings:
    backend: Backend = "auto"
    running_mode: RunningMode = "image"
    min_score: float = 0.5
    haar_max_side: int = 480  # the cascade runs on a copy no larger than this (speed)
    haar_min_face_frac: float = 0.04  # smallest face side for the cascade, fraction of min(h, w)

    def __post_init__(self) -> None:
        if self.backend not in ("auto", "mediapipe", "haar"):
            raise UsageError(f"unknown face detector backend {self.backend!r}")
        if self.running_mode not in ("image", "video"):
            raise UsageError(f"unknown running mode {self.running_mode!r}")
        if not 0.0 <= self.min_score <= 1.0:
            raise UsageError(f"min_score must be in [0, 1], got {self.min_score}")


# ``import mediapipe`` imports every task: the vision package's drawing helpers bring matplotlib.pyplot
# and the audio tasks sounddevice (which runs a compiler to look for PortAudio): start-up spent on code we
# never call (docs/benchmarks.md). Those modules are loaded lazily instead (on first use).
_LAZY_MODULES = frozenset({"mediapipe.tasks.python.vision.drawing_utils",
                           "mediapipe.tasks.python.vision.drawing_styles",
                           "mediapipe.tasks.python.audio",
                           "mediapipe.tasks.python.text",
                           "mediapipe.tasks.python.retrieval"})


class _LazyFinder(importlib.abc.MetaPathFinder):
    """Finds the modules above with the other finders and defers running them to their first use."""

    def find_spec(self, name, path, target=None):
        if name not in _LAZY_MODULES:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None and spec.loader is not None:
                spec.loader = importlib.util.LazyLoader(spec.loader)
                return spec
        return None


def import_mediapipe():
    """The ``mediapipe`` module, imported without running the tasks we do not use (they load when touched)."""
    if "mediapipe" in sys.modules:
        return sys.modules["mediapipe"]
    finder = _LazyFinder()
    sys.meta_path.insert(0, finder)
    try:
        import mediapipe
    finally:
        sys.meta_path.remove(finder)
    return mediapipe


def as_rgb_uint8(rgb: np.ndarray) -> np.ndarray:
    """The picture as contiguous HxWx3 uint8 RGB, what the MediaPipe models take.

    Accepts uint8, uint16 (top byte) or float in [0, 1], with 3 or 4 channels (alpha dropped).
    """
    arr = np.asarray(rgb)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4) or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise InputError(f"expected an HxWx3 RGB image, got shape {arr.shape}")
    arr = arr[..., :3]
    if arr.dtype == np.uint16:
        arr = (arr >> 8).astype(np.uint8)
    elif arr.dtype.kind == "f":
        arr = np.clip(arr * 255.0 + 0.5, 0, 255).astype(np.uint8)
    elif arr.dtype != np.uint8:
        raise InputError(f"unsupported image dtype {arr.dtype}")
    return np.ascontiguousarray(arr)


def next_video_timestamp(last_ms: int | None, timestamp_ms: int | None) -> int:
    """MediaPipe's video running mode: every frame needs a timestamp, strictly increasing.
    Returns it (as int) to be remembered as the new last one; UsageError otherwise."""
    if timestamp_ms is None:
        raise UsageError("video mode needs a timestamp_ms per frame")
    if last_ms is not None and timestamp_ms <= last_ms:
        raise UsageError(f"timestamps must increase ({timestamp_ms} after {last_ms})")
    return int(timestamp_ms)


class FaceDetector:
    """Detects faces in RGB uint8 images. A context manager; ``close()`` may be called twice."""

    def __init__(
        self, settings: FaceDetectorSettings = FaceDetectorSettings(), *,
        model_path: str | Path | None = None, progress: bool = True,
    ) -> None:
        self.settings = settings
        self._mp_detector = None
        self._haar: cv2.CascadeClassifier | None = None
        self._last_ts: int | None = None
        self._closed = False
        why_not_mediapipe = "the Haar backend was asked for"
        if settings.backend in ("auto", "mediapipe"):
            try:
                self._mp_detector = _create_mediapipe(settings, model_path, progress)
            except ModelError as exc:
                if settings.backend == "mediapipe":
                    raise
                why_not_mediapipe = str(exc)
        if self._mp_detector is None:
            self._haar = _create_haar(why_not_mediapipe)
            if settings.backend == "auto":
                _announce_haar(why_not_mediapipe)

    @property
    def backend(self) -> str:
        """'mediapipe' or 'haar': the detector actually in use."""
        return "mediapipe" if self._mp_detector is not None else "haar"

    def detect(self, rgb: np.ndarray, timestamp_ms: int | None = None) -> list[Face]:
        """Faces in ``rgb`` (HxWx3 RGB, see ``as_rgb_uint8``), best score first.

        In video mode ``timestamp_ms`` is required and must increase from call to call.
        """
        if self._closed:
            raise RuntimeError("FaceDetector is closed")
        image = as_rgb_uint8(rgb)
        if self.settings.running_mode == "video":
            self._last_ts = next_video_timestamp(self._last_ts, timestamp_ms)
        if self._mp_detector is not None:
            faces = self._detect_mediapipe(image, timestamp_ms)
        else:
            faces = self._detect_haar(image)
        return sorted(faces, key=lambda f: -f.score)

    def _detect_mediapipe(self, image: np.ndarray, timestamp_ms: int | None) -> list[Face]:
        mp = import_mediapipe()
        h, w = image.shape[:2]
        mp_image = mp.Image(image_format=mp.ImageFormat.SRGB, data=image)
        if self.settings.running_mode == "video":
            result = self._mp_detector.detect_for_video(mp_image, int(timestamp_ms))
        else:
            result = self._mp_detector.detect(mp_image)
        faces = []
        for det in result.detections:
            bb = det.bounding_box
            score = float(det.categories[0].score) if det.categories else 0.0
            if score < self.settings.min_score:
                continue
            x0 = float(np.clip(bb.origin_x, 0, w))
            y0 = float(np.clip(bb.origin_y, 0, h))
            x1 = float(np.clip(bb.origin_x + bb.width, 0, w))
            y1 = float(np.clip(bb.origin_y + bb.height, 0, h))
            if x1 <= x0 or y1 <= y0:
                continue
            kps = tuple((float(k.x) * w, float(k.y) * h) for k in (det.keypoints or ()))
            faces.append(Face(x0, y0, x1, y1, score, kps))
        return faces

    def _detect_haar(self, image: np.ndarray) -> list[Face]:
        h, w = image.shape[:2]
        scale = min(1.0, self.settings.haar_max_side / max(h, w))
        gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        if scale < 1.0:
            gray = cv2.resize(gray, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
        gray = cv2.equalizeHist(gray)
        min_side = max(20, int(self.settings.haar_min_face_frac * min(gray.shape)))
        boxes, votes = self._haar.detectMultiScale2(
            gray, scaleFactor=1.1, minNeighbors=5, minSize=(min_side, min_side)
        )
        faces = []
        for (x, y, bw, bh), n in zip(np.asarray(boxes).reshape(-1, 4), np.asarray(votes).ravel()):
            # The cascade has no probability; neighbour votes saturating at 20 stand in for one.
            score = float(min(1.0, n / 20.0))
            if score < self.settings.min_score * 0.5:
                continue
            faces.append(Face(x / scale, y / scale, (x + bw) / scale, (y + bh) / scale, score))
        return faces

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._mp_detector is not None:
            self._mp_detector.close()
            self._mp_detector = None

    def __enter__(self) -> FaceDetector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _create_mediapipe(settings: FaceDetectorSettings, model_path: str | Path | None, progress: bool):
    from vidbokeh.stages import assets

    path = Path(model_path) if model_path is not None else assets.model_path(
        assets.FACE_DETECTOR, progress=progress
    )
    try:
        import_mediapipe()
        from mediapipe.tasks.python import BaseOptions, vision

        mode = vision.RunningMode.VIDEO if settings.running_mode == "video" else vision.RunningMode.IMAGE
        options = vision.FaceDetectorOptions(
            base_options=BaseOptions(model_asset_path=str(path)),
            running_mode=mode,
            min_detection_confidence=settings.min_score,
        )
        return vision.FaceDetector.create_from_options(options)
    except (ImportError, RuntimeError, ValueError, OSError) as exc:
        raise ModelError(f"MediaPipe face detector could not load {path}: {exc}") from exc


def _create_haar(why_not_mediapipe: str) -> cv2.CascadeClassifier:
    if not hasattr(cv2, "CascadeClassifier"):
        raise ModelError(f"no face detector: {why_not_mediapipe}; and OpenCV {cv2.__version__} has no Haar cascade "
                         "to fall back on (install opencv-contrib-python, not opencv-python)")
    path = Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml"
    cascade = cv2.CascadeClassifier(str(path))
    if cascade.empty():
        raise ModelError(f"OpenCV Haar face cascade could not load {path}")
    return cascade


def _announce_haar(reason: str) -> None:
    global _HAAR_WARNED
    if not _HAAR_WARNED:
        _HAAR_WARNED = True
        log.warning("face detection uses the OpenCV Haar cascade: %s", reason)


def scale_faces(faces: Sequence[Face], sx: float, sy: float) -> list[Face]:
    """Faces with boxes and keypoints scaled by (sx, sy): from a resized copy's pixels to the original's."""
    return [replace(f, x0=f.x0 * sx, y0=f.y0 * sy, x1=f.x1 * sx, y1=f.y1 * sy,
                    keypoints=tuple((x * sx, y * sy) for x, y in f.keypoints)) for f in faces]


def main_face(faces: list[Face] | tuple[Face, ...], shape: tuple[int, ...]) -> Face | None:
    """The main subject's face: the largest, favouring faces near the image centre.

    Ranks by area x (1 - 0.5 x distance of the face centre from the image centre, as a fraction
    of the half diagonal), so a face at a corner must be twice as large to win over a central one.
    """
    if not faces:
        return None
    h, w = shape[:2]
    half_diag = 0.5 * math.hypot(w, h)

    def rank(face: Face) -> float:
        cx, cy = face.center
        dist = math.hypot(cx - 0.5 * w, cy - 0.5 * h) / half_diag
        return face.area * (1.0 - 0.5 * min(1.0, dist))

    return max(faces, key=rank)
