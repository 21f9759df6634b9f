"""Video's protection mask held steady where the picture holds still (stages/steady_mask.py)."""
from __future__ import annotations

import numpy as np
import pytest

from vidbokeh.errors import UsageError
from vidbokeh.stages.steady_mask import SteadyMask, SteadySettings


def _picture(h: int = 60, w: int = 80, square_x: int = 10) -> np.ndarray:
    """A textured still picture with a bright square at ``square_x`` (what moves)."""
    rng = np.random.default_rng(3)
    rgb = np.repeat(rng.integers(40, 200, (h, w, 1), dtype=np.uint8), 3, axis=2)
    rgb[20:40, square_x:square_x + 20] = 250
    return rgb


def test_the_first_mask_is_taken_as_it_is() -> None:
    mask = np.random.default_rng(0).random((60, 80), dtype=np.float32)
    out = SteadyMask().update(_picture(), mask)
    assert np.array_equal(out, mask)


def test_where_the_picture_holds_still_a_mask_that_blinks_moves_part_of_the_way() -> None:
    steady, picture = SteadyMask(SteadySettings(follow=0.3)), _picture()
    on, off = np.ones((60, 80), np.float32), np.zeros((60, 80), np.float32)
    outs = [steady.update(picture, on if i % 2 == 0 else off) for i in range(12)]
    assert np.allclose(outs[1], 0.7)  # 1 -> 0 asked: 30 % of the way
    assert np.allclose(outs[2], 0.79)  # 0.7 -> 1: 30 % of the way
    changes = [float(np.abs(a - b).mean()) for a, b in zip(outs, outs[1:])]
    assert max(changes) <= 0.3 + 1e-6  # the masks asked for change by 1 a frame
    # it settles round the middle, swinging by 0.18 a frame (0.3 / 1.7) instead of 1
    assert 0.35 < float(outs[-1].mean()) < 0.65 and 0.35 < float(outs[-2].mean()) < 0.65
    assert abs(changes[-1] - 0.3 / 1.7) < 0.01


def test_where_the_picture_changes_the_new_mask_is_taken_at_once() -> None:
    steady = SteadyMask(SteadySettings(follow=0.3))
    before, after = np.zeros((60, 80), np.float32), np.zeros((60, 80), np.float32)
    before[20:40, 10:30] = 1.0
    after[20:40, 40:60] = 1.0  # the subject moved, and its mask with it
    steady.update(_picture(square_x=10), before)
    out = steady.update(_picture(square_x=40), after)
    assert np.array_equal(out[20:40, 40:60], after[20:40, 40:60])  # where he is now: sharp at once
    assert np.array_equal(out[20:40, 10:30], after[20:40, 10:30])  # where he was: the picture changed too
    assert np.array_equal(out[:20], after[:20])  # the still rest: the same mask, held or not


def test_the_mask_given_is_left_alone_and_what_comes_back_can_be_changed() -> None:
    steady, picture = SteadyMask(), _picture()
    first, second = np.ones((60, 80), np.float32), np.zeros((60, 80), np.float32)
    steady.update(picture, first)
    out = steady.update(picture, second)
    assert not second.any()
    out[:] = 5.0  # the caller works on it in place: what is held does not move
    assert np.allclose(steady.update(picture, second), 0.7 * 0.7)


def test_a_new_size_starts_over() -> None:
    steady = SteadyMask()
    steady.update(_picture(), np.ones((60, 80), np.float32))
    mask = np.zeros((30, 40), np.float32)
    assert np.array_equal(steady.update(_picture(30, 40), mask), mask)


def test_follow_one_is_off() -> None:
    steady, picture = SteadyMask(SteadySettings(follow=1.0)), _picture()
    steady.update(picture, np.ones((60, 80), np.float32))
    assert not steady.update(picture, np.zeros((60, 80), np.float32)).any()


@pytest.mark.parametrize("kwargs", [{"follow": 0.0}, {"follow": 1.5}, {"still": -1}, {"still": 256}])
def test_bad_settings_are_refused(kwargs: dict) -> None:
    with pytest.raises(UsageError):
        SteadySettings(**kwargs)
