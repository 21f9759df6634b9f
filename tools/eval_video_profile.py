#!/usr/bin/env python3
"""How far a video setting moves the output (issue 10): two settings over the same frames of the shared clips.

    python tools/eval_video_profile.py [--clips a.mp4,b.mkv] [--frames 24] [--approach hybrid]
                                       [--runtime torch] [--base layer_step=1.0,layer_ratio=1.4] [--new ...]
                                       [--json out.json]

Each clip's first ``--frames`` frames go through the engine's ``VideoSession`` (file mode: depth on every
frame) twice in this process: once with ``--base``, once with ``--new``. Either is a list of ``name=value``
for ``EffectSettings`` fields (``depth_size=140``) or ``VideoProfile`` fields (``layer_ratio=1.6``); empty =
the defaults. Reported per clip: PSNR of the new output against the base output (mean and worst frame), the
flicker ratio of each (``$VIDBOKEH_SHARED/metrics/portrait_metrics.py``: output change over input change,
frame to frame) and each setting's CPU milliseconds per frame in the stages (this thread's CPU time, which a
loaded shared machine moves less than wall time). Depth weights are synthetic (made from
../shared/reference/dav2_vits) unless --weights is given.

Against another revision (a change that is no setting, e.g. a faster render):

    python tools/eval_video_profile.py --code ../old-checkout --base "" --save /tmp/ref   # its outputs, saved
    python tools/eval_video_profile.py --against /tmp/ref --new ""                       # this one's against them

``--code`` imports vidbokeh from that checkout; ``--save`` runs only ``--base`` and keeps its outputs (and CPU
ms, flicker) in a folder; ``--against`` takes the base outputs from such a folder instead of running the base.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import fields, replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("VIDBOKEH_SHARED", ROOT.parent / "shared"))
CLIPS = ("sam2_juggle.mp4", "davis2016_breakdance.mp4", "intel_asl_book.mkv")
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))


def parse_changes(text: str) -> dict[str, object]:
    """``a=1,b=2.5,c=none`` -> {"a": 1, "b": 2.5, "c": None}."""
    changes: dict[str, object] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, value = part.partition("=")
        if value.lower() == "none":
            changes[name] = None
        else:
            try:
                changes[name] = int(value)
            except ValueError:
                try:
                    changes[name] = float(value)
                except ValueError:
                    changes[name] = value
    return changes


def make_settings(base, changes: dict[str, object]):
    """``base`` EffectSettings with ``changes`` applied to it or to its VideoProfile."""
    profile_fields = {f.name for f in fields(type(base.video_profile))}
    profile = {k: v for k, v in changes.items() if k in profile_fields}
    own = {k: v for k, v in changes.items() if k not in profile_fields}
    return replace(base, **own, video_profile=replace(base.video_profile, **profile))


@contextmanager
def thread_cpu_timings():
    """The engine's stage timings in this thread's CPU seconds instead of wall seconds, while inside."""
    import vidbokeh.engine.frame as frame
    import vidbokeh.engine.subject as subject
    import vidbokeh.engine.video as video

    @contextmanager
    def timed(timings, stage):
        t0 = time.thread_time()
        try:
            yield
        finally:
            timings[stage] = timings.get(stage, 0.0) + time.thread_time() - t0

    saved = [(m, m.timed) for m in (frame, video, subject) if hasattr(m, "timed")]
    for module, _ in saved:
        module.timed = timed
    try:
        yield
    finally:
        for module, original in saved:
            module.timed = original


def run_clip(clip: Path, frames: int, settings) -> tuple[list[np.ndarray], list[np.ndarray], dict[str, float]]:
    """(inputs, outputs, CPU ms per frame of each stage) of the first ``frames`` frames through one session."""
    from vidbokeh.engine import VideoSession, load_models
    from vidbokeh.media.sources import FileSource

    inputs, outputs, sums = [], [], {}
    with load_models(settings, mode="video", progress=False) as models, FileSource(clip) as source:
        session = VideoSession(models, settings)
        with thread_cpu_timings():
            for frame in source:
                result = session.process(frame.rgb, frame.time)
                inputs.append(frame.rgb)
                outputs.append(result.output)
                if len(outputs) > 1:  # the first frame also opens the depth runtime's session
                    for k, v in result.timings.items():
                        sums[k] = sums.get(k, 0.0) + v
                if len(outputs) >= frames:
                    break
        session.close()
    return inputs, outputs, {k: round(1000 * v / max(1, len(outputs) - 1), 1) for k, v in sums.items()}


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float32) - b.astype(np.float32)) ** 2))
    return float("inf") if mse == 0 else 10 * float(np.log10(255.0**2 / mse))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clips", default=",".join(str(SHARED / "samples" / "videos" / c) for c in CLIPS))
    ap.add_argument("--frames", type=int, default=24)
    ap.add_argument("--approach", default="hybrid")
    ap.add_argument("--runtime", default="torch")
    ap.add_argument("--weights", type=Path, default=None, help="real dav2_vits weights (default: synthetic)")
    ap.add_argument("--base", default="layer_step=1.0,layer_ratio=1.4", help="the reference setting")
    ap.add_argument("--new", default="", help="the setting measured against it (empty: the defaults)")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--code", type=Path, default=None, help="import vidbokeh from this checkout")
    ap.add_argument("--save", type=Path, default=None, help="run only --base and save its outputs here")
    ap.add_argument("--against", type=Path, default=None, help="base outputs saved by --save (base not run)")
    args = ap.parse_args()
    if args.code is not None:
        sys.path.insert(0, str(args.code.resolve()))

    from eval_subjects import load_metrics

    from vidbokeh.engine import EffectSettings, resolve_approach

    metrics = load_metrics()
    with tempfile.TemporaryDirectory(prefix="vidbokeh-eval-profile-") as tmp:
        weights = args.weights
        if weights is None and args.approach != "selfie":
            import bench_video

            weights = Path(tmp) / "dav2_vits_synthetic.pt"
            bench_video.synthetic_weights(str(weights))
        common = resolve_approach(EffectSettings(approach=args.approach, weights=weights, device="cpu",
                                                 runtime=args.runtime if args.approach != "selfie" else "torch"))
        base = make_settings(common, parse_changes(args.base))
        new = make_settings(common, parse_changes(args.new))
        rows = []
        for clip in (Path(c) for c in args.clips.split(",")):
            if args.against is not None:
                saved = np.load(args.against / f"{clip.stem}.npz")
                base_out, base_ms = list(saved["outputs"]), json.loads(str(saved["cpu_ms"]))
                inputs, new_out, new_ms = run_clip(clip, len(base_out), new)
            else:
                inputs, base_out, base_ms = run_clip(clip, args.frames, base)
            if args.save is not None:
                args.save.mkdir(parents=True, exist_ok=True)
                np.savez(args.save / f"{clip.stem}.npz", outputs=np.stack(base_out), cpu_ms=json.dumps(base_ms))
                print(f"{clip.name}: {len(base_out)} frames saved, CPU ms/frame {base_ms}, flicker "
                      f"{metrics.flicker(inputs, base_out):.4f}")
                continue
            if args.against is None:
                _, new_out, new_ms = run_clip(clip, args.frames, new)
            values = [psnr(a, b) for a, b in zip(base_out, new_out)]
            finite = [v for v in values if np.isfinite(v)]
            rows.append({
                "clip": clip.name, "frames": len(values),
                "psnr_mean_db": round(float(np.mean(finite)), 2) if finite else float("inf"),
                "psnr_worst_db": round(float(min(values)), 2),
                "flicker_base": metrics.flicker(inputs, base_out), "flicker_new": metrics.flicker(inputs, new_out),
                "cpu_ms_base": base_ms, "cpu_ms_new": new_ms,
            })
    load = os.getloadavg()
    if args.save is not None:
        return 0
    base_name = f"saved run {args.against}" if args.against else (args.base or "defaults")
    print(f"base: {base_name}   new: {args.new or 'defaults'}   approach {args.approach}, "
          f"runtime {args.runtime}; load {load[0]:.1f}")
    for r in rows:
        print(f"{r['clip']:26} {r['frames']:3d} frames  PSNR new vs base {r['psnr_mean_db']:.2f} dB mean, "
              f"{r['psnr_worst_db']:.2f} worst;  flicker {r['flicker_base']:.4f} -> {r['flicker_new']:.4f}")
        stages = sorted(set(r["cpu_ms_base"]) | set(r["cpu_ms_new"]))
        print(f"{'':26} CPU ms/frame " + ", ".join(
            f"{s} {r['cpu_ms_base'].get(s, 0):.1f}->{r['cpu_ms_new'].get(s, 0):.1f}" for s in stages))
    if args.json:
        args.json.write_text(json.dumps({"base": args.base, "new": args.new, "load": load, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
