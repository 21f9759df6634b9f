#!/usr/bin/env python3
"""The layered render of this checkout against another checkout's, on the shared clips' real frames (issue 10).

    python tools/bench_render_revisions.py --base-code ../old-checkout [--clips a.mp4,b.mp4] [--rounds 10]
                                           [--cv-threads 2]

Each clip's frames 2, 7 and 12 go through this checkout's hybrid ``VideoSession`` (synthetic DA-V2-S weights) and
what its render is handed (frame, signed CoC, protection, settings) is kept. Then both renders draw those inputs
alternately in this one process (``--base-code``'s ``vidbokeh/render`` is loaded as a package of its own), for
``--rounds`` rounds: process CPU ms per frame (min and median over rounds), PSNR of this render against the
other's, and whether every fully protected pixel is the input's, bit for bit.
"""
from __future__ import annotations

import argparse
import importlib
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("VIDBOKEH_SHARED", ROOT.parent / "shared"))
CLIPS = ("sam2_juggle.mp4", "davis2016_breakdance.mp4", "intel_asl_book.mkv")
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))


def render_inputs(clip: Path, weights: Path, picks=(2, 7, 12)) -> list[tuple]:
    """(rgb, coc, protect, bokeh settings) handed to the render on the picked frames of a hybrid session."""
    import vidbokeh.engine.video as video
    from vidbokeh.engine import EffectSettings, VideoSession, load_models, resolve_approach
    from vidbokeh.media.sources import FileSource

    settings = resolve_approach(EffectSettings(approach="hybrid", weights=weights, device="cpu"))
    kept, real = [], video.render

    def spy(rgb, coc, protect, max_px, bokeh, ops):
        kept.append((np.array(rgb), None if coc is None else np.array(coc), np.array(protect), bokeh))
        return real(rgb, coc, protect, max_px, bokeh, ops)

    video.render = spy
    try:
        with load_models(settings, mode="video", progress=False) as models, FileSource(clip) as source:
            with VideoSession(models, settings) as session:
                for i, frame in enumerate(source):
                    session.process(frame.rgb, frame.time)
                    if i >= max(picks):
                        break
    finally:
        video.render = real
    return [kept[i] for i in picks if kept[i][1] is not None]


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float32) - b.astype(np.float32)) ** 2))
    return float("inf") if mse == 0 else 10 * float(np.log10(255.0**2 / mse))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base-code", type=Path, required=True, help="the other checkout")
    ap.add_argument("--clips", default=",".join(str(SHARED / "samples" / "videos" / c) for c in CLIPS))
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--cv-threads", type=int, default=None, help="cv2.setNumThreads (default: OpenCV's own)")
    args = ap.parse_args()
    import cv2

    import bench_video

    from vidbokeh.render import composite

    if args.cv_threads is not None:
        cv2.setNumThreads(args.cv_threads)
    with tempfile.TemporaryDirectory(prefix="vidbokeh-render-revisions-") as tmp:
        shutil.copytree(args.base_code / "vidbokeh" / "render", Path(tmp) / "render_base")
        sys.path.insert(0, tmp)
        base = importlib.import_module("render_base.composite")
        weights = Path(tmp) / "dav2_vits_synthetic.pt"
        bench_video.synthetic_weights(str(weights))
        print(f"this checkout's render against {args.base_code}'s; OpenCV threads {cv2.getNumThreads()}; "
              f"load {os.getloadavg()[0]:.1f}")
        for clip in (Path(c) for c in args.clips.split(",")):
            inputs = render_inputs(clip, weights)
            times: dict[str, list[float]] = {"base": [], "new": []}
            outputs: dict[str, list[np.ndarray]] = {}
            for _ in range(args.rounds):
                for name, module in (("base", base), ("new", composite)):
                    t0 = time.process_time()
                    outputs[name] = [module.render_bokeh(rgb, coc, p, s) for rgb, coc, p, s in inputs]
                    times[name].append(1000 * (time.process_time() - t0) / len(inputs))
            values = [psnr(a, b) for a, b in zip(outputs["base"], outputs["new"])]
            exact = all(np.array_equal(out[p >= 1.0], rgb[p >= 1.0]) for out, (rgb, _, p, _) in
                        zip(outputs["new"], inputs))
            lo_b, lo_n = min(times["base"]), min(times["new"])
            print(f"{clip.name:26} {len(inputs)} frames  render CPU ms min {lo_b:.1f} -> {lo_n:.1f} "
                  f"({lo_n / lo_b:.2f}x), median {np.median(times['base']):.1f} -> {np.median(times['new']):.1f}; "
                  f"PSNR {np.mean(values):.2f} dB mean, {min(values):.2f} worst; protected bit-exact {exact}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
