#!/usr/bin/env python3
"""What a video frame costs outside the depth model (issue 10): process CPU per frame of ``VideoSession.process``.

    python tools/bench_frame_cost.py [--clip MP4] [--frames 60] [--cases selfie,selfie-live,hybrid]
                                     [--code CHECKOUT] [--json out.json]

Each case in its own process (``--code``: vidbokeh imported from another checkout, to compare revisions; run them
alternately, a shared machine's load moves every figure), the clip's first frames decoded ahead, then timed:

  selfie       a file session, selfie: every stage on every frame
  selfie-live  a live session (``live_depth=pipeline.LatestWorker``), selfie: the live cadences
  hybrid       a file session, hybrid with synthetic DA-V2-S weights, the depth map made on the first frame and
               reused (``depth_every`` above the frame count): segmentation, people, mask, focus, CoC and the
               layered render on every frame, no depth model

Reported: process CPU ms per frame (every thread: MediaPipe's and OpenCV's too), wall ms per frame, p95 of the
per-frame wall time, and the engine's stage timings (wall ms per frame). The decoder and the encoder are not in it
(tools/bench_video.py's floor is).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("VIDBOKEH_SHARED", ROOT.parent / "shared"))
CASES = ("selfie", "selfie-live", "hybrid")


def measure(case: str, clip: Path, frames: int, weights: Path | None) -> dict:
    """One case in this process."""
    import numpy as np

    from vidbokeh.engine import EffectSettings, VideoSession, load_models, resolve_approach
    from vidbokeh.media.sources import FileSource
    from vidbokeh.pipeline import LatestWorker

    hybrid = case == "hybrid"
    settings = resolve_approach(EffectSettings(approach="hybrid" if hybrid else "selfie", device="cpu",
                                               weights=weights if hybrid else None,
                                               depth_every=frames + 10 if hybrid else 1))
    decoded = []
    with FileSource(clip) as source:
        for frame in source:
            decoded.append((frame.rgb, frame.time))
            if len(decoded) >= frames + 3:
                break
    with load_models(settings, mode="video", progress=False) as models:
        live = LatestWorker if case.endswith("-live") else None
        with VideoSession(models, settings, live_depth=live) as session:
            for rgb, t in decoded[:3]:  # the models' first calls (and the depth map) are not timed
                session.process(rgb, t)
            timed = decoded[3:]
            stages: dict[str, float] = {}
            walls = []
            cpu0, wall0 = time.process_time(), time.perf_counter()
            for rgb, t in timed:
                t1 = time.perf_counter()
                result = session.process(rgb, t)
                walls.append(time.perf_counter() - t1)
                for k, v in result.timings.items():
                    stages[k] = stages.get(k, 0.0) + v
            cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    n = len(timed)
    return {"case": case, "frames": n, "cpu_ms": round(1000 * cpu / n, 1), "wall_ms": round(1000 * wall / n, 1),
            "p95_ms": round(1000 * float(np.percentile(walls, 95)), 1),
            "stage_ms": {k: round(1000 * v / n, 1) for k, v in sorted(stages.items())}}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clip", type=Path, default=SHARED / "samples" / "videos" / "sam2_juggle.mp4")
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--code", type=Path, default=ROOT, help="the checkout vidbokeh is imported from")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--one", default=None, help=argparse.SUPPRESS)  # internal: run one case, print its JSON
    ap.add_argument("--weights", type=Path, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        sys.path.insert(0, str(args.code.resolve()))
        print(json.dumps(measure(args.one, args.clip, args.frames, args.weights)))
        return 0
    cases = [c for c in args.cases.split(",") if c]
    unknown = sorted(set(cases) - set(CASES))
    if unknown:
        raise SystemExit(f"unknown case {', '.join(unknown)}; choose from {', '.join(CASES)}")
    rows = []
    with tempfile.TemporaryDirectory(prefix="vidbokeh-frame-cost-") as tmp:
        weights = Path(tmp) / "dav2_vits_synthetic.pt"
        if "hybrid" in cases:
            sys.path.insert(0, str(ROOT / "tools"))
            import bench_video

            bench_video.synthetic_weights(str(weights))
        for case in cases:
            cmd = [sys.executable, str(Path(__file__).resolve()), "--one", case, "--clip", str(args.clip),
                   "--frames", str(args.frames), "--code", str(args.code), "--weights", str(weights)]
            done = subprocess.run(cmd, capture_output=True, text=True, check=False)
            lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
            if done.returncode != 0 or not lines:
                raise SystemExit(f"{case} failed ({done.returncode}): {done.stderr.strip()[-500:]}")
            rows.append(json.loads(lines[-1]))
    load = os.getloadavg()[0]
    print(f"clip {args.clip.name}, {args.frames} frames, code {args.code}; load {load:.1f}")
    for r in rows:
        print(f"{r['case']:12} CPU {r['cpu_ms']:6.1f} ms/frame  wall {r['wall_ms']:6.1f}  p95 {r['p95_ms']:6.1f}  "
              f"stages {r['stage_ms']}")
    if args.json:
        args.json.write_text(json.dumps({"load": load, "code": str(args.code), "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
