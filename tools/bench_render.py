#!/usr/bin/env python3
"""Speed of the bokeh renderer (vidbokeh/render/): ms per render, several sizes, radii and backends.

    python tools/bench_render.py                       # default sizes and blur strengths, OpenCV backend
    python tools/bench_render.py --sizes 1024x820 --blurs 0.02 --repeats 30 --json render.json
    python tools/bench_render.py --backends opencv,torch --device cuda   # the torch backend on a GPU

Backends: ``opencv`` (numpy + OpenCV, always on the CPU) and ``torch`` (torch tensors on
``--device``); both render the same scene with the same settings, and each torch row also gives
its PSNR against the OpenCV render (``psnr``; 40 dB is the parity bound of the tests).

Scene: the shared Obama portrait resized to each size (a textured synthetic image when ../shared
is missing), a soft elliptic person mask as the protection mask, and a synthetic inverse-depth
map (subject near, background receding upwards) turned into a CoC map by focus.coc_map with
max_blur = blur x diagonal and a long ramp, so that the background's CoC spans every layer. Modes:

    uniform     render_uniform: the two-layer selfie path (subject sharp, background one disc)
    layered     render_bokeh with the depth CoC (the depth approaches' path)
    bloom       layered + highlight_bloom
    foreground  layered with blur_foreground (a near object in front of the subject, negative CoC)
    polygon     layered with a 6-blade aperture

Timing: min and median wall clock of --repeats after --warmup runs, in this process with
OpenCV's default threads, and the median process CPU time (all threads) per render, which moves
less than wall time when the machine is shared. ``ref`` is the median time of a 4-channel float32
5x5 box filter over the same image measured just before each case, and ``x_ref`` the median
render time divided by it.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from vidbokeh.render import BokehSettings, get_ops, render_bokeh, render_uniform  # noqa: E402
from vidbokeh.stages.focus import FocusSettings, choose_focus, coc_map  # noqa: E402

PORTRAIT = Path(os.environ.get("VIDBOKEH_SHARED", ROOT.parent / "shared")) / "samples" / "images" / "obama_official_portrait.jpg"
MODES = ("uniform", "layered", "bloom", "foreground", "polygon")


def _image(width: int, height: int) -> np.ndarray:
    source = cv2.imread(str(PORTRAIT), cv2.IMREAD_COLOR)
    if source is None:
        rng = np.random.default_rng(0)
        source = cv2.GaussianBlur(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), (0, 0), 1.5)
    return np.ascontiguousarray(cv2.resize(source, (width, height), interpolation=cv2.INTER_AREA)[:, :, ::-1])


def _scene(width: int, height: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(protect mask, inverse depth, near-object mask) for a centred portrait."""
    yy, xx = np.mgrid[:height, :width].astype(np.float32)
    person = ((xx - 0.5 * width) / (0.3 * width)) ** 2 + ((yy - 0.62 * height) / (0.55 * height)) ** 2 < 1.0
    protect = cv2.GaussianBlur(person.astype(np.float32), (0, 0), 2.0)
    background = 0.1 + 0.8 * (yy / height) + 0.05 * np.sin(xx / width * 9.0)  # receding upwards
    depth = np.where(person, 1.0, background).astype(np.float32)
    near = (xx < 0.12 * width) & (yy > 0.6 * height)  # something in front of the subject
    depth[near] = 1.6
    return protect, depth, near


def _time(fn, repeats: int, warmup: int) -> tuple[list[float], list[float]]:
    """(wall ms, process CPU ms) per call."""
    for _ in range(warmup):
        fn()
    wall, cpu = [], []
    for _ in range(repeats):
        c0, t0 = time.process_time(), time.perf_counter()
        fn()
        wall.append((time.perf_counter() - t0) * 1000.0)
        cpu.append((time.process_time() - c0) * 1000.0)
    return wall, cpu


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 99.0 if mse == 0.0 else 10.0 * math.log10(255.0**2 / mse)


def bench_case(width: int, height: int, blur: float, mode: str, repeats: int, warmup: int,
               backend: str = "opencv", device: str = "cpu") -> dict:
    img = _image(width, height)
    protect, depth, _ = _scene(width, height)
    diag = math.hypot(width, height)
    radius = blur * diag
    # a long ramp: the background's CoC spans every layer from sharp to max_blur (the costly case)
    focus_settings = FocusSettings(max_blur=blur, ramp=0.6, blur_foreground=(mode == "foreground"))
    focus = choose_focus(depth, (), protect, focus_settings)  # the median depth in the person mask
    coc = coc_map(depth, focus, focus_settings, diag) if mode != "uniform" else None
    settings = {
        "uniform": BokehSettings(),
        "layered": BokehSettings(),
        "bloom": BokehSettings(highlight_bloom=True),
        "foreground": BokehSettings(),
        "polygon": BokehSettings(aperture_blades=6),
    }[mode]
    ops = get_ops(backend, device)

    def render(with_ops) -> np.ndarray:
        if mode == "uniform":
            return render_uniform(img, radius, protect, settings, ops=with_ops)
        return render_bokeh(img, coc, protect, settings, ops=with_ops)

    def fn() -> np.ndarray:
        return render(ops)
    ref_img = np.random.default_rng(1).random((height, width, 4), dtype=np.float32)
    ref = statistics.median(_time(lambda: cv2.blur(ref_img, (5, 5)), max(5, repeats // 2), 1)[0])
    times, cpu = _time(fn, repeats, warmup)
    median = statistics.median(times)
    parity = None if backend == "opencv" else round(_psnr(render(get_ops("opencv")), fn()), 1)
    return {
        "size": f"{width}x{height}", "blur": blur, "radius_px": round(radius, 1), "mode": mode,
        "backend": backend, "device": "cpu" if backend == "opencv" else device, "psnr": parity,
        "ms_min": round(min(times), 2), "ms_median": round(median, 2),
        "cpu_ms_median": round(statistics.median(cpu), 2),
        "ref_ms": round(ref, 3), "x_ref": round(median / ref, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="640x480,1024x820,1920x1080", help="comma-separated WxH")
    parser.add_argument("--blurs", default="0.01,0.02,0.03", help="max blur, fractions of the diagonal")
    parser.add_argument("--modes", default=",".join(MODES), help=f"comma-separated of {', '.join(MODES)}")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--backends", default="opencv", help="comma-separated of opencv, torch")
    parser.add_argument("--device", default="cpu", help="torch device for the torch backend (cpu, cuda, mps)")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args(argv)

    sizes = [tuple(int(v) for v in s.lower().split("x")) for s in args.sizes.split(",") if s]
    blurs = [float(b) for b in args.blurs.split(",") if b]
    modes = [m for m in args.modes.split(",") if m]
    for mode in modes:
        if mode not in MODES:
            parser.error(f"unknown mode {mode!r}")
    backends = [b for b in args.backends.split(",") if b]
    for backend in backends:
        if backend not in ("opencv", "torch"):
            parser.error(f"unknown backend {backend!r}")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    header = (f"{'size':>10} {'blur':>5} {'r px':>6} {'mode':>10} {'backend':>12} {'min ms':>8} {'med ms':>8} "
              f"{'cpu ms':>8} {'x_ref':>6} {'psnr':>5}")
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cpus, "
          f"OpenCV {cv2.__version__} threads={cv2.getNumThreads()}, torch threads={torch.get_num_threads()}, "
          f"load avg {load:.2f}")
    print(header)
    results = []
    for width, height in sizes:
        for blur in blurs:
            for mode in modes:
                for backend in backends:
                    row = bench_case(width, height, blur, mode, args.repeats, args.warmup, backend, args.device)
                    results.append(row)
                    where = backend if backend == "opencv" else f"torch/{row['device']}"
                    print(f"{row['size']:>10} {blur:>5.3f} {row['radius_px']:>6.1f} {mode:>10} {where:>12} "
                          f"{row['ms_min']:>8.2f} {row['ms_median']:>8.2f} {row['cpu_ms_median']:>8.2f} "
                          f"{row['x_ref']:>6.1f} {row['psnr'] or '':>5}", flush=True)
    if args.json:
        args.json.write_text(json.dumps({
            "machine": {"cpus": os.cpu_count(), "opencv": cv2.__version__, "threads": cv2.getNumThreads(),
                        "load_avg_1min": load},
            "repeats": args.repeats, "results": results,
        }, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
