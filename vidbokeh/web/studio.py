"""The studio's one door to the engine: models loaded once and shared, photos decoded once, their analysis
(depth, faces, protection mask) cached so a slider change costs only focus + render.

Model use is serialised by one lock per loaded model set (detectors keep per-call state); the app calls these
blocking methods from its worker threads.
"""
from __future__ import annotations

import dataclasses
import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..engine import EffectSettings, FrameResult

log = logging.getLogger(__name__)

# Settings a render reads; every other preset field changes what the analysis holds.
RENDER_FIELDS = frozenset({"focus", "focus_point", "max_blur", "dof", "blur_foreground", "aperture_blades",
                           "highlight_bloom"})
_ANALYSES_PER_PHOTO = 3


@dataclass(eq=False)
class Photo:
    """One uploaded photo: its bytes, the decoded image and its cached analyses (per analysis settings)."""

    data: bytes
    image: Any  # the decoded image (pixels + format, EXIF, ICC)
    stem: str  # download-name stem
    analyses: dict = field(default_factory=dict)  # analysis key -> analysis, newest last

    @property
    def format(self) -> str:
        return self.image.format

    @property
    def size(self) -> tuple[int, int]:
        return self.image.size


def analysis_key(settings: EffectSettings) -> tuple:
    """What an analysis depends on: every settings field a render does not read."""
    return tuple((f.name, getattr(settings, f.name)) for f in dataclasses.fields(settings)
                 if f.name not in RENDER_FIELDS)


class Studio:
    """Models by resolved (approach, model, device, ...), shared by every browser session."""

    def __init__(self, base: EffectSettings, weights: Path | None = None, weights_model: str | None = None) -> None:
        self.base = base
        self.weights, self.weights_model = weights, weights_model
        self._models: dict[tuple, Any] = {}
        self._locks: dict[tuple, threading.Lock] = {}
        self._guard = threading.Lock()

    # -- photos --------------------------------------------------------------------------------
    def open_photo(self, data: bytes, stem: str) -> Photo:
        """Decode uploaded bytes (InputError, one line, when they are not a usable image)."""
        from ..media.images import read_image

        return Photo(data=data, image=read_image(data, name=f"{stem} (upload)"), stem=stem)

    def encode_like(self, photo: Photo, rgb: np.ndarray) -> bytes:
        """``rgb`` encoded as ``vidbokeh image`` writes it for this photo (format, EXIF, ICC, bit depth)."""
        from ..media.images import encode_image

        return encode_image(rgb, photo.format, like=photo.image)

    # -- models and rendering ------------------------------------------------------------------
    def prepare(self, settings: EffectSettings) -> EffectSettings:
        """``settings`` with the server's own weights file where the depth model asked for is the one it
        holds (clients never name files)."""
        from ..depth.registry import DEFAULT_MODELS

        if self.weights is None or settings.weights is not None or settings.approach == "selfie":
            return settings
        family = "midas" if settings.approach == "midas" else "depth_anything"
        model = settings.model or DEFAULT_MODELS[family]
        if model != self.weights_model:
            return settings
        return dataclasses.replace(settings, model=model, weights=self.weights)

    def _loaded(self, settings: EffectSettings):
        from ..engine import load_models, resolve_approach

        key = analysis_key(dataclasses.replace(settings, strategy="portrait"))
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            models = self._models.get(key)
            if models is None:
                log.info("loading models for %s", settings.approach)
                models = load_models(resolve_approach(settings), "image", progress=False)
                self._models[key] = models
        return models, lock

    def render(self, photo: Photo, settings: EffectSettings) -> FrameResult:
        """The effect on ``photo`` with ``settings`` (the analysis computed once per analysis settings)."""
        from ..engine import render_still

        settings = self.prepare(settings)
        models, lock = self._loaded(settings)
        with lock:
            return render_still(models, photo.image.rgb, settings)

    def close(self) -> None:
        with self._guard:
            for models in self._models.values():
                models.close()
            self._models.clear()

    # -- live ----------------------------------------------------------------------------------
    def open_live(self, settings: EffectSettings) -> "LiveStream":
        """A video session for one live connection (its own temporal state: smoothing, focus puller)."""
        from ..engine import load_models, resolve_approach

        settings = resolve_approach(self.prepare(settings))
        return LiveStream(load_models(settings, "video", progress=False), settings)


class LiveStream:
    """One live connection's video session; frames in order, live controls with each frame."""

    def __init__(self, models, settings: EffectSettings) -> None:
        from ..engine import VideoSession

        self._models = models
        try:
            self._session = VideoSession(models, settings)
        except BaseException:
            models.close()
            raise
        self.approach = models.approach

    def process(self, rgb: np.ndarray, timestamp: float, controls) -> np.ndarray:
        return self._session.process(rgb, timestamp, controls).output

    def close(self) -> None:
        self._models.close()
