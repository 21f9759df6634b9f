"""Still pictures, stateless: analyse once (the expensive part), render as often as the settings change.

    analyse_still(models, rgb, settings) -> StillAnalysis   depth, faces, person and protection masks
    render_analysis(analysis, settings) -> FrameResult      focus, blur radii (CoC) and the render: cheap
    render_still(models, rgb, settings) -> FrameResult      the two in one

A very large picture is analysed and rendered on a reduced copy and composited back (large_pictures.py).
``render_analysis(..., max_pixels=N)`` renders a preview: the analysis reduced to at most N pixels (made once
per size and kept with the analysis); the blur is a fraction of the picture's diagonal, so a preview looks
like the full render shrunk.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
import numpy as np

from ..errors import UsageError
from .frame import FrameResult, focus_and_coc, frame_ops, largest_blur, render, scale_faces, timed
from .large_pictures import focus_on_reduced, reduce, resized, to_full_size
from .models import Models
from .settings import EffectSettings, LiveControls
from .stage_settings import stage_settings
from .subject import find_still_subject, subject_map, subject_scale


@dataclass(frozen=True, eq=False)
class StillAnalysis:
    """What the models found in one picture; every array is in the working copy's pixels."""

    approach: str  # the resolved approach of the models that made it
    original: np.ndarray  # the picture as given (uint8 HxWx3 RGB)
    work: np.ndarray  # what the stages saw: ``original``, or a copy reduced to MAX_WORK_PIXELS
    depth: np.ndarray | None  # relative inverse depth (None for selfie)
    detected_faces: tuple  # stages.faces.Face: every face the detector found
    subject_faces: tuple  # the faces of the chosen subjects (= detected_faces without people/segmenter)
    person: np.ndarray | None  # the chosen subjects' person map (None without a segmenter)
    protect: np.ndarray  # protection mask for ``mask_key``
    mask_key: tuple  # (MaskSettings, person used): what ``protect`` was built with
    subject_scale: float = 0.0  # the subjects' head / the picture's height (engine.subject.subject_scale)
    timings: dict[str, float] = field(default_factory=dict)
    previews: dict[int, "StillAnalysis"] = field(default_factory=dict)  # reduced copies by max_pixels

    def subject(self, use_person: bool) -> tuple[list, np.ndarray | None]:
        """(faces, person map) to protect: the subjects' with their person map, or every face without one."""
        if use_person:
            return list(self.subject_faces), self.person
        return list(self.detected_faces), None


def analyse_still(models: Models, rgb: np.ndarray, settings: EffectSettings | None = None) -> StillAnalysis:
    """Depth, faces, people, the subject's person map and the protection mask of one picture.

    ``models`` in image mode. The subject is analysed whether or not the settings' strategy protects the
    person, so the analysis serves every strategy."""
    models.require_mode("image", "analyse_still")
    settings = models.settings_for(settings if settings is not None else models.settings)
    stages = stage_settings(settings)
    work = reduce(rgb)
    timings: dict[str, float] = {}
    depth = None
    if models.depth is not None:
        with timed(timings, "depth"):
            depth = models.depth.predict_batch([work], input_size=settings.depth_size)[0]
    detected, faces, person, people, chosen = find_still_subject(models, work, depth, timings)
    use_person = person is not None  # every strategy keeps the person map sharp (stages/presets.py)
    with timed(timings, "mask"):
        person = subject_map(work.shape, person, people, chosen)
        scale = subject_scale(work.shape, people, chosen)
        key = (stages.mask.for_subject(scale), use_person)
        protect = _protection_mask(work, faces if use_person else detected, person if use_person else None, key)
    return StillAnalysis(approach=models.approach, original=rgb, work=work, depth=depth, detected_faces=tuple(detected),
                         subject_faces=tuple(faces), person=person, protect=protect, mask_key=key,
                         subject_scale=scale, timings=timings)


def render_analysis(analysis: StillAnalysis, settings: EffectSettings,
                    controls: LiveControls = LiveControls(), *, max_pixels: int | None = None) -> FrameResult:
    """The picture rendered with ``settings`` from its analysis; the timings are this call's own.

    ``max_pixels``: a preview of at most that many pixels instead of the full picture (a focus point given in
    the picture's pixels still means the same place)."""
    if settings.approach not in ("auto", analysis.approach):
        raise UsageError(f"this analysis was made by {analysis.approach}, not {settings.approach}")
    stages = stage_settings(settings)
    timings: dict[str, float] = {}
    picture = analysis.original
    if max_pixels is not None:
        analysis = preview_analysis(analysis, max_pixels)
    work = analysis.work
    key = (stages.mask.for_subject(analysis.subject_scale), analysis.person is not None)
    faces, person = analysis.subject(key[1])
    protect = analysis.protect
    if key != analysis.mask_key:  # another strategy protects the faces differently
        with timed(timings, "mask"):
            protect = _protection_mask(work, faces, person, key)
    focus_settings = focus_on_reduced(stages.focus, picture, work)
    focus = coc = None
    ops = frame_ops(settings)
    with ops.guard():
        # the analysis stays on the host (it serves many renders, the web studio and --save-depth); each render
        # uploads the picture, depth and mask once and works on them on the frame path's device
        frame, protect_in = ops.upload(work), ops.upload(protect)
        with timed(timings, "focus"):
            if analysis.depth is not None:
                focus, coc = focus_and_coc(ops.upload(analysis.depth), faces, protect_in, focus_settings,
                                           analysis.approach, controls, ops=ops)
        with timed(timings, "render"):
            output, coc = render(frame, coc, protect_in, largest_blur(focus_settings, work.shape, controls),
                                 stages.bokeh, ops)
    result = FrameResult(output=output, depth=analysis.depth, protect=protect, coc=coc, focus=focus, faces=faces,
                         timings=timings)
    return to_full_size(result, analysis.original)


def preview_analysis(analysis: StillAnalysis, max_pixels: int) -> StillAnalysis:
    """``analysis`` on a copy of its picture with at most ``max_pixels`` pixels (itself when already that
    small); made once per size and kept with the analysis."""
    import cv2

    if max_pixels < 1:
        raise UsageError(f"a preview needs at least one pixel, got max_pixels={max_pixels}")
    h, w = analysis.work.shape[:2]
    if h * w <= max_pixels:
        return analysis
    found = analysis.previews.get(max_pixels)
    if found is not None:
        return found
    small = resized(analysis.work, (max_pixels / (h * w)) ** 0.5)
    sh, sw = small.shape[:2]

    def fit(plane: np.ndarray | None) -> np.ndarray | None:
        return None if plane is None else cv2.resize(plane, (sw, sh), interpolation=cv2.INTER_AREA)

    sx, sy = sw / w, sh / h
    preview = replace(analysis, original=small, work=small, depth=fit(analysis.depth), person=fit(analysis.person),
                      protect=fit(analysis.protect),
                      detected_faces=tuple(scale_faces(analysis.detected_faces, sx, sy)),
                      subject_faces=tuple(scale_faces(analysis.subject_faces, sx, sy)), timings={}, previews={})
    analysis.previews[max_pixels] = preview
    return preview


def render_still(models: Models, rgb: np.ndarray, settings: EffectSettings | None = None,
                 controls: LiveControls = LiveControls()) -> FrameResult:
    """One picture, analysed and rendered; the timings cover both."""
    analysis = analyse_still(models, rgb, settings)
    result = render_analysis(analysis, models.settings_for(settings if settings is not None else models.settings),
                             controls)
    timings = dict(analysis.timings)
    for stage, seconds in result.timings.items():
        timings[stage] = timings.get(stage, 0.0) + seconds
    result.timings = timings  # set, not replaced: a copy would bring the device maps to the host
    return result


def _protection_mask(work: np.ndarray, faces: list, person: np.ndarray | None, key: tuple) -> np.ndarray:
    from ..stages.masks import build_protection_mask

    return build_protection_mask(work, person, faces, key[0])
