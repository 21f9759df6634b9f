#!/usr/bin/env python3
"""The labelled clip's subject figures as a live session makes them (issue 10), against a file session's.

    python tools/eval_live_subjects.py [--clip MP4 --clip-masks DIR] [--live name=value,...] [--json out.json]

The clip's frames go through the engine's ``VideoSession`` in this process twice, selfie (no depth weights): as a
file (every stage on every frame) and as a live stream (``live_depth=pipeline.LatestWorker``: the live cadence of
``VideoProfile.live_segment_every``), with ``--live`` changes to the live run's ``VideoProfile`` (e.g.
``work_max_side=480``). Each output is measured against the labelled mask of its frame with the shared metric
(``$VIDBOKEH_SHARED/metrics/portrait_metrics.py``: median fg_psnr, bg_energy, sharp_iou, leak; the flicker ratio),
as ``tools/eval_subjects.py`` does for ``vidbokeh file`` (there through the encoder). Also printed: each run's
process CPU per frame (every thread) and the engine's stage times (wall ms per frame).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("VIDBOKEH_SHARED", ROOT.parent / "shared"))
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))


def run(frames: list[np.ndarray], labels: list[np.ndarray], profile, live: bool, metrics) -> dict:
    """Figures of one session over the frames (RGB), against the labelled masks (grey, person > 127)."""
    import cv2

    from eval_subjects import medians

    from vidbokeh.engine import EffectSettings, VideoSession, load_models
    from vidbokeh.pipeline import LatestWorker

    settings = EffectSettings(approach="selfie", video_profile=profile)
    outputs, stages = [], {}
    with load_models(settings, "video", progress=False) as models:
        with VideoSession(models, settings, live_depth=LatestWorker if live else None) as session:
            cpu0 = time.process_time()
            for i, rgb in enumerate(frames):
                result = session.process(rgb, i / 24.0)
                outputs.append(result.output)
                for k, v in result.timings.items():
                    stages[k] = stages.get(k, 0.0) + v
            cpu = time.process_time() - cpu0
    rows = [metrics.portrait_metrics(cv2.cvtColor(a, cv2.COLOR_RGB2BGR), cv2.cvtColor(b, cv2.COLOR_RGB2BGR), gt)
            for a, b, gt in zip(frames, outputs, labels)]
    n = len(frames)
    return {"median": medians(rows), "flicker": round(float(metrics.flicker(frames, outputs)), 4),
            "cpu_ms_per_frame": round(1000 * cpu / n, 1),
            "stage_ms": {k: round(1000 * v / n, 1) for k, v in sorted(stages.items())}}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clip", type=Path, default=SHARED / "samples" / "videos" / "davis2016_breakdance.mp4")
    ap.add_argument("--clip-masks", type=Path, default=SHARED / "samples" / "videos" / "davis2016_breakdance_masks")
    ap.add_argument("--live", default="", help="VideoProfile changes for the live run: name=value,...")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()

    import cv2

    from eval_subjects import load_metrics
    from eval_subjects import decode as decode_bgr
    from eval_video_profile import parse_changes

    from vidbokeh.engine.settings import VideoProfile

    metrics = load_metrics()
    frames = [np.ascontiguousarray(f[:, :, ::-1]) for f in decode_bgr(args.clip)]
    labels = [cv2.imread(str(args.clip_masks / f"{i:05d}.png"), cv2.IMREAD_GRAYSCALE) for i in range(len(frames))]
    if any(label is None for label in labels):
        raise SystemExit(f"a labelled mask is missing in {args.clip_masks}")
    file_run = run(frames, labels, VideoProfile(), False, metrics)
    live_run = run(frames, labels, replace(VideoProfile(), **parse_changes(args.live)), True, metrics)
    load = os.getloadavg()[0]
    print(f"clip {args.clip.name} ({len(frames)} labelled frames), selfie; live changes: {args.live or 'none'}; "
          f"load {load:.1f}")
    for name, r in (("file", file_run), ("live", live_run)):
        figures = " ".join(f"{k} {v}" for k, v in r["median"].items())
        print(f"{name:5} median {figures}; flicker {r['flicker']}; CPU {r['cpu_ms_per_frame']} ms/frame; "
              f"stages (wall ms) {r['stage_ms']}")
    if args.json:
        args.json.write_text(json.dumps({"load": load, "live_changes": args.live, "file": file_run,
                                         "live": live_run}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
