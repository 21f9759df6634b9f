#!/usr/bin/env python3
"""Soak benchmark (issue 6): a long generated clip through `vidbokeh file`, resident memory sampled every second.

The clip is made with FFmpeg's lavfi sources through PyAV (testsrc2 video, a 440 Hz sine audio track), then
`python -m vidbokeh file` runs in a child process while this process reads the child's VmRSS from
/proc/PID/status once a second (Linux; no psutil needed). Memory is "flat" when, after the warm-up (the first
20% of the samples), the least-squares slope of RSS is small and the spread stays small:

    |slope| <= --max-slope MB/min   and   (max - min) <= --max-spread MB

Prints a table and writes JSON (--json). Example:

    python tools/soak.py --minutes 10 --size 320x240 --json soak.json

An MP4 output grows by design: the muxer keeps its sample table (the moov box, written at the end) in
memory, about 0.2 KB per frame with the audio packets (~0.6 MB per minute of 30 fps video). ``--output-suffix
.mkv`` takes that out of the figure (Matroska keeps only a cue per keyframe).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WARMUP_SHARE = 0.2  # the first 20% of the samples are warm-up


def make_long_clip(path: Path, seconds: float, size: tuple[int, int], fps: int) -> Path:
    """testsrc2 + sine through lavfi, encoded H.264 (ultrafast) + AAC. Returns ``path``."""
    import av

    w, h = size
    graph = (f"testsrc2=size={w}x{h}:rate={fps}:duration={seconds}[out0];"
             f"sine=frequency=440:sample_rate=48000:duration={seconds}[out1]")
    with av.open(graph, format="lavfi") as src, av.open(str(path), "w") as out:
        vin, ain = src.streams.video[0], src.streams.audio[0]
        vs = out.add_stream("libx264", rate=fps)
        vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
        vs.codec_context.options = {"preset": "ultrafast", "crf": "23"}
        vs.codec_context.time_base = Fraction(1, fps)
        aus = out.add_stream("aac", rate=48000, layout="mono")
        resampler = av.AudioResampler(format=aus.codec_context.format, layout="mono", rate=48000,
                                      frame_size=aus.codec_context.frame_size or 1024)
        for frame in src.decode(vin, ain):
            if isinstance(frame, av.VideoFrame):
                frame = frame.reformat(format="yuv420p")
                frame.pts = round(frame.time * fps) if frame.time is not None else None
                frame.time_base = Fraction(1, fps)
                for packet in vs.encode(frame):
                    out.mux(packet)
            else:
                frame.pts = None
                for part in resampler.resample(frame):
                    for packet in aus.encode(part):
                        out.mux(packet)
        for part in resampler.resample(None):
            for packet in aus.encode(part):
                out.mux(packet)
        for stream in (vs, aus):
            for packet in stream.encode(None):
                out.mux(packet)
    return path


def rss_mb(pid: int) -> float | None:
    """Resident set size of a process in MB (VmRSS), or None once it has gone."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


def run_sampled(cmd: list[str], interval: float = 1.0) -> tuple[int, float, list[tuple[float, float]], str]:
    """Run ``cmd``; (exit code, wall seconds, [(t, rss MB)], stderr tail)."""
    t0 = time.monotonic()
    err_path = Path(tempfile.mkstemp(prefix="soak-", suffix=".err")[1])
    with open(err_path, "wb") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, cwd=ROOT)
        samples: list[tuple[float, float]] = []
        while True:
            try:
                proc.wait(timeout=interval)
                break
            except subprocess.TimeoutExpired:
                pass
            value = rss_mb(proc.pid)
            if value is not None:
                samples.append((time.monotonic() - t0, value))
    wall = time.monotonic() - t0
    tail = err_path.read_text(errors="replace").replace("\r", "\n").strip().splitlines()[-3:]
    err_path.unlink()
    return proc.returncode, wall, samples, "\n".join(tail)


def flatness(samples: list[tuple[float, float]]) -> dict[str, float]:
    """Slope (MB/min, least squares) and spread of RSS after the warm-up."""
    import numpy as np

    if len(samples) < 5:
        raise SystemExit(f"too few memory samples ({len(samples)}); run longer")
    start = int(len(samples) * WARMUP_SHARE)
    t = np.array([s[0] for s in samples[start:]])
    m = np.array([s[1] for s in samples[start:]])
    slope_per_s = float(np.polyfit(t, m, 1)[0])
    return {
        "samples": len(samples),
        "warmup_samples": start,
        "slope_mb_per_min": slope_per_s * 60.0,
        "min_mb": float(m.min()),
        "max_mb": float(m.max()),
        "spread_mb": float(m.max() - m.min()),
        "median_mb": float(np.median(m)),
        "peak_mb_all": float(max(s[1] for s in samples)),
        "window_minutes": float((t[-1] - t[0]) / 60.0),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=10.0, help="clip length (default 10)")
    ap.add_argument("--size", default="320x240", help="clip size WxH (default 320x240)")
    ap.add_argument("--fps", type=int, default=30)
    ap.add_argument("--approach", default="selfie")
    ap.add_argument("--output-suffix", default=".mp4", help="output container (default .mp4; .mkv: see above)")
    ap.add_argument("--clip", type=Path, default=None, help="use this clip instead of generating one")
    ap.add_argument("--workdir", type=Path, default=None, help="where the clip and output go (default: a temp folder)")
    ap.add_argument("--json", type=Path, default=None, help="write the figures here")
    ap.add_argument("--max-slope", type=float, default=1.0, help="flat: |slope| at most this many MB/min")
    ap.add_argument("--max-spread", type=float, default=64.0, help="flat: max - min at most this many MB")
    args = ap.parse_args(argv)

    w, h = (int(v) for v in args.size.lower().split("x"))
    with tempfile.TemporaryDirectory(prefix="vidbokeh-soak-") as tmp:
        work = args.workdir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        clip = args.clip
        made = 0.0
        if clip is None:
            clip = work / f"soak_{w}x{h}_{args.minutes:g}min.mp4"
            if not clip.exists():
                t0 = time.monotonic()
                make_long_clip(clip, args.minutes * 60.0, (w, h), args.fps)
                made = time.monotonic() - t0
        out = work / f"soak_out{args.output_suffix}"
        cmd = [sys.executable, "-m", "vidbokeh", "file", str(clip), str(out), "--approach", args.approach,
               "--overwrite"]
        code, wall, samples, tail = run_sampled(cmd)
        figures = flatness(samples)
        frames = None
        if code == 0 and out.exists():
            import av

            with av.open(str(out)) as c:  # MKV gives no frame count in its header: count the packets
                frames = c.streams.video[0].frames or sum(1 for p in c.demux(video=0) if p.size) or None
        flat = abs(figures["slope_mb_per_min"]) <= args.max_slope and figures["spread_mb"] <= args.max_spread
        result = {
            "clip": str(clip), "clip_minutes": args.minutes, "size": f"{w}x{h}", "fps": args.fps,
            "approach": args.approach, "output_suffix": args.output_suffix, "exit_code": code, "wall_seconds": wall, "clip_made_seconds": made,
            "frames_out": frames, "processing_fps": (frames / wall) if frames else None,
            **figures, "flat": flat, "max_slope": args.max_slope, "max_spread": args.max_spread,
            "cpu_count": os.cpu_count(), "command": " ".join(cmd), "stderr_tail": tail,
            "rss_series": [[round(t, 1), round(m, 1)] for t, m in samples],
        }
    rows = [
        ("exit code", f"{code}"),
        ("wall time", f"{wall:.0f} s"),
        ("frames out", f"{frames}"),
        ("fps (whole process)", f"{result['processing_fps']:.1f}" if frames else "-"),
        ("RSS samples (warm-up)", f"{figures['samples']} ({figures['warmup_samples']})"),
        ("RSS peak, whole run", f"{figures['peak_mb_all']:.1f} MB"),
        ("RSS after warm-up: median", f"{figures['median_mb']:.1f} MB"),
        ("RSS after warm-up: min..max", f"{figures['min_mb']:.1f}..{figures['max_mb']:.1f} MB "
                                        f"(spread {figures['spread_mb']:.1f} MB)"),
        ("RSS slope after warm-up", f"{figures['slope_mb_per_min']:+.3f} MB/min"),
        ("flat", f"{'yes' if flat else 'NO'} (|slope| <= {args.max_slope} MB/min, spread <= {args.max_spread} MB)"),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"soak: {args.minutes:g} min {w}x{h}@{args.fps} clip -> {args.output_suffix}, "
          f"`vidbokeh file --approach {args.approach}`")
    print(f"| {'figure':<{width}} | value |\n| {'-' * width} | --- |")
    for name, value in rows:
        print(f"| {name:<{width}} | {value} |")
    if tail and code != 0:
        print(tail, file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0 if code == 0 and flat else 1


if __name__ == "__main__":
    sys.exit(main())
