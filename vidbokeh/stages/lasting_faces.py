"""In video, a person known by a weak face alone counts once the face is seen again where it was.

A still can spend a pose run on the crop under a face that has no body (``people.PeopleSettings.max_face_crops``);
video cannot afford it, so every face the detectors report at all becomes a person there, false ones included
(a knee, a bag, a fold of a curtain scoring 0.5). Such a person is a subject at its size, its region of the
person map is kept and a body is drawn under it; found in one detection and not the next, that patch of the
background turns sharp and blurred again every few frames. A real face stays where it was from one detection to
the next (people are looked for every few frames), a false one rarely does: a face-only person whose face the
detector is not sure of (below ``lone_face_score``, the bar a still's faces without a body must pass) is kept
when a face of about its size was found near it in the detection before. The stream's first detection, with
nothing before it, keeps everyone.

Figures (docs/benchmarks.md, ``tools/eval_subjects.py``): clips made of the shared labelled photos, each person moved
over the photo's still rest (``--moved``): median sharp_iou 0.650 -> 0.655, leak 0.032 -> 0.034, flicker 1.094 ->
1.091 (a dancer before her audience: 1.27 -> 1.16); the breakdance clip sharp_iou 0.281 -> 0.286, leak 0.018 -> 0.023
(in process); the photos seen through a panning camera unchanged.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

from vidbokeh.errors import UsageError
from vidbokeh.stages.faces import Face
from vidbokeh.stages.people import Person, face_unit


@dataclass(frozen=True)
class LastingSettings:
    sure: float = 0.8  # a face this sure needs no second sighting (``PeopleSettings.lone_face_score``)
    reach: float = 1.0  # seen again when the centres lie within this many head units of each other ...
    size_ratio: float = 1.5  # ... and the sizes differ by at most this factor

    def __post_init__(self) -> None:
        if not 0.0 <= self.sure <= 1.0:
            raise UsageError(f"sure must be in [0, 1], got {self.sure}")
        if self.reach < 0 or self.size_ratio < 1.0:
            raise UsageError("reach must be >= 0 and size_ratio >= 1")


def lasting_people(people: Sequence[Person], before: Sequence[Face] | None,
                   settings: LastingSettings = LastingSettings()) -> list[Person]:
    """``people`` less the face-only ones with a weak face that no face of ``before`` (every face of the
    detection before, in the same pixels; None: there was none) confirms."""
    if before is None:
        return list(people)
    return [p for p in people
            if p.source != "face" or p.face is None or p.face.score >= settings.sure
            or any(_same_place(p.face, f, settings) for f in before)]


def _same_place(face: Face, other: Face, settings: LastingSettings) -> bool:
    unit, other_unit = face_unit(face), face_unit(other)
    if min(unit, other_unit) <= 0 or max(unit, other_unit) > settings.size_ratio * min(unit, other_unit):
        return False
    (x, y), (ox, oy) = face.center, other.center
    return math.hypot(x - ox, y - oy) <= settings.reach * max(unit, other_unit)
