"""Frame path on a compute device (issue 11): file mode and a camera-like live source at 720p, 1080p
and 2160p, with the device and the frame backend chosen explicitly. Run through tools/bench_video.py:

    python tools/bench_video.py --device cuda --frame-backend torch [--sizes 720p,1080p,2160p]
                                [--frames 240] [--realtime] [--rates 30,60] [--approach A] [--json out.json]
                                [--temporal-only]

For each size the clip (default ../shared/samples/videos/sam2_juggle.mp4) is scaled to the size and its
first --frames frames (looped if shorter) are written as a test clip (H.264 CRF 18); then, each case in its
own process, with DA-V2-S synthetic weights (same cost as real ones) and the default approach (hybrid):

  file      `vidbokeh file CLIP OUT --device D --frame-backend B --weights W`: the whole process (start-up,
            decode, depth, masks, render, encode): fps, peak host RSS, peak GPU memory
  stages    the same frames through load_models + VideoSession.process_batch (batches of 8) in one
            process: mean ms per frame of every stage (depth, smooth, faces, segment, mask, focus, render)
            and the processing fps without decode and encode
  temporal  (--temporal-only, instead of the rest) the temporal stages alone, each backend on the same frames
            (opencv on the host; torch on the device): the depth smoother (a map of the frame's size per frame, already where the backend keeps
            it, with a varying scale and shift to undo) and the live depth carry (a map made on the first frame
            carried to each later one: host DIS flow, then the resampling on the backend): ms per frame,
            the device synchronised around each call
  realtime  (--realtime) `vidbokeh webcam --camera CLIP --realtime --no-preview --output OUT` with the
            clip re-timed to each of --rates fps: frames dropped, latency median and p95 (capture to output)

Targets on an H200 (issue 11): file 1080p >= 60 fps, 2160p >= 20 fps; live 1080p at 60 fps with no frame
dropped and latency p95 <= 50 ms. The table marks each.
"""
from __future__ import annotations

import json
import re
import statistics
import sys
import time
from pathlib import Path

SIZES = {"720p": (1280, 720), "1080p": (1920, 1080), "2160p": (3840, 2160)}
TARGET_FILE_FPS = {"1080p": 60.0, "2160p": 20.0}
TARGET_LIVE = {"size": "1080p", "rate": 60.0, "p95_ms": 50.0}


def make_clip(src: Path, dst: Path, frames: int, size: tuple[int, int], rate: float) -> None:
    """``frames`` frames of ``src`` (looped if shorter) scaled to ``size``, at ``rate`` fps, H.264 CRF 18."""
    from fractions import Fraction

    import av

    width, height = size
    with av.open(str(dst), "w") as out:
        st = out.add_stream("libx264", rate=round(rate))
        st.codec_context.time_base = Fraction(1, round(rate))
        st.width, st.height, st.pix_fmt = width, height, "yuv420p"
        st.options = {"crf": "18", "preset": "ultrafast"}
        written = 0
        while written < frames:
            with av.open(str(src)) as inp:
                for frame in inp.decode(video=0):
                    if written >= frames:
                        break
                    frame = frame.reformat(width=width, height=height, format="yuv420p")
                    frame.pts, frame.time_base = written, Fraction(1, round(rate))
                    for p in st.encode(frame):
                        out.mux(p)
                    written += 1
        for p in st.encode():
            out.mux(p)


def stages(clip: str, device: str, backend: str, weights: str, approach: str = "auto") -> int:
    """Child: per-stage ms per frame through the engine's video session (decode and encode excluded)."""
    import av
    import numpy as np

    from vidbokeh.engine import EffectSettings, VideoSession, load_models, resolve_approach

    settings = resolve_approach(EffectSettings(approach=approach, weights=Path(weights), device=device,
                                               frame_backend=backend))
    sums: dict[str, float] = {}
    count, busy = 0, 0.0
    with load_models(settings, mode="video", progress=False) as models, av.open(clip) as container:
        session = VideoSession(models, settings)
        batch: list = []
        stamps: list = []

        def run() -> None:
            nonlocal count, busy
            t0 = time.perf_counter()
            results = session.process_batch(batch, stamps)
            busy += time.perf_counter() - t0
            for r in results:
                for k, v in r.timings.items():
                    sums[k] = sums.get(k, 0.0) + v
            count += len(results)
            batch.clear()
            stamps.clear()

        for frame in container.decode(video=0):
            batch.append(np.ascontiguousarray(frame.to_ndarray(format="rgb24")))
            stamps.append(float(frame.time or 0.0))
            if len(batch) == 8:
                run()
        if batch:
            run()
    doc = {"frames": count, "fps": count / busy if busy else 0.0, "approach": settings.approach,
           "stage_ms": {k: 1000.0 * v / count for k, v in sums.items()}, "gpu_peak_mb": _gpu_peak_mb()}
    print("STAGES " + json.dumps(doc), file=sys.stderr)
    return 0


def temporal(clip: str, device: str, frames: str, sizes: str) -> int:
    """Child: ms per frame of the depth smoother and the live depth carry on each backend (stages/smoothing.py,
    engine/map_carry.py over render/ops.py), on the clip's first frames scaled to each size (one process, so the
    device starts once), the device synchronised around each call."""
    import av
    import cv2
    import numpy as np

    source = []
    with av.open(clip) as container:
        for frame in container.decode(video=0):
            source.append(frame.to_ndarray(format="rgb24"))
            if len(source) == int(frames):
                break
    docs = []
    for size in sizes.split(","):
        width, height = SIZES[size]
        rgbs = [np.ascontiguousarray(cv2.resize(f, (width, height), interpolation=cv2.INTER_LINEAR)) for f in source]
        docs.append({"size": size, "frames": len(rgbs), "ms": _temporal_ms(rgbs, device)})
    print("TEMPORAL " + json.dumps(docs), file=sys.stderr)
    return 0


def _temporal_ms(rgbs: list, device: str) -> dict:
    import cv2
    import numpy as np

    from vidbokeh.engine import VideoProfile
    from vidbokeh.engine.map_carry import MapCarry
    from vidbokeh.render import get_ops
    from vidbokeh.stages.smoothing import DepthSmoother

    rng = np.random.default_rng(0)
    maps = []  # a stand-in depth map per frame: the frame's blurred luma under a varying scale and shift
    for rgb in rgbs:
        grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
        maps.append(cv2.GaussianBlur(grey, (0, 0), 4.0) * np.float32(rng.uniform(0.8, 1.25))
                    + np.float32(rng.uniform(-0.1, 0.1)))
    out: dict = {}
    for backend in ("opencv", "torch"):
        ops = get_ops(backend, device if backend == "torch" else "cpu")
        sync = _synchroniser(ops)
        uploaded = [ops.upload(m) for m in maps]
        smoother, carry = DepthSmoother(ops=ops), MapCarry(VideoProfile().depth_flow_side, ops=ops)
        smooth_s, carry_s = [], []
        with ops.guard():
            for i, (rgb, depth) in enumerate(zip(rgbs, uploaded)):
                sync()
                t0 = time.perf_counter()
                smoother.update(depth, rgb)
                sync()
                smooth_s.append(time.perf_counter() - t0)
                if i == 0:
                    carry.anchor(uploaded[0], rgb)
                    continue
                t0 = time.perf_counter()
                carry.carry(rgb)
                sync()
                carry_s.append(time.perf_counter() - t0)
        # medians: the first map only starts the estimate, and the first calls warm the kernels
        out[backend] = {"smooth": 1000.0 * statistics.median(smooth_s[1:] or smooth_s),
                        "carry": 1000.0 * statistics.median(carry_s or [0.0])}
    return out


def _temporal_only(args, run_child, sizes: list[str], frames: int, device: str) -> int:
    """--temporal-only: the temporal stages per backend at every size, in one child (no clips made, no weights)."""
    docs = run_child("temporal", str(args.clip), device, str(frames), ",".join(sizes), timeout=args.timeout,
                     tag="TEMPORAL")
    for doc in docs:
        parts = "  ".join(f"{b}: smooth {m['smooth']:.1f} carry {m['carry']:.1f}" for b, m in doc["ms"].items())
        print(f"{doc['size']:6s} temporal  ms/frame  {parts}", flush=True)
    if args.json:
        args.json.write_text(json.dumps({"device": device, "temporal": docs}, indent=2))
    return 0


def _synchroniser(ops):
    """Waits for the backend's device (CUDA and MPS run asynchronously); nothing to wait for on a CPU."""
    device = getattr(ops, "device", None)
    if device is None or device.type == "cpu":
        return lambda: None
    import torch

    return torch.cuda.synchronize if device.type == "cuda" else torch.mps.synchronize


def _gpu_peak_mb() -> float | None:
    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_available() or not torch.cuda.is_initialized():
        return None
    return torch.cuda.max_memory_allocated() / 2**20


def _live_figures(stderr: str) -> dict:
    """Frames dropped and latency from the webcam command's summary line."""
    dropped = re.search(r"(\d+) frames dropped", stderr)
    latency = re.search(r"latency median (\d+) ms, p95 (\d+) ms", stderr)
    fps = re.search(r"([\d.]+) fps", stderr)
    return {"dropped": int(dropped.group(1)) if dropped else 0,
            "latency_median_ms": float(latency.group(1)) if latency else None,
            "latency_p95_ms": float(latency.group(2)) if latency else None,
            "fps": float(fps.group(1)) if fps else None}


def main(args, run_child, synthetic_weights_into) -> int:
    """Run by bench_video.main with its parsed arguments and child runner."""
    import tempfile

    sizes = [s for s in args.sizes.split(",") if s]
    for s in sizes:
        if s not in SIZES:
            raise SystemExit(f"unknown size {s!r} (sizes: {', '.join(SIZES)})")
    rates = [float(r) for r in args.rates.split(",") if r]
    frames = args.frames or 240
    device, backend = args.device or "auto", args.frame_backend or "auto"
    flags = ["--device", device, "--frame-backend", backend] + (["--approach", args.approach] if args.approach else [])
    rows: list[dict] = []
    if args.temporal_only:
        return _temporal_only(args, run_child, sizes, frames, device)
    with tempfile.TemporaryDirectory(prefix="vidbokeh-bench-") as tmp_s:
        tmp = Path(tmp_s)
        weights = args.weights or synthetic_weights_into(tmp / "depth_anything_v2_vits_synthetic.pth")
        for size in sizes:
            clip = tmp / f"clip_{size}.mp4"
            make_clip(args.clip, clip, frames, SIZES[size], 30.0)
            row: dict = {"size": size, "frames": frames, "device": device, "frame_backend": backend}
            r = run_child("cli", "file", str(clip), str(tmp / "out.mp4"), "--weights", str(weights), "--overwrite",
                          *flags, timeout=args.timeout)
            row["file"] = {**r, "fps": frames / r["seconds"]}
            print(f"{size:6s} file      {row['file']['fps']:7.1f} fps  host {r['peak_rss_mb']:6.0f} MB  "
                  f"gpu {r.get('gpu_peak_mb') or 0:6.0f} MB", flush=True)
            s = run_child("stages", str(clip), device, backend, str(weights), args.approach or "auto",
                          timeout=args.timeout, tag="STAGES")
            row["stages"] = s
            parts = "  ".join(f"{k} {v:.1f}" for k, v in sorted(s["stage_ms"].items()))
            print(f"{size:6s} stages    {s['fps']:7.1f} fps  ms/frame: {parts}", flush=True)
            if args.realtime:
                row["live"] = {}
                for rate in rates:
                    live_clip = tmp / f"live_{size}_{rate:g}.mp4"
                    make_clip(args.clip, live_clip, frames, SIZES[size], rate)
                    r = run_child("cli", "webcam", "--camera", str(live_clip), "--realtime", "--no-preview",
                                  "--output", str(tmp / "live.mp4"), "--overwrite", "--weights", str(weights),
                                  *flags, timeout=args.timeout, keep_stderr=True)
                    live = {**_live_figures(r.pop("stderr")), **r}
                    row["live"][f"{rate:g}"] = live
                    print(f"{size:6s} live {rate:3.0f}   dropped {live['dropped']:4d}  latency median "
                          f"{live['latency_median_ms']} ms p95 {live['latency_p95_ms']} ms", flush=True)
            rows.append(row)
    checks = {}
    for row in rows:
        if row["size"] in TARGET_FILE_FPS:
            checks[f"file {row['size']} >= {TARGET_FILE_FPS[row['size']]:g} fps"] = (
                row["file"]["fps"] >= TARGET_FILE_FPS[row["size"]])
        live = row.get("live", {}).get(f"{TARGET_LIVE['rate']:g}")
        if row["size"] == TARGET_LIVE["size"] and live:
            checks["live 1080p60: no drop, p95 <= 50 ms"] = (
                live["dropped"] == 0 and (live["latency_p95_ms"] or 1e9) <= TARGET_LIVE["p95_ms"])
    for name, ok in checks.items():
        print(f"{name}: {'yes' if ok else 'NO'}")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "checks": checks,
                                         "median_file_fps": statistics.median(r["file"]["fps"] for r in rows)},
                                        indent=2))
    return 0
