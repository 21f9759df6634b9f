"""The studio's one door to the engine: models loaded once per (approach, model, device, ...) and shared by
every browser session, photos decoded once, and each photo's analysis (depth, faces, person and protection
masks: ``analyse_still``) cached, so a slider change or a tap costs only focus + render (``render_analysis``).

The detectors keep per-call state, so each loaded model set is used under its own lock; rendering from an
analysis needs no model and runs without it. The app calls these blocking methods from worker threads.
"""
from __future__ import annotations

import dataclasses
import logging
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..engine import EffectSettings, FrameResult
from ..pipeline import KeyedOnce

log = logging.getLogger(__name__)

# Fields that only change a call, not which models are loaded: the look (read by render_analysis), the
# strategy (its mask hints are applied from the cached person map), the renderer's backend (chosen per still)
# and the per-call depth/video knobs. Any other field (approach, model, weights, device, runtime...) is part of
# what is loaded.
_PER_CALL_FIELDS = frozenset({"strategy", "focus", "focus_point", "max_blur", "dof", "blur_foreground",
                              "aperture_blades", "highlight_bloom", "frame_backend", "depth_size", "video",
                              "depth_every", "smoothing", "video_profile", "weights_note"})
ANALYSES_PER_PHOTO = 2  # e.g. the approach before and after a change, so switching back is instant


@dataclass(eq=False)
class Photo:
    """One uploaded photo: its bytes, the decoded image and its cached analyses."""

    data: bytes
    image: Any  # the decoded image (pixels + format, EXIF, ICC)
    stem: str  # download-name stem
    analyses: "OrderedDict[tuple, Any]" = field(default_factory=OrderedDict)  # key -> StillAnalysis, newest last

    @property
    def format(self) -> str:
        return self.image.format

    @property
    def size(self) -> tuple[int, int]:
        return self.image.size


def models_key(settings: EffectSettings) -> tuple:
    """What the loaded models depend on: every settings field that is not per call (resolved settings)."""
    return tuple((f.name, getattr(settings, f.name)) for f in dataclasses.fields(settings)
                 if f.name not in _PER_CALL_FIELDS)


class Studio:
    """Models by resolved (approach, model, device, ...), shared by every browser session."""

    def __init__(self, base: EffectSettings, weights: Path | None = None, weights_model: str | None = None) -> None:
        self.base = base
        self.weights, self.weights_model = weights, weights_model
        self._models: KeyedOnce[Any] = KeyedOnce()

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

    def resolve(self, settings: EffectSettings) -> EffectSettings:
        """``settings`` with the server's weights where they apply and ``auto`` resolved (once per request, so
        the models and the analysis asked for agree)."""
        from ..engine import resolve_approach

        return resolve_approach(self.prepare(settings))

    @staticmethod
    def _load(resolved: EffectSettings) -> Any:
        from ..engine import load_models

        log.info("loading models for %s", resolved.approach)
        return load_models(resolved, "image", progress=False)

    def analysis(self, photo: Photo, resolved: EffectSettings) -> tuple[Any, bool]:
        """(the photo's analysis for these resolved settings, whether this call made it): computed on first
        use, then cached on the photo."""
        from ..engine import analyse_still

        key = (models_key(resolved), resolved.depth_size)
        found = photo.analyses.get(key)
        if found is not None:
            photo.analyses.move_to_end(key)
            return found, False
        with self._models.use(models_key(resolved), lambda: self._load(resolved)) as models:
            found = photo.analyses.get(key)  # another request may have made it meanwhile
            if found is not None:
                return found, False
            found = analyse_still(models, photo.image.rgb, resolved)
            photo.analyses[key] = found
            while len(photo.analyses) > ANALYSES_PER_PHOTO:
                photo.analyses.popitem(last=False)
        return found, True

    def render(self, photo: Photo, settings: EffectSettings, max_pixels: int | None = None) -> FrameResult:
        """The effect on ``photo`` with ``settings``: the cached analysis rendered, at full size or as a preview
        of at most ``max_pixels`` (``timings`` holds this call's stages; ``analyse_*`` are added when the
        analysis was made by this call)."""
        from ..engine import render_analysis

        resolved = self.resolve(settings)
        analysis, fresh = self.analysis(photo, resolved)
        result = render_analysis(analysis, resolved, max_pixels=max_pixels)
        if fresh:
            result.timings.update({f"analyse_{k}": v for k, v in analysis.timings.items()})
        return result

    def close(self) -> None:
        for models in self._models.drain():
            models.close()

    # -- live ----------------------------------------------------------------------------------
    def open_live(self, settings: EffectSettings) -> "LiveStream":
        """A video session for one live connection (its own temporal state: smoothing, focus puller)."""
        from ..engine import load_models

        resolved = self.resolve(settings)
        return LiveStream(load_models(resolved, "video", progress=False), resolved)


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
