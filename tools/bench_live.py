#!/usr/bin/env python3
"""Live benchmark (issue 10): a clip played as a camera (`vidbokeh webcam --camera CLIP --realtime`), per approach.

Each case is its own `vidbokeh webcam ... --no-preview --output` process fed at the clip's own rate; the figures
are the CLI's own summary line: frames written out of the clip's frames, fps, depth updates per second (depth
runs at its own rate beside the frames), latency median / p95 (capture to written). Depth weights are synthetic
(made from ../shared/reference/dav2_vits) unless --weights is given: speed does not depend on the values.

    python tools/bench_live.py [--clip PATH] [--seconds 10] [--approaches selfie,depth_anything,hybrid]
                               [--runtime auto] [--json out.json]

Targets (issue 10, a 720p clip at 30 fps on a 2-core CPU): depth approaches >= 20 fps written, depth updated
>= 5 times a second, latency p95 <= 150 ms. The load average is recorded: on a shared machine every figure
moves with it.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("VIDBOKEH_SHARED", ROOT.parent / "shared"))
TARGETS = {"fps": 20.0, "depth_per_s": 5.0, "latency_p95_ms": 150.0}
_SUMMARY = re.compile(r"(?P<frames>\d+) frames written .*?, (?P<fps>[\d.]+) fps"
                      r"(?:, depth (?P<depth>[\d.]+)/s)?(?:.*?(?P<dropped>\d+) frames dropped)?"
                      r".*?latency median (?P<med>\d+) ms, p95 (?P<p95>\d+) ms")


def _cut(clip: Path, seconds: float, out: Path) -> int:
    """The first ``seconds`` of ``clip`` (stream copy is not frame-exact: re-encoded at CRF 12); its frame count."""
    import av

    from vidbokeh.media.sources import FileSource
    from vidbokeh.media.video_file import VideoFileSink

    n = 0
    with FileSource(clip) as source:
        sink = VideoFileSink(out, source.info, crf=12, overwrite=True)
        sink.open()
        for frame in source:
            if frame.time is not None and frame.time >= seconds:
                break
            sink.write(frame.rgb, frame.pts, frame.time_base)
            n += 1
        sink.close()
    with av.open(str(out)):
        pass
    return n


def _synthetic_weights(path: Path) -> None:
    code = (f"import sys; sys.path.insert(0, {str(ROOT / 'tools')!r}); import bench_video; "
            f"bench_video.synthetic_weights({str(path)!r})")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def run_case(clip: Path, approach: str, weights: Path | None, runtime: str | None, out: Path) -> dict:
    args = [sys.executable, "-m", "vidbokeh", "webcam", "--camera", str(clip), "--realtime", "--no-preview",
            "--output", str(out), "--overwrite", "--approach", approach]
    if approach != "selfie":
        args += ["--weights", str(weights)]
        if runtime:
            args += ["--runtime", runtime]
    proc = subprocess.run(args, capture_output=True, text=True, cwd=ROOT)
    line = next((ln for ln in reversed(proc.stderr.splitlines()) if "frames written" in ln), "")
    m = _SUMMARY.search(line)
    if proc.returncode != 0 or m is None:
        return {"approach": approach, "error": proc.stderr.strip().splitlines()[-1:] or [f"exit {proc.returncode}"]}
    return {"approach": approach, "frames": int(m["frames"]), "fps": float(m["fps"]),
            "depth_per_s": float(m["depth"]) if m["depth"] else None, "dropped": int(m["dropped"] or 0),
            "latency_median_ms": int(m["med"]), "latency_p95_ms": int(m["p95"]), "summary": line}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clip", type=Path, default=SHARED / "samples" / "videos" / "sam2_juggle.mp4")
    ap.add_argument("--seconds", type=float, default=10.0, help="play the first N seconds of the clip")
    ap.add_argument("--approaches", default="selfie,depth_anything,hybrid")
    ap.add_argument("--weights", type=Path, default=None, help="real dav2_vits weights (default: synthetic)")
    ap.add_argument("--runtime", default=None, help="depth runtime (auto, torch, onnxruntime, openvino)")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    with tempfile.TemporaryDirectory(prefix="vidbokeh-bench-live-") as tmp:
        tmp_dir = Path(tmp)
        clip = tmp_dir / "clip.mp4"
        total = _cut(args.clip, args.seconds, clip)
        weights = args.weights
        if weights is None:
            weights = tmp_dir / "dav2_vits_synthetic.pt"
            _synthetic_weights(weights)
        rows = [run_case(clip, a, weights, args.runtime, tmp_dir / f"{a}.mp4") for a in args.approaches.split(",")]
    load = os.getloadavg()
    print(f"clip: {args.clip.name}, first {args.seconds:g} s = {total} frames; load {load[0]:.1f}")
    print(f"{'approach':16} {'frames':>9} {'fps':>6} {'depth/s':>8} {'dropped':>8} {'lat med':>8} {'p95':>6}")
    for r in rows:
        if "error" in r:
            print(f"{r['approach']:16} failed: {r['error']}")
            continue
        depth = f"{r['depth_per_s']:.1f}" if r["depth_per_s"] is not None else "-"
        print(f"{r['approach']:16} {r['frames']:>4}/{total:<4} {r['fps']:6.1f} {depth:>8} {r['dropped']:>8} "
              f"{r['latency_median_ms']:>6}ms {r['latency_p95_ms']:>4}ms")
        if r["approach"] != "selfie":
            met = (r["fps"] >= TARGETS["fps"] and (r["depth_per_s"] or 0) >= TARGETS["depth_per_s"]
                   and r["latency_p95_ms"] <= TARGETS["latency_p95_ms"])
            print(f"{'':16} targets (>= 20 fps, depth >= 5/s, p95 <= 150 ms): {'met' if met else 'NOT met'}")
    if args.json:
        args.json.write_text(json.dumps({"clip": str(args.clip), "frames": total, "load": load, "rows": rows},
                                        indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
