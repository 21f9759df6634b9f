"""Faces kept sharp as the shape they are: the head (hair included) as the person map outlines it.

A face box says where a head is but not its outline. An ellipse around it wide enough for hair also holds a
ring of background, which then stays sharp around every face. So a face is protected where the person map
sees the person, inside a generous head ellipse: the head's own outline, hair included, never the background
around it. Where the person map does not see this face at all (the segmenter missed it), only the face itself
is protected: an ellipse inside its box.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import numpy as np

from vidbokeh.stages.faces import Face
from vidbokeh.stages.mask_ops import soft_threshold

if TYPE_CHECKING:
    from vidbokeh.stages.masks import MaskSettings

# the face itself: an ellipse this share of the box wide and tall, centred this share of its height above
_FACE_ONLY = (1.0, 1.1, 0.05)
_SEEN = 0.5  # the person map's mean over a face's middle at and above which it sees that face


def trusted_faces(faces: Sequence[Face], person_prob: np.ndarray | None, sure_score: float) -> list[Face]:
    """Faces to force sharp: all confident ones; a weak one only if the segmenter sees a person
    over its middle (a weak detection on a patterned background must not carve out a sharp
    disc). Without a person mask every face counts."""
    if person_prob is None:
        return list(faces)
    return [face for face in faces if face.score >= sure_score or _middle_mean(person_prob, face) >= _SEEN]


def _middle_mean(prob: np.ndarray, face: Face) -> float:
    h, w = prob.shape
    cx, cy = face.center
    qx, qy = 0.25 * face.width, 0.25 * face.height
    x0, x1 = int(max(0, cx - qx)), int(min(w, cx + qx + 1))
    y0, y1 = int(max(0, cy - qy)), int(min(h, cy + qy + 1))
    if x1 <= x0 or y1 <= y0:
        return 0.0
    return float(prob[y0:y1, x0:x1].mean())


def ellipse_patch(shape: tuple[int, int], face: Face, width_scale: float, height_scale: float,
                  shift: float) -> tuple[np.ndarray, tuple[int, int, int, int]] | None:
    """(patch, (x0, y0, x1, y1)): 1 inside an ellipse ``width_scale`` x ``height_scale`` of the face box,
    centred ``shift`` box heights above its centre, with a soft rim of ~6% of its size; None when empty."""
    h, w = shape
    cx, cy = face.center
    cy -= shift * face.height
    ax, ay = 0.5 * width_scale * face.width, 0.5 * height_scale * face.height
    if ax < 1 or ay < 1:
        return None
    x0, x1 = max(0, int(cx - ax) - 1), min(w, int(cx + ax) + 2)
    y0, y1 = max(0, int(cy - ay) - 1), min(h, int(cy + ay) + 2)
    if x1 <= x0 or y1 <= y0:
        return None
    # normalised distance from the centre, from two 1-D terms (one 2-D pass each step, float32)
    dx2 = np.square((np.arange(x0, x1, dtype=np.float32) - np.float32(cx)) / np.float32(ax))
    dy2 = np.square((np.arange(y0, y1, dtype=np.float32) - np.float32(cy)) / np.float32(ay))
    soft = np.sqrt(dy2[:, None] + dx2[None, :])
    soft -= 1.0
    soft *= np.float32(-1.0 / 0.06)  # 1 inside, 0 outside, thin ramp at the rim
    np.clip(soft, 0.0, 1.0, out=soft)
    return soft, (x0, y0, x1, y1)


def face_ellipses(shape: tuple[int, int], faces: Sequence[Face], settings: MaskSettings) -> np.ndarray:
    """1 inside the generous head ellipse of each face (room for hair), soft rim: the outer bound of a head."""
    out = np.zeros(shape, np.float32)
    for face in faces:
        found = ellipse_patch(shape, face, settings.face_width_scale, settings.face_height_scale,
                              settings.face_center_shift)
        if found is not None:
            patch, (x0, y0, x1, y1) = found
            np.maximum(out[y0:y1, x0:x1], patch, out=out[y0:y1, x0:x1])
    return out


def head_shapes(shape: tuple[int, int], faces: Sequence[Face], person: np.ndarray | None,
                settings: MaskSettings) -> np.ndarray:
    """HxW float32: each face's head as ``person`` (a soft person mask) outlines it inside the head ellipse;
    the face alone where ``person`` does not see that face."""
    out = np.zeros(shape, np.float32)
    for face in faces:
        seen = person is not None and _middle_mean(person, face) >= _SEEN
        if seen:
            found = ellipse_patch(shape, face, settings.face_width_scale, settings.face_height_scale,
                                  settings.face_center_shift)
        else:
            found = ellipse_patch(shape, face, *_FACE_ONLY)
        if found is None:
            continue
        patch, (x0, y0, x1, y1) = found
        if seen:
            patch *= soft_threshold(person[y0:y1, x0:x1], settings.head_low, settings.head_high)
        np.maximum(out[y0:y1, x0:x1], patch, out=out[y0:y1, x0:x1])
    return out
