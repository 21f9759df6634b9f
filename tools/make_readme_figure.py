#!/usr/bin/env python3
"""Make docs/before_after.jpg for the README: the sample portrait and what `vidbokeh image` makes of it.

    python tools/make_readme_figure.py [--approach auto]

Runs the real image path (the same as `vidbokeh image samples/obama_official_portrait.jpg`) into a
temporary folder and puts input and output side by side, each labelled.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--approach", default="auto")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "before_after.jpg")
    args = ap.parse_args()
    from vidbokeh.engine import EffectSettings
    from vidbokeh.image_mode import process_image

    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "portrait.jpg"
        shutil.copy(ROOT / "samples" / "obama_official_portrait.jpg", src)
        res = process_image(src, settings=EffectSettings(approach=args.approach))
        before = np.asarray(Image.open(src).convert("RGB"))
        after = np.asarray(Image.open(res.output).convert("RGB"))
    panels = []
    for img, label in ((before, "input"), (after, "vidbokeh image")):
        img = img.copy()
        scale = img.shape[0] / 1024
        cv2.putText(img, label, (int(20 * scale), int(60 * scale)), cv2.FONT_HERSHEY_SIMPLEX, 1.4 * scale,
                    (0, 0, 0), int(6 * scale), cv2.LINE_AA)
        cv2.putText(img, label, (int(20 * scale), int(60 * scale)), cv2.FONT_HERSHEY_SIMPLEX, 1.4 * scale,
                    (255, 255, 255), int(2 * scale), cv2.LINE_AA)
        panels.append(img)
    both = np.concatenate(panels, axis=1)
    h = 512
    both = cv2.resize(both, (int(both.shape[1] * h / both.shape[0]), h), interpolation=cv2.INTER_AREA)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(both).save(args.out, quality=88)
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
