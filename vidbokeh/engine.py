"""The effect: one approach's loaded models and the stages that turn a frame into its bokeh version.

Image mode, video mode and compare mode all go through ``Effect.process``; only video mode turns on
temporal state (depth smoothing, a focus puller, depth every N frames). The stages themselves live in
``vidbokeh.stages`` and ``vidbokeh.depth``; this module only chains them and times them.

Approaches:
    selfie          person segmentation, no depth: the subject sharp, the background uniformly blurred
    depth_anything  Depth-Anything depth drives the blur; faces protected
    midas           MiDaS depth drives the blur; faces protected
    hybrid          segmentation gives the subject's outline, depth how far each part of the background is
    auto            hybrid with Depth-Anything when its weights are cached or given, else selfie
"""
from __future__ import annotations

import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from .depth.registry import DEFAULT_MODELS, family_of
from .errors import UsageError

DEPTH_APPROACHES = ("depth_anything", "midas", "hybrid")
# hybrid: everything outside the person mask is background and gets at least this share of the largest blur
HYBRID_BACKGROUND_FLOOR = 0.5
VIDEO_DEPTH_SIZE = {"depth_anything": 266, "midas": 256}  # reduced depth resolution for video by default
# On a CPU depth is nearly all of a hybrid frame's time: 196 (14 x 14-px patches on the short side) costs about
# half of 266 and is ample for how far the background is (the subject's outline comes from the segmentation).
VIDEO_DEPTH_SIZE_CPU = {"depth_anything": 196, "midas": 256}
# Pictures larger than this run every stage (faces, segmentation, mask, depth, blur) on a copy reduced to this
# many pixels; the result is brought back to full size and composited over the original, so the sharp subject
# keeps its full-resolution pixels. Full size, a 12000x8000 photo peaked at 7.7 GB (the blur and the mask build
# float planes of 16 B/px) and took minutes; a blur this wide loses nothing visible at a third of the size.
MAX_WORK_PIXELS = 16_000_000
_COMPOSITE_ROWS = 1024  # full-size compositing runs in strips of this many rows (bounded temporaries)


@dataclass(frozen=True)
class VideoProfile:
    """What video mode trades for speed per frame (stills keep the full-quality settings).

    The subject stages (faces, people, segmentation, the protection mask) run on a copy no longer than
    ``work_max_side``; the mask is brought back to full size for the blur, so the sharp subject keeps
    its own full-resolution pixels. Faces and people are found every ``face_every`` frames and reused in
    between (a person moves little in a few frames; a person's own pose mask is used only in the frame it
    was found in, and the person mask follows every frame), without the stills' second look at a face's
    crop. Segmentation runs, as for stills, on tiles and on a crop around each person (``segment_tiles``):
    on the squashed whole frame alone a full-body person was mostly lost (median leak 0.69 on a labelled
    dance clip). The mask's guided-filter coefficients and its hole search use a copy no longer than
    ``mask_fit_side`` (the filter is still applied to the working copy's own luma).
    """

    work_max_side: int = 640  # 0 = full size
    face_every: int = 3
    segment_tiles: bool = True
    mask_fit_side: int = 320
    # Depth on a CPU runs beside the decoder, the encoder and the other stages. Its OpenMP threads spin-wait at
    # every barrier for a core the codec holds: on 2 cores, 2 depth threads made a 16-frame hybrid run 8x slower
    # than 1 (135 s vs 16 s, busy machine). None: one core less than the machine has (at least 1).
    cpu_depth_threads: int | None = None

    def __post_init__(self) -> None:
        if self.work_max_side < 0:
            raise UsageError(f"work_max_side must be >= 0, got {self.work_max_side}")
        if self.face_every < 1:
            raise UsageError(f"face_every must be >= 1, got {self.face_every}")
        if self.mask_fit_side < 16:
            raise UsageError(f"mask_fit_side must be >= 16, got {self.mask_fit_side}")
        if self.cpu_depth_threads is not None and self.cpu_depth_threads < 1:
            raise UsageError(f"cpu_depth_threads must be >= 1, got {self.cpu_depth_threads}")


@dataclass(frozen=True)
class EffectSettings:
    approach: str = "auto"
    model: str | None = None  # depth variant; None = the approach's default
    weights: Path | None = None  # depth weights file instead of the store
    device: str = "auto"
    strategy: str = "portrait"
    focus: float | None = None  # 0..1 of the depth range
    focus_point: tuple[float, float] | None = None
    max_blur: float | None = None  # fraction of the diagonal; None = the strategy's
    dof: float | None = None
    blur_foreground: bool | None = None
    aperture_blades: int | None = None
    highlight_bloom: bool = False
    depth_size: int | None = None  # None: the model's own for stills, reduced for video
    # video only
    video: bool = False
    depth_every: int = 1
    smoothing: float | None = None  # None = default strength; 0 = off
    video_profile: VideoProfile = VideoProfile()
    weights_note: str = ""  # e.g. "synthetic": shown wherever figures depend on these weights


@dataclass
class LiveControls:
    """Adjustments a live preview makes while running (keys); read by the processing stage."""

    blur_scale: float = 1.0
    focus_offset: float = 0.0  # added to the focus plane (0..1 of the depth range)


@dataclass
class FrameResult:
    output: np.ndarray  # uint8 HxWx3
    depth: np.ndarray | None  # float32 HxW relative inverse depth (larger = nearer), smoothed in video
    protect: np.ndarray  # float32 HxW, 1 = kept sharp
    coc: np.ndarray  # float32 HxW blur radius in pixels
    focus: float | None  # focus plane (normalised depth) or None for selfie
    faces: list = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)  # stage -> seconds


def resolve_approach(settings: EffectSettings, log: Callable[[str], None] | None = None) -> tuple[str, str | None]:
    """(approach, depth variant or None). ``auto`` never touches the network."""
    approach = settings.approach
    if approach not in ("auto", "selfie", *DEPTH_APPROACHES):
        raise UsageError(f"unknown approach {approach!r}")
    model = settings.model
    if model is not None and approach in ("depth_anything", "midas") and family_of(model) != approach:
        raise UsageError(f"--model {model} is not a {approach} model")
    if approach == "selfie":
        if model is not None or settings.weights is not None:
            raise UsageError("--model/--weights need a depth approach (depth_anything, midas, hybrid)")
        return "selfie", None
    if approach == "auto":
        model = model or DEFAULT_MODELS["depth_anything"]
        if settings.weights is not None or _weights_cached(model):
            if log:
                log(f"auto: using hybrid with {model}")
            return "hybrid", model
        if log:
            log(f"auto: using selfie (no {model} weights cached; `vidbokeh models fetch {model}` enables hybrid depth)")
        return "selfie", None
    if approach == "hybrid":
        return "hybrid", model or DEFAULT_MODELS["depth_anything"]
    return approach, model or DEFAULT_MODELS[approach]


def _weights_cached(model: str) -> bool:
    from .depth.catalog import is_cached

    return is_cached(model)


class Effect:
    """Loaded models for one approach. Not thread-safe: one pipeline stage owns it."""

    def __init__(self, settings: EffectSettings = EffectSettings(), *, log: Callable[[str], None] | None = None,
                 progress: bool = True) -> None:
        t0 = time.perf_counter()
        self.settings = settings
        self._log = log or (lambda msg: print(f"vidbokeh: {msg}", file=sys.stderr))
        self.approach, self.model_name = resolve_approach(settings, self._log)
        self.use_strategy(settings.strategy)
        self.live = LiveControls()
        self._faces = None
        self._segmenter = None
        self._people = None
        self._people_seen: tuple = ()  # video: the latest people found (working-copy pixels)
        self._depth = None
        self._smoother = None
        self._puller = None
        self._frame_index = 0
        self._faces_seen: list = []  # video: the latest detected faces (working-copy pixels)
        self._faces_age = 0  # video: frames since they were detected
        self._last_depth: np.ndarray | None = None
        self._last_time: float | None = None
        self._last_ts_ms: int | None = None
        try:
            from .stages.faces import FaceDetector, FaceDetectorSettings

            mode = "video" if settings.video else "image"
            self._faces = FaceDetector(FaceDetectorSettings(running_mode=mode), progress=progress)
            if self.approach in ("selfie", "hybrid"):
                from .stages.segmentation import PersonSegmenter, SegmenterSettings

                tiles = not settings.video or settings.video_profile.segment_tiles
                self._segmenter = PersonSegmenter(SegmenterSettings(running_mode=mode, tile=tiles, refine=tiles),
                                                  progress=progress)
                from .stages.people import PeopleFinder, PeopleSettings

                people = PeopleSettings(max_face_crops=0) if settings.video else PeopleSettings()
                self._people = PeopleFinder(people, progress=progress)
            if self.model_name is not None:
                from .depth import create_depth_model

                self._depth = create_depth_model(self.model_name, weights=settings.weights, device=settings.device)
                if settings.video and self.device == "cpu":
                    _limit_cpu_threads(settings.video_profile.cpu_depth_threads)
            if settings.video:
                from .stages.smoothing import DepthSmoother, FocusPuller, SmoothingSettings

                smooth = SmoothingSettings() if settings.smoothing is None else SmoothingSettings(strength=settings.smoothing)
                self._smoother = DepthSmoother(smooth) if smooth.strength > 0 else None
                self._puller = FocusPuller(smooth) if smooth.strength > 0 else None
        except BaseException:
            self.close()
            raise
        self.load_seconds = time.perf_counter() - t0

    def use_strategy(self, name: str) -> None:
        """Switch to another strategy (preset) without reloading any model (compare mode uses this)."""
        from .stages.presets import get_preset

        self.settings = replace(self.settings, strategy=name)
        self.preset = get_preset(name)
        self.focus_settings, self.bokeh_settings, self.mask_settings = _apply_overrides(self.preset, self.settings)
        if self.settings.video:
            fit = self.settings.video_profile.mask_fit_side
            self.mask_settings = replace(self.mask_settings, guided_max_side=min(fit, self.mask_settings.guided_max_side),
                                         fill_holes_max_side=min(fit, self.mask_settings.fill_holes_max_side))

    # -- description ---------------------------------------------------------------------------
    @property
    def device(self) -> str:
        return str(self._depth.device) if self._depth is not None else "cpu"

    @property
    def num_params(self) -> int:
        return int(self._depth.num_params) if self._depth is not None else 0

    @property
    def face_backend(self) -> str:
        return self._faces.backend if self._faces is not None else "none"

    @property
    def description(self) -> str:
        if self.model_name is None:
            return self.approach
        weights = f", weights: {self.settings.weights}" if self.settings.weights else ""
        note = f" [{self.settings.weights_note}]" if self.settings.weights_note else ""
        return f"{self.approach} ({self.model_name}{weights}{note})"

    @property
    def depth_size(self) -> int | None:
        if self.settings.depth_size is not None:
            return self.settings.depth_size
        if self.settings.video and self.model_name is not None:
            variant = self._depth.variant if self._depth is not None else None
            if variant is not None and getattr(variant, "fixed_input_size", False):
                return None
            sizes = VIDEO_DEPTH_SIZE_CPU if self.device == "cpu" else VIDEO_DEPTH_SIZE
            return sizes[family_of(self.model_name)]
        return None

    # -- processing -----------------------------------------------------------------------------
    def process(self, rgb: np.ndarray, timestamp: float | None = None) -> FrameResult:
        return self.process_batch([rgb], None if timestamp is None else [timestamp])[0]

    def process_batch(self, frames: list[np.ndarray], timestamps: list[float] | None = None) -> list[FrameResult]:
        """Process frames in order; depth runs as one batch where it runs on this call.

        Frames over ``MAX_WORK_PIXELS`` are processed at reduced size and returned at full size."""
        if not any(f.shape[0] * f.shape[1] > MAX_WORK_PIXELS for f in frames):
            return self._process_batch(frames, timestamps)
        reduced = [_reduce(f) for f in frames]
        scale = reduced[0].shape[1] / frames[0].shape[1]
        full_settings = self.focus_settings
        point = full_settings.focus_point
        if point is not None and not (point[0] <= 1 and point[1] <= 1):  # pixels of the full-size picture
            self.focus_settings = replace(full_settings, focus_point=(point[0] * scale, point[1] * scale))
        try:
            results = self._process_batch(reduced, timestamps)
        finally:
            self.focus_settings = full_settings
        return [_to_full_size(r, f) for r, f in zip(results, frames)]

    def _process_batch(self, frames: list[np.ndarray], timestamps: list[float] | None) -> list[FrameResult]:
        timings = [dict() for _ in frames]
        depths = self._depth_for(frames, timings)
        results = []
        for i, rgb in enumerate(frames):
            ts = None if timestamps is None else timestamps[i]
            results.append(self._finish(rgb, depths[i], ts, timings[i]))
        return results

    def _depth_for(self, frames: list[np.ndarray], timings: list[dict[str, float]]) -> list[np.ndarray | None]:
        if self._depth is None:
            return [None] * len(frames)
        every = max(1, self.settings.depth_every)
        todo = [i for i in range(len(frames)) if (self._frame_index + i) % every == 0 or self._last_depth is None and i == 0]
        fresh: dict[int, np.ndarray] = {}
        if todo:
            t0 = time.perf_counter()
            maps = self._depth.predict_batch([frames[i] for i in todo], input_size=self.depth_size)
            per = (time.perf_counter() - t0) / len(todo)
            for i, d in zip(todo, maps):
                fresh[i] = d
                timings[i]["depth"] = per
        out: list[np.ndarray | None] = []
        for i in range(len(frames)):
            if i in fresh:
                d = fresh[i]
                if self._smoother is not None:
                    t0 = time.perf_counter()
                    d = self._smoother.update(d, frames[i])
                    timings[i]["smooth"] = time.perf_counter() - t0
                self._last_depth = d
            out.append(self._last_depth)
        return out

    def _finish(self, rgb: np.ndarray, depth: np.ndarray | None, timestamp: float | None,
                timings: dict[str, float]) -> FrameResult:
        from .stages.bokeh import render_bokeh, render_uniform
        from .stages.focus import choose_focus, coc_map

        self._frame_index += 1
        ts_ms = None
        if self.settings.video:
            ts_ms = int(round((timestamp if timestamp is not None else self._frame_index / 30.0) * 1000))
            if self._last_ts_ms is not None and ts_ms <= self._last_ts_ms:
                ts_ms = self._last_ts_ms + 1  # MediaPipe's video mode needs strictly increasing times
            self._last_ts_ms = ts_ms
        faces, protect = self._subject(rgb, ts_ms, timings, depth)
        h, w = rgb.shape[:2]
        diag = float(np.hypot(h, w))
        max_px = self.focus_settings.max_blur * diag * self.live.blur_scale
        focus = None
        with _timed(timings, "focus"):
            if depth is not None:
                focus = choose_focus(depth, faces, protect, self.focus_settings)
                focus = float(np.clip(focus + self.live.focus_offset, 0.0, 1.0))
                if self._puller is not None:
                    dt = 1 / 30.0 if timestamp is None or self._last_time is None else max(1e-3, timestamp - self._last_time)
                    focus = self._puller.update(focus, dt, cut=self._smoother is not None
                                                and self._smoother.last_cut_reason == "frame")
                fs = self.focus_settings
                if self.live.blur_scale != 1.0:
                    fs = replace(fs, max_blur=fs.max_blur * self.live.blur_scale)
                coc = coc_map(depth, focus, fs, diag)
                if self.approach == "hybrid":
                    # The segmentation defines the subject; everything else is background and blurs at least
                    # this much, more the farther it is.
                    floor = (1.0 - protect) * np.float32(HYBRID_BACKGROUND_FLOOR * max_px)
                    # negative CoC (in front of the focus, with --blur-foreground) keeps its sign
                    coc = np.where(coc < 0, coc, np.maximum(coc, floor)).astype(np.float32)
        self._last_time = timestamp
        with _timed(timings, "render"):
            if depth is None:
                output = render_uniform(rgb, max_px, protect, self.bokeh_settings)
                coc = (1.0 - protect) * np.float32(max_px)
            else:
                output = render_bokeh(rgb, coc.astype(np.float32, copy=False), protect, self.bokeh_settings)
        return FrameResult(output=output, depth=depth, protect=protect, coc=coc, focus=focus, faces=faces,
                           timings=timings)

    def _subject(self, rgb: np.ndarray, ts_ms: int | None, timings: dict[str, float],
                 depth: np.ndarray | None = None) -> tuple[list, np.ndarray]:
        """(faces in ``rgb`` pixels, protection mask HxW): in video mode from a reduced working copy."""
        from .stages import subjects
        from .stages.masks import build_protection_mask

        h, w = rgb.shape[:2]
        profile = self.settings.video_profile
        work = rgb
        if self.settings.video and 0 < profile.work_max_side < max(h, w):
            import cv2

            scale = profile.work_max_side / max(h, w)
            with _timed(timings, "faces"):
                work = cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))),
                                  interpolation=cv2.INTER_AREA)
        with _timed(timings, "faces"):
            faces = self._detect_faces(work, ts_ms)
        people, chosen = [], []
        if self._people is not None and self.preset.protect_person:
            with _timed(timings, "people"):
                people, faces = self._find_people(work, faces)
                chosen = subjects.choose_subjects(people, work.shape, depth)
                faces = [p.face for p, keep in zip(people, chosen) if keep and p.face is not None]
        person = None
        if self._segmenter is not None and self.preset.protect_person:
            with _timed(timings, "segment"):
                person = self._segmenter.segment(work, ts_ms, faces)
        with _timed(timings, "mask"):
            if people:
                person = subjects.subject_person_map(work.shape[:2], person, people, chosen)
            protect = build_protection_mask(work, person, faces, self.mask_settings)
            if work is not rgb:
                import cv2

                protect = cv2.resize(protect, (w, h), interpolation=cv2.INTER_LINEAR)
                np.clip(protect, 0.0, 1.0, out=protect)
                faces = scale_faces(faces, w / work.shape[1], h / work.shape[0])
        return faces, protect

    def _find_people(self, rgb: np.ndarray, faces: list) -> tuple[list, list]:
        """(people, faces incl. the full-range detector's); in video mode found every ``face_every`` frames, the
        latest reused in between without their pose masks (those belong to the frame they were found in)."""
        if not self.settings.video or self._faces_age == 1:  # _detect_faces just ran the detector
            people, merged = self._people.find(rgb, faces)
            self._people_seen = (people, merged)
            return people, merged
        people, merged = self._people_seen or ([], faces)
        return [replace(p, mask=None, mask_box=None) for p in people], merged

    def _detect_faces(self, rgb: np.ndarray, ts_ms: int | None) -> list:
        """Faces in ``rgb``; in video mode detected every ``face_every`` frames, the latest reused between."""
        if self._faces is None:
            return []
        if not self.settings.video:
            return self._faces.detect(rgb, ts_ms)
        if self._faces_age % self.settings.video_profile.face_every == 0:
            self._faces_seen = self._faces.detect(rgb, ts_ms)
            self._faces_age = 0
        self._faces_age += 1
        return self._faces_seen

    def close(self) -> None:
        for part in (self._faces, self._segmenter, self._people):
            if part is not None:
                part.close()
        self._faces = self._segmenter = self._people = None
        self._depth = None

    def __enter__(self) -> "Effect":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _reduce(rgb: np.ndarray) -> np.ndarray:
    """``rgb`` shrunk to at most MAX_WORK_PIXELS (area averaging), or as it is when already that small."""
    import cv2

    h, w = rgb.shape[:2]
    if h * w <= MAX_WORK_PIXELS:
        return rgb
    scale = (MAX_WORK_PIXELS / (h * w)) ** 0.5
    return cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)


def _to_full_size(result: FrameResult, original: np.ndarray) -> FrameResult:
    """A result computed on a reduced copy, at the original's size: the maps upsampled, the output the original
    where protected and the upsampled blur elsewhere (blended by the upsampled protection mask)."""
    import cv2

    h, w = original.shape[:2]
    sh, sw = result.output.shape[:2]
    if (sh, sw) == (h, w):
        return result

    def up(a: np.ndarray) -> np.ndarray:
        return cv2.resize(a, (w, h), interpolation=cv2.INTER_LINEAR)

    protect = np.clip(up(result.protect.astype(np.float32, copy=False)), 0.0, 1.0)
    blurred = up(result.output)
    output = np.empty_like(original)
    for y0 in range(0, h, _COMPOSITE_ROWS):
        y1 = min(h, y0 + _COMPOSITE_ROWS)
        keep = np.ascontiguousarray(protect[y0:y1])
        output[y0:y1] = cv2.blendLinear(np.ascontiguousarray(original[y0:y1]), np.ascontiguousarray(blurred[y0:y1]),
                                        keep, 1.0 - keep)
    del blurred
    sx, sy = w / sw, h / sh
    coc = up(result.coc.astype(np.float32, copy=False))
    coc *= np.float32(sx)  # radii in full-size pixels
    faces = [replace(f, x0=f.x0 * sx, y0=f.y0 * sy, x1=f.x1 * sx, y1=f.y1 * sy,
                     keypoints=tuple((x * sx, y * sy) for x, y in f.keypoints)) for f in result.faces]
    depth = None if result.depth is None else up(result.depth.astype(np.float32, copy=False))
    return FrameResult(output=output, depth=depth, protect=protect, coc=coc, focus=result.focus, faces=faces,
                       timings=result.timings)


def _limit_cpu_threads(threads: int | None) -> None:
    """Cap torch's intra-op threads for depth on a CPU in video mode (see VideoProfile.cpu_depth_threads)."""
    import os

    import torch

    wanted = threads if threads is not None else max(1, (os.cpu_count() or 1) - 1)
    if wanted < torch.get_num_threads():
        torch.set_num_threads(wanted)


def scale_faces(faces: list, sx: float, sy: float) -> list:
    """Faces with boxes and keypoints scaled by (sx, sy): from a resized copy's pixels to the original's."""
    return [replace(f, x0=f.x0 * sx, y0=f.y0 * sy, x1=f.x1 * sx, y1=f.y1 * sy,
                    keypoints=tuple((x * sx, y * sy) for x, y in f.keypoints)) for f in faces]


def _apply_overrides(preset, s: EffectSettings):
    from .stages.masks import MaskSettings

    focus, bokeh = preset.focus, preset.bokeh
    mask = MaskSettings(protect_faces=preset.protect_faces)
    changes = {}
    if s.focus is not None:
        changes["focus"] = s.focus
    if s.focus_point is not None:
        changes["focus_point"] = s.focus_point
    if s.max_blur is not None:
        changes["max_blur"] = s.max_blur
    if s.dof is not None:
        changes["dof"] = s.dof
    if s.blur_foreground is not None:
        changes["blur_foreground"] = s.blur_foreground
    focus = replace(focus, **changes)
    bchanges = {"highlight_bloom": s.highlight_bloom or bokeh.highlight_bloom}
    if s.aperture_blades is not None:
        bchanges["aperture_blades"] = s.aperture_blades
    bokeh = replace(bokeh, **bchanges)
    return focus, bokeh, mask


@contextmanager
def _timed(timings: dict[str, float], stage: str) -> Iterator[None]:
    t0 = time.perf_counter()
    try:
        yield
    finally:
        timings[stage] = timings.get(stage, 0.0) + time.perf_counter() - t0
