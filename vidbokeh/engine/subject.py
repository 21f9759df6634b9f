"""Who the subject is in a working copy: people (pose + full-range faces), the chosen subjects, their faces and
the person map; then the protection mask. Shared by stills and video (which reuses people between frames)."""
from __future__ import annotations

from functools import partial
from typing import Callable

import numpy as np

from .frame import timed
from .models import Models


def find_still_subject(models: Models, work: np.ndarray, depth, timings: dict[str, float]) -> tuple[list, ...]:
    """(every face the face detector found, then ``find_subject``'s four) for a still picture. With a side thread, the
    face detector runs there while the pose model runs here (its faces are wanted only after it: people.find); the
    "faces" timing is then the wait for them."""
    if models.faces is None:
        return ([], *find_subject(models, work, [], depth, None, timings))
    if models.side is None or models.people is None or models.segmenter is None:
        with timed(timings, "faces"):
            detected = models.faces.detect(work, None)
        return (detected, *find_subject(models, work, detected, depth, None, timings))
    with models.side.start(models.faces.detect, work, None) as pending:
        found = find_subject(models, work, pending.result, depth, None, timings)
        with timed(timings, "faces"):
            detected = pending.result()
    return (detected, *found)


def find_subject(models: Models, work: np.ndarray, faces: list | Callable[[], list], depth, ts_ms: int | None,
                 timings: dict[str, float], find_people: Callable | None = None,
                 refine_choice: Callable | None = None,
                 segment: Callable | None = None, ops=None) -> tuple[list, np.ndarray | None, list, list]:
    """(the subject's faces, the segmenter's person probability or None, people, which people are subjects).

    ``faces``: the face detector's, or (with a people finder) a call returning them, made once the pose model ran.

    ``find_people(work, faces) -> (people, faces)``: how people are found (default: the models' finder;
    video passes one that reuses the latest people between detections). ``refine_choice(people, chosen, shape)
    -> chosen``: a second say on who the subjects are (video: whoever moves against the scene joins them).
    ``segment(work, ts_ms, faces, upright_boxes) -> person probability``: how the person map is made (default: the
    models' segmenter; video passes one that carries the latest map between runs). ``depth``: a map of any size, a
    host array or the array operations ``ops``' own (a device map stays where it is; None: OpenCV's)."""
    if segment is None and models.side is not None and models.segmenter is not None:
        # The segmenter's first pass needs no one found yet: it runs on the side thread while the people are looked
        # for here; the crops' model runs after it are shared between the two threads (the segmenter and its twin).
        # The "segment" timing is then the wait for the first pass beyond the people's, plus the crops.
        # The full-range face detector runs there too, after it, while the pose model runs here (people.find).
        def share_runs(crops: list) -> list:
            return models.side.share(crops, models.segmenter.run, models.side_segmenter.run)

        if find_people is None and models.people is not None:
            find_people = partial(models.people.find, aside=models.side.start)
        with models.side.start(models.segmenter.first_pass, work) as coarse:
            return _find(models, work, faces, depth, ts_ms, timings, find_people, refine_choice,
                         lambda *args: models.segmenter.segment(*args, coarse=coarse.result(), run_many=share_runs),
                         ops)
    return _find(models, work, faces, depth, ts_ms, timings, find_people, refine_choice, segment, ops)


def _find(models: Models, work: np.ndarray, faces: list, depth, ts_ms: int | None, timings: dict[str, float],
          find_people: Callable | None, refine_choice: Callable | None, segment: Callable | None,
          ops) -> tuple[list, np.ndarray | None, list, list]:
    people: list = []
    chosen: list = []
    if models.people is not None:
        from ..stages import subjects

        with timed(timings, "people"):
            people, faces = (find_people or models.people.find)(work, faces)
            chosen = subjects.choose_subjects(people, work.shape, depth, ops=ops)
            if refine_choice is not None:
                chosen = refine_choice(people, chosen, work.shape)
            faces = [p.face for p, keep in zip(people, chosen) if keep and p.face is not None]
    person = None
    if models.segmenter is not None:
        with timed(timings, "segment"):
            person = (segment or models.segmenter.segment)(work, ts_ms, faces, [p.box for p in people if p.upright()])
    return faces, person, people, chosen


def subject_scale(shape: tuple[int, ...], people: list, chosen: list) -> float:
    """The chosen subjects' largest head (``Person.unit``) as a fraction of the picture's height; 0 without people.
    A standing person as tall as the picture has a head about 1/7.5 of it, a head-and-torso portrait 1/4 or more,
    in either orientation. What the protection mask's ramp and margin follow (``MaskSettings.for_subject``)."""
    units = [p.unit for p, keep in zip(people, chosen) if keep]
    return max(units) / max(1, shape[0]) if units else 0.0


def subject_map(shape: tuple[int, ...], person: np.ndarray | None, people: list, chosen: list, *,
                cut_pieces: bool = True) -> np.ndarray | None:
    """The person map of the chosen subjects only (the segmenter's map when no people were found).
    ``cut_pieces``: see ``stages.subjects.SubjectSettings`` (video passes False)."""
    if not people:
        return person
    from ..stages import subjects

    settings = subjects.SubjectSettings(cut_pieces=cut_pieces)
    return subjects.subject_person_map(shape[:2], person, people, chosen, settings)
