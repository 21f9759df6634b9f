#!/usr/bin/env python3
"""What the live window costs (issue 15): `vidbokeh webcam` on a clip played at 30 fps, window vs none.

Plays a 512x480 clip at its own rate (`--realtime`, as a camera delivers) for a fixed time, once with the
preview window in a private Xvfb and once with `--no-preview`, alternating `--repeat` times, and reports
each run's summary figures (fps, frames dropped, latency) and the window/no-window fps ratio of each round.
The clip is made once (lavfi testsrc2, 512x480, 30 fps) unless --clip is given. Needs Xvfb.

    python tools/bench_preview.py [--clip PATH] [--seconds 8] [--repeat 2] [--approach selfie]
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def make_clip(path: Path) -> Path:
    sys.path.insert(0, str(REPO))
    from vidbokeh.media.camera import CameraSource
    from vidbokeh.media.video_file import VideoFileSink

    with CameraSource("testsrc2=size=512x480:rate=30:duration=60", "lavfi") as source:
        with VideoFileSink(path, source.info, crf=16) as sink:
            for frame in source:
                sink.write(frame.rgb, frame.pts, frame.time_base)
    return path


def run(clip: Path, seconds: float, approach: str, display: str | None) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    args = [sys.executable, "-m", "vidbokeh", "webcam", "--camera", str(clip), "--realtime", "--approach", approach,
            "--seconds", str(seconds)]
    if display is None:
        args.append("--no-preview")
    else:
        env["DISPLAY"] = display
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=seconds + 120)
    line = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else ""
    if done.returncode != 0:
        raise SystemExit(f"vidbokeh failed ({done.returncode}): {line}")
    figures = {"fps": float(re.search(r"([\d.]+) fps", line).group(1))}
    dropped = re.search(r"(\d+) frames dropped", line)
    figures["dropped"] = float(dropped.group(1)) if dropped else 0.0
    latency = re.search(r"latency median (\d+) ms", line)
    figures["latency_ms"] = float(latency.group(1)) if latency else float("nan")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", type=Path, default=None)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--approach", default="selfie")
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        clip = opts.clip or make_clip(Path(tmp) / "clip_512x480_30fps.mp4")
        sys.path.insert(0, str(REPO / "tests"))
        from xserver import xvfb

        with xvfb() as display:
            print(f"load average before: {os.getloadavg()[0]:.2f}")
            for round_ in range(opts.repeat):
                window = run(clip, opts.seconds, opts.approach, display)
                plain = run(clip, opts.seconds, opts.approach, None)
                ratio = window["fps"] / plain["fps"] if plain["fps"] else float("nan")
                print(f"round {round_ + 1}: window {window}  no-preview {plain}  fps ratio {ratio:.2f}")
            print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
