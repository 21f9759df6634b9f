"""The loaded models of one resolved approach: face detector, person segmenter, depth model.

Loaded once and reused for every picture or frame (a web server or a Ray actor keeps one for every item).
Calls on one ``Models`` do not overlap: a caller that shares it between threads takes turns. In
``mode="video"`` the detectors run in MediaPipe's video mode (increasing timestamps, kept increasing from one
VideoSession to the next), for one session at a time; in ``mode="image"`` every call is independent.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any, Literal

from ..errors import UsageError
from .approach import resolve_approach
from .settings import EffectSettings

Mode = Literal["image", "video"]


@dataclass(eq=False)
class Models:
    settings: EffectSettings  # resolved: approach never "auto", model filled for a depth approach
    mode: Mode
    faces: Any = None  # stages.faces.FaceDetector
    segmenter: Any = None  # stages.segmentation.PersonSegmenter (selfie and hybrid)
    people: Any = None  # stages.people.PeopleFinder (selfie and hybrid)
    depth: Any = None  # depth.DepthModel (depth approaches)
    # image mode with a segmenter and people: the thread that makes a picture's first segmentation pass while the
    # people are looked for on the caller's (pipeline.SideThread), and the segmenter's twin it shares crops with
    side: Any = None
    side_segmenter: Any = None
    load_seconds: float = 0.0
    video_clock_ms: int | None = None  # the last timestamp the video-mode detectors were given

    @property
    def approach(self) -> str:
        return self.settings.approach

    @property
    def model_name(self) -> str | None:
        return self.settings.model

    @property
    def device(self) -> str:
        return str(self.depth.device) if self.depth is not None else "cpu"

    @property
    def num_params(self) -> int:
        return int(self.depth.num_params) if self.depth is not None else 0

    @property
    def face_backend(self) -> str:
        return self.faces.backend if self.faces is not None else "none"

    @property
    def description(self) -> str:
        if self.model_name is None:
            return self.approach
        weights = f", weights: {self.settings.weights}" if self.settings.weights else ""
        note = f" [{self.settings.weights_note}]" if self.settings.weights_note else ""
        return f"{self.approach} ({self.model_name}{weights}{note})"

    def settings_for(self, settings: EffectSettings) -> EffectSettings:
        """``settings`` resolved to these models' approach and model; UsageError when they ask for others."""
        same_approach = settings.approach in ("auto", self.approach)
        same_model = settings.model is None or settings.model == self.model_name
        if not (same_approach and same_model):
            asked = settings.approach + (f" ({settings.model})" if settings.model else "")
            raise UsageError(f"these models are loaded for {self.description}, not for {asked}")
        if settings.approach == self.approach and settings.model == self.model_name:
            return settings
        return replace(settings, approach=self.approach, model=self.model_name)

    def video_timestamp(self, stream_ms: int) -> int:
        """The detectors' timestamp for a frame at ``stream_ms``: MediaPipe's video mode needs them strictly
        increasing, across every session these models serve one after another (a stream that starts again
        at 0, or a frame that repeats a time, moves on by a millisecond)."""
        ts_ms = stream_ms if self.video_clock_ms is None else max(stream_ms, self.video_clock_ms + 1)
        self.video_clock_ms = ts_ms
        return ts_ms

    def require_mode(self, mode: Mode, what: str) -> None:
        if self.mode != mode:
            raise UsageError(f"{what} needs models loaded with mode={mode!r}, these have mode={self.mode!r}")

    def close(self) -> None:
        """Release the detectors (idempotent); a call still running on the side thread ends first."""
        if self.side is not None:
            self.side.close()
        for part in (self.faces, self.segmenter, self.side_segmenter, self.people):
            if part is not None:
                part.close()
        self.faces = self.segmenter = self.side_segmenter = self.people = self.depth = self.side = None

    def __enter__(self) -> "Models":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def load_models(settings: EffectSettings, mode: Mode = "image", *, progress: bool = True) -> Models:
    """Load what ``settings``' approach needs (``auto`` is resolved first, see resolve_approach)."""
    if mode not in ("image", "video"):
        raise UsageError(f"mode must be 'image' or 'video', got {mode!r}")
    t0 = time.perf_counter()
    settings = resolve_approach(settings)
    models = Models(settings=settings, mode=mode)
    try:
        # Depth first: its weights are what is most often missing, and then nothing else has been loaded.
        if settings.model is not None:
            from ..depth import create_depth_model

            models.depth = create_depth_model(settings.model, weights=settings.weights, device=settings.device,
                                              runtime=settings.runtime)
            if mode == "video" and models.device == "cpu":
                _limit_cpu_threads(settings.video_profile.cpu_depth_threads)
        from ..stages.faces import FaceDetector, FaceDetectorSettings

        models.faces = FaceDetector(FaceDetectorSettings(running_mode=mode), progress=progress)
        if settings.approach in ("selfie", "hybrid"):
            from ..stages.segmentation import PersonSegmenter, SegmenterSettings

            tiles = mode == "image" or settings.video_profile.segment_tiles
            models.segmenter = PersonSegmenter(SegmenterSettings(running_mode=mode, tile=tiles, refine=tiles),
                                               progress=progress)
            from ..stages.people import PeopleFinder, PeopleSettings

            people = PeopleSettings(max_face_crops=0) if mode == "video" else PeopleSettings()
            models.people = PeopleFinder(people, progress=progress)
            if mode == "image":
                from ..pipeline import SideThread

                models.side = SideThread("vidbokeh-segment")
                models.side_segmenter = models.segmenter.twin()
    except BaseException:
        models.close()
        raise
    models.load_seconds = time.perf_counter() - t0
    return models


def _limit_cpu_threads(threads: int | None) -> None:
    """Cap torch's intra-op threads for depth on a CPU in video mode (see VideoProfile.cpu_depth_threads)."""
    import os

    import torch

    wanted = threads if threads is not None else max(1, (os.cpu_count() or 1) - 1)
    if wanted < torch.get_num_threads():
        torch.set_num_threads(wanted)
