#!/usr/bin/env python3
"""Batch benchmark (issue 14): the local engine against Ray with 1 and 2 workers, in one run.

For each engine it times a batch of N photos (copies of the shared portraits) and one video (a shared
clip re-encoded with a keyframe every second, cut into 1-s segments), each into a fresh output folder,
and reports items/s and frames/s (wall time of the whole batch, start-up included), the time to the
first result (start-up: the actors and their model loads), and the per-item overhead: in steady state,
the interval between results at the driver (times the workers in flight) minus the worker's own time
for the item (median of each). What Ray adds per item is that overhead minus the local engine's. The
Ray instance is started once (its start-up time is reported on its own), private to this process, on
127.0.0.1.

    python tools/bench_batch.py [--photos N] [--approach selfie] [--workers 1,2] [--json out.json]

On a shared machine the figures move with the load: compare the ratios of one run; the load average
before and after is recorded.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("VIDBOKEH_SHARED", ROOT.parent / "shared"))
sys.path.insert(0, str(ROOT))


def _load() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def _photos(folder: Path, n: int) -> Path:
    images = sorted((SHARED / "samples" / "portraits" / "images").glob("*.jpg"))
    if not images:
        raise SystemExit(f"no portraits under {SHARED}/samples/portraits/images")
    folder.mkdir(parents=True)
    for i in range(n):
        src = images[i % len(images)]
        shutil.copy(src, folder / f"{i:03d}_{src.name}")
    return folder


def _clip(folder: Path) -> Path:
    """The shared breakdance clip re-encoded with a keyframe every second (it has one keyframe only)."""
    import av

    folder.mkdir(parents=True)
    out_path = folder / "breakdance.mp4"
    with av.open(str(SHARED / "samples" / "videos" / "davis2016_breakdance.mp4")) as src, \
            av.open(str(out_path), "w") as out:
        vin = src.streams.video[0]
        rate = vin.average_rate or Fraction(24)
        vs = out.add_stream("libx264", rate=rate)
        vs.width, vs.height, vs.pix_fmt = vin.codec_context.width, vin.codec_context.height, "yuv420p"
        vs.codec_context.time_base = vs.time_base = vin.time_base
        vs.codec_context.gop_size = int(round(rate))
        vs.codec_context.options = {"crf": "16", "preset": "veryfast", "bf": "0"}
        for frame in src.decode(vin):
            out_frame = frame.reformat(format="yuv420p")
            out_frame.pts, out_frame.time_base = frame.pts, frame.time_base
            for packet in vs.encode(out_frame):
                out.mux(packet)
        for packet in vs.encode():
            out.mux(packet)
    return out_path


def _run(inputs: list[Path], out: Path, settings, batch) -> dict:
    """One batch: wall time, items, frames, when each unit's result reached the driver, and the worker-side
    seconds of each item (from the report)."""
    from statistics import median

    from vidbokeh.batch import run_batch

    arrivals: list[float] = []
    t0 = time.perf_counter()
    report = run_batch(inputs, out, settings, batch, on_progress=lambda p: arrivals.append(time.perf_counter() - t0))
    seconds = time.perf_counter() - t0
    if report.count("done") != len(report.outcomes):
        failed = [o.error for o in report.outcomes if o.status != "done"]
        raise SystemExit(f"benchmark batch failed: {failed[:3]}")
    arrivals = arrivals[1:]  # the first call comes before any work
    gaps = [b - a for a, b in zip(arrivals, arrivals[1:])]
    return {"seconds": seconds, "items": len(report.outcomes), "frames": report.frames,
            "first_result_s": arrivals[0] if arrivals else seconds,
            "gap_s": median(gaps) if gaps else 0.0,
            "work_s": median(o.entry.seconds for o in report.outcomes if o.entry is not None)}


def _workers(batch) -> int:
    return batch.workers or 1 if batch.engine == "ray" else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--photos", type=int, default=18, help="photos in the batch (copies of the shared portraits)")
    parser.add_argument("--approach", default="selfie")
    parser.add_argument("--workers", default="1,2", help="Ray worker counts to measure")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)

    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # a private instance on 127.0.0.1
    import ray

    from vidbokeh.batch import BatchSettings, SegmentPlan
    from vidbokeh.engine import EffectSettings

    settings = EffectSettings(approach=args.approach)
    workers = [int(w) for w in args.workers.split(",") if w.strip()]
    load_before = _load()
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as tmp:
        tmp_path = Path(tmp)
        folder = _photos(tmp_path / "photos", args.photos)
        clip = _clip(tmp_path / "video")
        t0 = time.perf_counter()
        ray.init(address="local", include_dashboard=False, object_store_memory=128 * 1024**2, log_to_driver=False)
        ray_start = time.perf_counter() - t0
        try:
            engines = [("local", BatchSettings(segments=SegmentPlan(1.0)))]
            engines += [(f"ray x{w}", BatchSettings(engine="ray", workers=w, segments=SegmentPlan(1.0)))
                        for w in workers]
            for name, batch in engines:
                case = name.replace(" ", "")
                photos = _run([folder], tmp_path / f"out_{case}_photos", settings, batch)
                video = _run([clip.parent], tmp_path / f"out_{case}_video", settings, batch)
                rows.append({"engine": name, "items_per_s": photos["items"] / photos["seconds"],
                             "photos": photos, "frames_per_s": video["frames"] / video["seconds"], "video": video,
                             # steady state: the gap between results at the driver beyond the worker's own time
                             # (with n workers n items are in flight, so a gap is 1/n of an item's wall time)
                             "overhead_per_item_s": photos["gap_s"] * _workers(batch) - photos["work_s"]})
                print(f"{name}: done ({photos['seconds'] + video['seconds']:.1f} s)", file=sys.stderr)
        finally:
            ray.shutdown()
    local = rows[0]
    result = {"cpus": os.cpu_count(), "approach": args.approach, "photos": args.photos, "ray_start_s": ray_start,
              "load_before": load_before, "load_after": _load(), "rows": rows,
              "ray_adds_per_item_s": {r["engine"]: r["overhead_per_item_s"] - local["overhead_per_item_s"]
                                      for r in rows[1:]}}
    print(f"CPUs {os.cpu_count()}, approach {args.approach}, load {load_before} -> {result['load_after']}, "
          f"Ray start-up {ray_start:.1f} s (not in the figures below)")
    print(f"{args.photos} photos; video: {local['video']['frames']} frames in 1-s segments")
    print(f"{'engine':<8} {'items/s':>8} {'frames/s':>9} {'1st result s':>12} {'item s':>7} {'overhead ms':>11}")
    for r in rows:
        print(f"{r['engine']:<8} {r['items_per_s']:8.2f} {r['frames_per_s']:9.2f} {r['photos']['first_result_s']:12.1f} "
              f"{r['photos']['work_s']:7.3f} {r['overhead_per_item_s'] * 1000:11.0f}")
    for name, added in result["ray_adds_per_item_s"].items():
        print(f"{name}: Ray adds {added * 1000:.0f} ms per item (steady state) beyond the local engine's")
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
