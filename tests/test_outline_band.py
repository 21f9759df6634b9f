"""The person's outline (issue 12): no band of sharp background follows it, and the person's own edge stays sharp.

On the hand-labelled DAVIS frames through the engine's still path (selfie, what ``auto`` takes without depth
weights), the protection mask is read against the labelled outline at distances in pixels: background a little
outside the outline must be left to the blur, the person a little inside it must be kept. The three breakdance
frames are left out: a crowd of unlabelled people stands right behind the dancer, so the background beside his
outline is people.
"""
from __future__ import annotations

import math
import statistics
from pathlib import Path

import cv2
import numpy as np
import pytest


@pytest.fixture(scope="module")
def outlines(samples_dir: Path) -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray]]:
    """(name, protection mask, distance outside the labelled outline, distance inside it) per frame."""
    from vidbokeh.engine import EffectSettings, analyse_still, load_models

    folder = samples_dir / "portraits"
    rows = []
    with load_models(EffectSettings(approach="selfie"), "image", progress=False) as models:
        for path in sorted((folder / "images").glob("*.jpg")):
            if "breakdance" in path.stem:
                continue
            rgb = cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
            person = cv2.imread(str(folder / "masks" / f"{path.stem}.png"), cv2.IMREAD_GRAYSCALE) > 127
            protect = analyse_still(models, rgb).protect
            outside = cv2.distanceTransform((~person).astype(np.uint8), cv2.DIST_L2, 3)
            inside = cv2.distanceTransform(person.astype(np.uint8), cv2.DIST_L2, 3)
            rows.append((path.stem, protect, outside, inside))
    assert len(rows) == 6
    return rows


def _share_kept(protect: np.ndarray, distance: np.ndarray, near: float, far: float) -> float:
    ring = (distance > near) & (distance <= far)
    return float((protect[ring] >= 0.5).mean())


def test_background_beside_the_outline_is_blurred(outlines) -> None:
    """Background 0.8-1.2% of the diagonal outside the labelled outline (8-12 px on these 854x480 frames): what
    stays sharp there is the band the live window showed. Measured: median 0.08, worst 0.21 of it kept."""
    shares = {}
    for name, protect, outside, _ in outlines:
        diag = math.hypot(*protect.shape)
        shares[name] = _share_kept(protect, outside, 0.008 * diag, 0.012 * diag)
    assert statistics.median(shares.values()) <= 0.15, shares
    assert max(shares.values()) <= 0.3, shares


def test_the_person_inside_the_outline_is_kept(outlines) -> None:
    """The person 0.2-0.6% of the diagonal inside the labelled outline (2-6 px here) stays protected: tightening
    the outline must not cut limbs and hair. Measured: median 0.99, worst 0.83 (dance-twirl_00040: ribbons)."""
    shares = {}
    for name, protect, _, inside in outlines:
        diag = math.hypot(*protect.shape)
        shares[name] = _share_kept(protect, inside, 0.002 * diag, 0.006 * diag)
    assert statistics.median(shares.values()) >= 0.9, shares
    assert min(shares.values()) >= 0.7, shares
