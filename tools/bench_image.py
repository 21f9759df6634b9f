#!/usr/bin/env python3
"""What image mode costs a photo, stage by stage, as ``vidbokeh image --timings`` counts it (issue 12's budget:
150 ms for all but depth on a 1024-px photo), for this checkout and optionally another, in one run.

    python tools/bench_image.py PHOTO_OR_DIR [...] [--code OTHER_CHECKOUT] [--rounds 5] [--approach selfie]

Each checkout gets a worker process (its own ``vidbokeh`` on the path, the C allocator set up as its CLI sets it up)
that loads the models once and makes one untimed photo first (the models' first call pays their start-up). Then,
round by round, each worker writes every photo once, the workers taking turns, so the machine's load weighs on both
alike.
Per photo and checkout: the median over rounds of "all but depth" (decode, the stages, encode: wall ms, as the
CLI's table sums them) and of the process's CPU ms for the photo (every thread). The stages' medians over every
photo and round close the table.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"}

_WORKER = r"""
import json, resource, sys, time
from pathlib import Path
try:
    from vidbokeh.allocator import keep_frame_blocks  # what the CLI does at start, where the checkout has it
    keep_frame_blocks()
except ImportError:
    pass
from vidbokeh.engine import EffectSettings, load_models
from vidbokeh.image_mode import process_image

def cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime

photos, out, approach = json.loads(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
with load_models(EffectSettings(approach=approach), "image", progress=False) as models:
    process_image(photos[0], out / ("warm" + Path(photos[0]).suffix), models=models, overwrite=True)
    print("ready", flush=True)
    for line in sys.stdin:
        rows = []
        for i, photo in enumerate(photos):
            before = cpu()
            result = process_image(photo, out / f"{i}{Path(photo).suffix}", models=models, overwrite=True)
            rows.append({"cpu": 1000 * (cpu() - before), **{k: 1000 * v for k, v in result.timings.items()}})
        print(json.dumps(rows), flush=True)
"""


def photos_in(paths: list[Path]) -> list[Path]:
    found = []
    for path in paths:
        if path.is_dir():
            found += sorted(p for p in path.iterdir() if p.suffix.lower() in SUFFIXES)
        elif path.is_file():
            found.append(path)
        else:
            raise SystemExit(f"no such photo or folder: {path}")
    if not found:
        raise SystemExit("no photos given")
    return found


def start_worker(code: Path, photos: list[Path], out: Path, approach: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(code))
    worker = subprocess.Popen([sys.executable, "-c", _WORKER, json.dumps([str(p) for p in photos]), str(out), approach],
                              env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              text=True, cwd=str(code))
    if worker.stdout.readline().strip() != "ready":
        raise SystemExit(f"the worker for {code} failed to start (run it by hand with --debug to see why)")
    return worker


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("photos", nargs="+", type=Path)
    parser.add_argument("--code", type=Path, help="another checkout to measure alongside this one")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--approach", default="selfie")
    args = parser.parse_args(argv)
    photos = photos_in(args.photos)
    codes = {"this": ROOT}
    if args.code is not None:
        codes["other"] = args.code.resolve()
    rows: dict[str, list[list[dict]]] = {name: [] for name in codes}
    with tempfile.TemporaryDirectory(prefix="bench-image-") as tmp:
        workers = {}
        try:
            for name, code in codes.items():
                out = Path(tmp) / name
                out.mkdir()
                workers[name] = start_worker(code, photos, out, args.approach)
            for _ in range(args.rounds):
                for name, worker in workers.items():
                    worker.stdin.write("go\n")
                    worker.stdin.flush()
                    rows[name].append(json.loads(worker.stdout.readline()))
        finally:
            for worker in workers.values():
                worker.stdin.close()
                worker.wait()
    load = os.getloadavg()[0]
    names = list(codes)
    print(f"{'photo':34s}" + "".join(f" {n + ' all-but-depth':>20s} {n + ' cpu':>9s}" for n in names))
    summary = {n: [] for n in names}
    for i, photo in enumerate(photos):
        line = f"{photo.name[:34]:34s}"
        for n in names:
            per_round = [r[i] for r in rows[n]]
            wall = statistics.median(sum(v for k, v in r.items() if k not in ("cpu", "depth")) for r in per_round)
            cpu = statistics.median(r["cpu"] for r in per_round)
            summary[n].append(wall)
            line += f" {wall:20.1f} {cpu:9.1f}"
        print(line)
    print(f"{'median over photos':34s}" + "".join(f" {statistics.median(summary[n]):20.1f} {'':9s}" for n in names))
    if len(names) == 2:
        print(f"ratio this/other (median of per-photo ratios): "
              f"{statistics.median(a / b for a, b in zip(summary['this'], summary['other'])):.3f}")
    for n in names:
        stages = {k for r in rows[n] for row in r for k in row if k != "cpu"}
        medians = {k: round(statistics.median(row[k] for r in rows[n] for row in r if k in row), 1)
                   for k in sorted(stages)}
        print(f"{n} stage medians (ms): {medians}")
    print(f"load average (1 min): {load:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
