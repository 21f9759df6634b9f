"""In video a person known by a weak face alone counts once seen again where it was (stages/lasting_faces.py)."""
from __future__ import annotations

import numpy as np
import pytest

from vidbokeh.errors import UsageError
from vidbokeh.stages.faces import Face
from vidbokeh.stages.lasting_faces import LastingSettings, lasting_people
from vidbokeh.stages.people import Person, face_unit


def _face_person(x: float, y: float, side: float, score: float) -> Person:
    face = Face(x, y, x + side, y + side, score)
    return Person(box=(face.x0, face.y0, face.x1, face.y1), unit=face_unit(face), source="face", face=face)


def _pose_person() -> Person:
    marks = np.zeros((33, 3), np.float32)
    return Person(box=(300.0, 50.0, 360.0, 300.0), unit=30.0, source="pose", landmarks=marks)


def test_the_first_detection_keeps_everyone() -> None:
    weak = _face_person(100, 100, 30, 0.55)
    assert lasting_people([weak], None) == [weak]


def test_a_weak_lone_face_seen_for_the_first_time_waits() -> None:
    weak, sure, posed = _face_person(100, 100, 30, 0.55), _face_person(200, 100, 30, 0.85), _pose_person()
    assert lasting_people([weak, sure, posed], []) == [sure, posed]


@pytest.mark.parametrize("x, y, side, kept", [
    (110, 95, 32, True),  # the same face a few frames on, moved a little
    (125, 100, 30, True),  # moved most of a head
    (160, 100, 30, False),  # two heads away: another place
    (100, 100, 60, False),  # twice the size: another face
])
def test_a_weak_lone_face_counts_when_seen_again_where_it_was(x, y, side, kept) -> None:
    weak = _face_person(100, 100, 30, 0.55)
    before = [Face(x, y, x + side, y + side, 0.6)]
    assert lasting_people([weak], before) == ([weak] if kept else [])


def test_bad_settings_are_refused() -> None:
    with pytest.raises(UsageError):
        LastingSettings(sure=1.5)
    with pytest.raises(UsageError):
        LastingSettings(size_ratio=0.5)
