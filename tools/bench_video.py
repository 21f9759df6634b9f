#!/usr/bin/env python3
"""Video benchmark (issue 4): four ways through one clip, all measured in one run on one machine.

    1. floor      decode and re-encode with the same encoder settings, no processing
    2. official   the way the official Depth-Anything-V2 video script works: one thread, every frame through
                  the model at 518, per-frame min-max normalisation, one Gaussian blur composited by a
                  depth threshold (written here for the benchmark; same model and weights as 3)
    3. vidbokeh   `vidbokeh file` with its default settings and the same model (--weights)
    4. selfie     `vidbokeh file --approach selfie`

Each runs as its own process, so start-up (imports, model load) is included, and reports wall time, fps
and its own peak resident memory. Depth weights are synthetic (made from ../shared/reference/dav2_vits) unless
--weights is given: speed does not depend on the values. Writes a table and JSON.

    python tools/bench_video.py [--clip PATH] [--frames N] [--json out.json] [--memory-check]

--memory-check also runs `selfie` on a 10-s and a 60-s generated clip and compares peak memory.
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

_CHILD = r"""
import resource, sys, time
t0 = time.perf_counter()
mode = sys.argv[1]
args = sys.argv[2:]
if mode == "cli":
    from vidbokeh.cli import run
    code = run(args)
else:
    sys.path.insert(0, {tools!r})
    import bench_video
    code = getattr(bench_video, mode)(*args)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"BENCH {{time.perf_counter() - t0:.3f}} {{peak:.1f}} {{code}}", file=sys.stderr)
sys.exit(code)
"""


def floor(src: str, dst: str) -> int:
    """Decode and re-encode with vidbokeh's own source and sink (same encoder settings), one thread."""
    from vidbokeh.media.sinks import VideoFileSink
    from vidbokeh.media.sources import FileSource

    with FileSource(src) as source:
        sink = VideoFileSink(dst, source.info, audio_from=src, overwrite=True)
        sink.open()
        for frame in source:
            sink.write(frame.rgb, frame.pts, frame.time_base)
        sink.close()
    return 0


def official(src: str, dst: str, weights: str) -> int:
    """One thread; every frame through Depth-Anything-V2 at 518; min-max; one Gaussian; threshold composite."""
    import cv2
    import numpy as np

    from vidbokeh.depth import create_depth_model
    from vidbokeh.media.sinks import VideoFileSink
    from vidbokeh.media.sources import FileSource

    model = create_depth_model("depth_anything_v2_vits", weights=weights, device="auto")
    with FileSource(src) as source:
        sink = VideoFileSink(dst, source.info, audio_from=src, overwrite=True)
        sink.open()
        for frame in source:
            rgb = frame.rgb
            depth = model.predict(rgb, input_size=518)
            d = (depth - depth.min()) / max(float(depth.max() - depth.min()), 1e-6)
            blurred = cv2.GaussianBlur(rgb, (0, 0), sigmaX=max(1.0, 0.01 * float(np.hypot(*rgb.shape[:2]))))
            near = (d > 0.5)[..., None]
            sink.write(np.where(near, rgb, blurred), frame.pts, frame.time_base)
        sink.close()
    return 0


def _run_child(mode: str, *args: str, env: dict | None = None) -> dict:
    code = _CHILD.format(tools=str(ROOT / "tools"))
    proc = subprocess.run([sys.executable, "-c", code, mode, *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})})
    line = [ln for ln in proc.stderr.splitlines() if ln.startswith("BENCH ")]
    if proc.returncode != 0 or not line:
        raise SystemExit(f"{mode} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    _, seconds, peak, _code = line[-1].split()
    return {"seconds": float(seconds), "peak_rss_mb": float(peak)}


def _synthetic_weights(folder: Path) -> Path:
    import numpy as np
    import torch

    ref = SHARED / "reference" / "dav2_vits"
    sys.path.insert(0, str(SHARED / "reference"))
    from synth_weights import synth_state_dict

    spec = json.loads((ref / "spec.json").read_text())
    # np.array, not np.ascontiguousarray: the latter turns 0-d tensors (num_batches_tracked) into 1-d
    state = {k: torch.from_numpy(np.array(v)) for k, v in synth_state_dict(spec).items()}
    path = folder / "depth_anything_v2_vits_synthetic.pth"
    torch.save(state, path)
    return path


def _count_frames(path: Path) -> int:
    import av

    with av.open(str(path)) as c:
        return sum(1 for _ in c.decode(video=0))


def _make_clip(path: Path, seconds: int) -> None:
    import av

    with av.open("testsrc2=size=1280x720:rate=24", format="lavfi") as src, av.open(str(path), "w") as out:
        st = out.add_stream("libx264", rate=24)
        st.width, st.height, st.pix_fmt = 1280, 720, "yuv420p"
        for i, frame in enumerate(src.decode(video=0)):
            if i >= seconds * 24:
                break
            frame.pts = None
            for p in st.encode(frame):
                out.mux(p)
        for p in st.encode():
            out.mux(p)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("--clip", type=Path, default=SHARED / "samples" / "videos" / "sam2_juggle.mp4")
    ap.add_argument("--weights", type=Path, default=None, help="real dav2_vits weights (default: synthetic)")
    ap.add_argument("--only", default="floor,official,vidbokeh,selfie")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--memory-check", action="store_true")
    args = ap.parse_args()

    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="vidbokeh-bench-") as tmp_s:
        tmp = Path(tmp_s)
        weights = args.weights or _synthetic_weights(tmp)
        frames = _count_frames(args.clip)
        runs = {
            "floor": ("floor", str(args.clip), str(tmp / "floor.mp4")),
            "official": ("official", str(args.clip), str(tmp / "official.mp4"), str(weights)),
            "vidbokeh": ("cli", "file", str(args.clip), str(tmp / "vidbokeh.mp4"), "--weights", str(weights),
                         "--overwrite"),
            "selfie": ("cli", "file", str(args.clip), str(tmp / "selfie.mp4"), "--approach", "selfie",
                       "--overwrite"),
        }
        for name in args.only.split(","):
            r = _run_child(*runs[name], env={"VIDBOKEH_OFFLINE": "1"})
            r["fps"] = frames / r["seconds"]
            results[name] = r
            print(f"{name:9s} {r['seconds']:8.2f} s {r['fps']:7.2f} fps  peak {r['peak_rss_mb']:7.0f} MB", flush=True)
        memory = None
        if args.memory_check:
            short, long_ = tmp / "short.mp4", tmp / "long.mp4"
            _make_clip(short, 10)
            _make_clip(long_, 60)
            m10 = _run_child("cli", "file", str(short), str(tmp / "o10.mp4"), "--approach", "selfie", "--overwrite")
            m60 = _run_child("cli", "file", str(long_), str(tmp / "o60.mp4"), "--approach", "selfie", "--overwrite")
            memory = {"peak_10s_mb": m10["peak_rss_mb"], "peak_60s_mb": m60["peak_rss_mb"],
                      "ratio": m60["peak_rss_mb"] / m10["peak_rss_mb"]}
    ratios = {}
    if "vidbokeh" in results and "official" in results:
        ratios["vidbokeh_over_official"] = results["vidbokeh"]["fps"] / results["official"]["fps"]
    if "selfie" in results and "floor" in results:
        ratios["floor_over_selfie"] = results["floor"]["fps"] / results["selfie"]["fps"]
    import platform

    doc = {"clip": str(args.clip), "frames": frames, "machine": platform.processor() or platform.machine(),
           "cpus": os.cpu_count(), "weights": "synthetic" if args.weights is None else str(args.weights),
           "results": results, "ratios": ratios, "memory": memory}
    print()
    print("| run | seconds | fps | peak RSS MB |")
    print("| --- | ---: | ---: | ---: |")
    for k, r in results.items():
        print(f"| {k} | {r['seconds']:.2f} | {r['fps']:.2f} | {r['peak_rss_mb']:.0f} |")
    for k, v in ratios.items():
        print(f"{k}: {v:.2f}")
    if memory:
        print(f"peak memory 60 s / 10 s clip: {memory['ratio']:.3f} ({memory['peak_60s_mb']:.0f} / {memory['peak_10s_mb']:.0f} MB)")
    if args.json:
        args.json.write_text(json.dumps(doc, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
