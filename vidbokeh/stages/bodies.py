"""Body shapes drawn from what the detectors saw, for a person the segmenters missed (and as the region
where a person's segmentation is trusted).

From body landmarks: a head ellipse, the neck, a torso polygon and each limb as a thick stroke, every width
in head units (a person's ``unit``). From a face alone: head, neck and the shoulders-and-chest below it.
Only landmarks the model saw are drawn, so the shape is never more of a body than was found.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from vidbokeh.stages.faces import Face

# (from, to, half width in head units): arms, legs and feet of BlazePose's 33 landmarks
LIMBS = (
    (11, 13, 0.28), (13, 15, 0.22), (12, 14, 0.28), (14, 16, 0.22),  # arms
    (15, 19, 0.15), (16, 20, 0.15),  # hands
    (23, 25, 0.38), (25, 27, 0.28), (24, 26, 0.38), (26, 28, 0.28),  # legs
    (27, 31, 0.18), (28, 32, 0.18), (27, 29, 0.15), (28, 30, 0.15),  # feet
)
TORSO = (11, 12, 24, 23)


def draw_body(canvas: np.ndarray, landmarks: np.ndarray, unit: float, *, grow: float = 0.0,
              visible: float = 0.5) -> None:
    """Draw (255) the body of ``landmarks`` ((33, 3) x, y, visibility) on a uint8 canvas, every part
    ``grow`` head units wider on each side."""
    pts, seen = landmarks[:, :2], landmarks[:, 2] >= visible

    def px(i: int) -> tuple[int, int]:
        return (int(round(pts[i, 0])), int(round(pts[i, 1])))

    def stroke(a: int, b: int, half: float) -> None:
        if seen[a] and seen[b]:
            cv2.line(canvas, px(a), px(b), 255, _stroke_width(half + grow, unit), cv2.LINE_8)

    for a, b, half in LIMBS:
        stroke(a, b, half)
    if all(seen[i] for i in TORSO):
        cv2.fillConvexPoly(canvas, np.asarray([px(i) for i in TORSO], np.int32), 255)
        for a, b in zip(TORSO, TORSO[1:] + TORSO[:1]):  # a torso is wider than its joints
            stroke(a, b, 0.3)
    elif seen[11] and seen[12]:
        stroke(11, 12, 0.35)
    head_points = [i for i in range(11) if seen[i]]
    if head_points:
        centre = pts[head_points].mean(axis=0)
        if seen[11] and seen[12]:
            neck_base = 0.5 * (pts[11] + pts[12])
            cv2.line(canvas, tuple(int(v) for v in np.round(neck_base)), tuple(int(v) for v in np.round(centre)),
                     255, max(1, int(round(2 * (0.3 + grow) * unit))), cv2.LINE_8)
            up = centre - neck_base
        else:
            up = np.asarray([0.0, -1.0])
        angle = math.degrees(math.atan2(up[1], up[0])) + 90.0  # head's long axis along neck -> head
        axes = (int(round((0.45 + grow) * unit)), int(round((0.6 + grow) * unit)))
        centre_up = centre + 0.15 * unit * up / max(1e-6, float(np.hypot(*up)))
        cv2.ellipse(canvas, (int(round(centre_up[0])), int(round(centre_up[1]))), axes, angle, 0, 360, 255, -1)


def _stroke_width(half: float, unit: float) -> int:
    """A body part's stroke width in pixels from its half width in head units (one pixel at least)."""
    return max(1, int(round(2 * half * unit)))


def limb_parts(landmarks: np.ndarray, unit: float, shape: tuple[int, int], *, visible: float = 0.5
               ) -> list[tuple[tuple[int, int, int, int], np.ndarray]]:
    """Each limb of ``landmarks`` whose two ends were seen, drawn as in ``draw_body``: (its box x0, y0, x1, y1
    clipped to ``shape`` (h, w), a bool mask of that box). Empty where a limb leaves the frame entirely."""
    h, w = shape
    pts, seen = landmarks[:, :2], landmarks[:, 2] >= visible
    parts = []
    for a, b, half in LIMBS:
        if not (seen[a] and seen[b]):
            continue
        thick = _stroke_width(half, unit)
        pad = thick // 2 + 1
        x0 = max(0, int(math.floor(min(pts[a, 0], pts[b, 0]))) - pad)
        y0 = max(0, int(math.floor(min(pts[a, 1], pts[b, 1]))) - pad)
        x1 = min(w, int(math.ceil(max(pts[a, 0], pts[b, 0]))) + pad + 1)
        y1 = min(h, int(math.ceil(max(pts[a, 1], pts[b, 1]))) + pad + 1)
        if x1 <= x0 or y1 <= y0:
            continue
        box = np.zeros((y1 - y0, x1 - x0), np.uint8)
        ends = [(int(round(pts[i, 0])) - x0, int(round(pts[i, 1])) - y0) for i in (a, b)]
        cv2.line(box, ends[0], ends[1], 255, thick, cv2.LINE_8)
        parts.append(((x0, y0, x1, y1), box > 0))
    return parts


def draw_face_body(canvas: np.ndarray, face: Face, *, grow: float = 0.0) -> None:
    """Draw (255) the head, neck and shoulders-and-chest implied by a face box alone (an upright person)."""
    unit = max(face.width, face.height)
    cx, cy = face.center
    head_axes = (int(round((0.5 + grow) * face.width)), int(round((0.62 + grow) * face.height)))
    cv2.ellipse(canvas, (int(round(cx)), int(round(cy - 0.1 * face.height))), head_axes, 0, 0, 360, 255, -1)
    top = face.y1 + 0.1 * unit
    shoulders = top + 0.6 * unit
    bottom = top + 2.6 * unit
    g = grow * unit
    chest = np.asarray([
        (cx - 0.3 * unit - g, top - g), (cx + 0.3 * unit + g, top - g),  # neck
        (cx + 1.3 * unit + g, shoulders), (cx + 1.2 * unit + g, bottom + g),
        (cx - 1.2 * unit - g, bottom + g), (cx - 1.3 * unit - g, shoulders),
    ])
    cv2.fillPoly(canvas, [np.round(chest).astype(np.int32)], 255)


def body_zone(canvas: np.ndarray, face: Face, heads_below: float, width_heads: float) -> None:
    """Draw (255) where the body of a person known only by ``face`` can be: a column under the face,
    ``width_heads`` wide and ``heads_below`` face heights tall (used to trust a segmentation, never drawn
    as protection)."""
    unit = max(face.width, face.height)
    cx = 0.5 * (face.x0 + face.x1)
    x0, x1 = int(round(cx - 0.5 * width_heads * unit)), int(round(cx + 0.5 * width_heads * unit))
    y0, y1 = int(round(face.y0 - 0.8 * unit)), int(round(face.y1 + heads_below * unit))
    cv2.rectangle(canvas, (x0, y0), (x1, y1), 255, -1)
