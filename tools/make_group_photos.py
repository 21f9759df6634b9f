#!/usr/bin/env python3
"""Labelled group and full-body photos made from the shared labelled frames, for issue 12's figures.

    python tools/make_group_photos.py OUT_DIR [--portraits DIR] [--background PNG]
    python tools/eval_subjects.py --photos OUT_DIR --skip-clip

The shared set has one labelled person per photo; the photos that lose people (issue 12) are groups, full-body
shots, black-and-white and backlit people. This cuts the labelled people out of ``../shared/samples/portraits``
(their own masks) and stands them on the floor of a people-free room (``../shared/samples/depth``'s TUM frame)
at the sizes each scene asks for, so every person in the picture is labelled: ``OUT_DIR/images/NAME.jpg`` and
``OUT_DIR/masks/NAME.png`` (255 = person), the layout ``eval_subjects.py --photos`` reads. Deterministic: the
same inputs make the same files. The pictures are made here and never shipped (the frames are DAVIS's).
"""
from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("VIDBOKEH_SHARED", ROOT.parent / "shared"))
SIZE = (1280, 960)  # width, height of every scene
FLOOR = 0.97  # feet stand on this fraction of the height


@dataclass(frozen=True)
class Placed:
    frame: str  # a labelled frame's stem in the portraits folder
    height: float  # the person's height as a fraction of the scene's
    centre: float  # horizontal centre as a fraction of the width
    gain: float = 1.0  # brightness of this person (< 1: backlit)


@dataclass(frozen=True)
class Scene:
    name: str
    people: tuple[Placed, ...]
    grey: bool = False


TWIRL, PARKOUR, TWIRL_B, DANCER = ("davis2016_dance-twirl_00000", "davis2016_parkour_00040",
                                   "davis2016_dance-twirl_00040", "davis2016_breakdance_00040")
SCENES = (
    Scene("pair", (Placed(TWIRL, 0.78, 0.32), Placed(PARKOUR, 0.70, 0.68))),
    Scene("pair_black_and_white", (Placed(TWIRL, 0.78, 0.32), Placed(PARKOUR, 0.70, 0.68)), grey=True),
    Scene("pair_one_backlit", (Placed(TWIRL, 0.78, 0.30), Placed(TWIRL_B, 0.80, 0.70, gain=0.35))),
    Scene("three_sizes", (Placed(TWIRL, 0.82, 0.22), Placed(PARKOUR, 0.62, 0.52), Placed(TWIRL_B, 0.50, 0.80))),
    Scene("four_full_body_small", tuple(Placed(f, 0.40, c) for f, c in
                                        ((TWIRL, 0.14), (PARKOUR, 0.38), (TWIRL_B, 0.62), (DANCER, 0.86)))),
    Scene("one_off_centre", (Placed(PARKOUR, 0.60, 0.26),)),
)


def cut_out(portraits: Path, stem: str) -> tuple[np.ndarray, np.ndarray]:
    """(BGR crop, float alpha in 0..1) of the labelled person in ``stem``, cropped to the label's box."""
    import cv2

    bgr = cv2.imread(str(portraits / "images" / f"{stem}.jpg"), cv2.IMREAD_COLOR)
    label = cv2.imread(str(portraits / "masks" / f"{stem}.png"), cv2.IMREAD_GRAYSCALE)
    if bgr is None or label is None:
        raise SystemExit(f"{stem}: labelled frame not found under {portraits}")
    ys, xs = np.nonzero(label > 127)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    return bgr[y0:y1, x0:x1], (label[y0:y1, x0:x1] > 127).astype(np.float32)


def compose(scene: Scene, background: np.ndarray, portraits: Path) -> tuple[np.ndarray, np.ndarray]:
    """(BGR picture, uint8 person mask) of one scene; later people stand in front of earlier ones."""
    import cv2

    width, height = SIZE
    picture = cv2.resize(background, SIZE, interpolation=cv2.INTER_CUBIC).astype(np.float32)
    mask = np.zeros((height, width), np.uint8)
    for person in scene.people:
        crop, alpha = cut_out(portraits, person.frame)
        scale = person.height * height / crop.shape[0]
        w, h = max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale))
        crop = cv2.resize(crop, (w, h), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
        alpha = cv2.resize(alpha, (w, h), interpolation=cv2.INTER_LINEAR)
        alpha = cv2.GaussianBlur(alpha, (3, 3), 0)  # a 1-px soft edge, as a camera's
        x0 = int(round(person.centre * width - w / 2))
        y1 = int(round(FLOOR * height))
        y0 = y1 - h
        sx0, sy0 = max(0, -x0), max(0, -y0)
        dx0, dy0 = max(0, x0), max(0, y0)
        dx1, dy1 = min(width, x0 + w), min(height, y1)
        a = alpha[sy0:sy0 + dy1 - dy0, sx0:sx0 + dx1 - dx0, None]
        fg = crop[sy0:sy0 + dy1 - dy0, sx0:sx0 + dx1 - dx0].astype(np.float32) * person.gain
        region = picture[dy0:dy1, dx0:dx1]
        picture[dy0:dy1, dx0:dx1] = region * (1.0 - a) + fg * a
        mask[dy0:dy1, dx0:dx1][a[..., 0] > 0.5] = 255  # everyone is a person, in front or behind
    picture = np.clip(picture + 0.5, 0, 255).astype(np.uint8)
    if scene.grey:
        picture = cv2.cvtColor(cv2.cvtColor(picture, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    return picture, mask


def make(out: Path, portraits: Path, background_path: Path) -> list[str]:
    import cv2

    background = cv2.imread(str(background_path), cv2.IMREAD_COLOR)
    if background is None:
        raise SystemExit(f"{background_path}: background picture not found")
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "masks").mkdir(parents=True, exist_ok=True)
    names = []
    for scene in SCENES:
        picture, mask = compose(scene, background, portraits)
        cv2.imwrite(str(out / "images" / f"{scene.name}.jpg"), picture, [cv2.IMWRITE_JPEG_QUALITY, 95])
        cv2.imwrite(str(out / "masks" / f"{scene.name}.png"), mask)
        names.append(scene.name)
    return names


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--portraits", type=Path, default=SHARED / "samples" / "portraits")
    parser.add_argument("--background", type=Path, default=SHARED / "samples" / "depth" / "tum_open3d_color.png")
    args = parser.parse_args(argv)
    names = make(args.out, args.portraits, args.background)
    print(f"{len(names)} labelled scenes in {args.out}: {', '.join(names)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
