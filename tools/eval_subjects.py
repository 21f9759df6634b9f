#!/usr/bin/env python3
"""Subject-protection figures (issue 12) with the shared metric, per photo and median, and on a labelled clip.

    python tools/eval_subjects.py [--photos DIR] [--clip MP4 --clip-masks DIR] [--approach selfie]
                                  [--skip-photos] [--skip-clip] [--labels] [--panned] [--moved]
                                  [--cost MP4 [--cost-frames N]]
                                  [--json out.json]

Photos: every ``DIR/images/*.jpg`` with its mask ``DIR/masks/<stem>.png`` (default: the shared DAVIS portraits),
run in this process through the engine with default settings (``--approach`` as given: ``selfie`` is what
``auto`` takes without depth weights). The output array is measured as it comes back (no file encoding).
Clip: ``vidbokeh file CLIP`` as a user runs it (a subprocess, default settings), the written video decoded
and measured frame by frame against ``--clip-masks`` (``NNNNN.png`` per frame), plus the flicker ratio.

Every figure comes from ``$VIDBOKEH_SHARED/metrics/portrait_metrics.py``: fg_psnr, bg_energy, sharp_iou, leak.
The photos' subject stages' time per photo (faces + people + segment + mask, from the engine's timings, wall clock)
is printed too, and the process's CPU time for the whole photo (every thread; the machine may be shared: CPU time
moves less with the load than wall time does).
``--labels``: the photos rendered with their labels as the protection mask instead of ours, by the same blur:
what a perfect mask scores with this metric (the ceiling of the figures; the timings then mean nothing).
``--panned``: video mode on the photos seen through a camera panning across them (a sliding crop), people
looked for every few frames as video does: what video keeps of a full-body person who moves in the frame.
``--moved``: video mode on clips made from the photos: the labelled person cut out and moved (sliding, bobbing,
swaying) over the rest of the photo, where she stood filled in (OpenCV's inpainting: a faint smear stays); still
people behind a mover, as in a dancer's audience. Median figures and the flicker ratio per photo.
``--cost CLIP``: what the video subject stages cost per frame (ms, the engine's own stage timings, and the
process's CPU time per frame), with the motion cue (stages/subject_motion.py) on and off, alternating frame
by frame in one run so that the machine's load weighs on both alike.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("VIDBOKEH_SHARED", ROOT.parent / "shared"))
FIGURES = ("fg_psnr", "bg_energy", "sharp_iou", "leak")
SUBJECT_STAGES = ("faces", "segment", "people", "mask", "motion")


def load_metrics():
    """The shared metric module (``portrait_metrics``, ``flicker``)."""
    path = SHARED / "metrics" / "portrait_metrics.py"
    if not path.is_file():
        raise SystemExit(f"shared metric not found at {path} (set VIDBOKEH_SHARED)")
    spec = importlib.util.spec_from_file_location("portrait_metrics", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def medians(rows: list[dict]) -> dict[str, float]:
    return {k: round(float(statistics.median(r[k] for r in rows)), 4) for k in FIGURES}


def photo_figures(folder: Path, approach: str = "selfie", labels: bool = False) -> list[dict]:
    """One row per labelled photo: name, the four figures, subject-stage milliseconds. ``labels``: each photo
    rendered with its label as the protection mask instead of ours (what a perfect mask scores: the ceiling)."""
    from dataclasses import replace

    import cv2

    from vidbokeh.engine import EffectSettings, analyse_still, load_models, render_analysis, render_still

    metrics = load_metrics()
    images = sorted((folder / "images").glob("*.jpg"))
    if not images:
        raise SystemExit(f"no photos in {folder / 'images'}")
    rows = []
    with load_models(EffectSettings(approach=approach), "image", progress=False) as models:
        # the models' first call pays their start-up: made once before any photo is timed
        render_still(models, np.ascontiguousarray(cv2.imread(str(images[0]), cv2.IMREAD_COLOR)[:, :, ::-1]))
        for path in images:
            bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
            gt = cv2.imread(str(folder / "masks" / f"{path.stem}.png"), cv2.IMREAD_GRAYSCALE)
            cpu = _cpu_seconds()
            rgb = np.ascontiguousarray(bgr[:, :, ::-1])
            if labels:
                analysis = analyse_still(models, rgb)
                h, w = analysis.work.shape[:2]
                label = cv2.resize(gt, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
                result = render_analysis(replace(analysis, protect=label), models.settings)
            else:
                result = render_still(models, rgb)
            cpu = _cpu_seconds() - cpu
            out_bgr = np.ascontiguousarray(result.output[:, :, ::-1])
            row = {"name": path.stem, **metrics.portrait_metrics(bgr, out_bgr, gt)}
            row["subject_ms"] = round(1000 * sum(result.timings.get(k, 0.0) for k in SUBJECT_STAGES), 1)
            row["cpu_ms"] = round(1000 * cpu, 1)
            rows.append(row)
    return rows


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def decode(path: Path) -> list[np.ndarray]:
    """Every frame of a video as BGR uint8."""
    import av

    with av.open(str(path)) as container:
        return [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]


def clip_figures(clip: Path, masks: Path, extra_args: list[str] = ()) -> dict:
    """``vidbokeh file`` on ``clip`` with default settings, measured per frame against ``masks``."""
    import cv2

    metrics = load_metrics()
    with tempfile.TemporaryDirectory(prefix="eval-subjects-") as tmp:
        out = Path(tmp) / "out.mp4"
        env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        cmd = [sys.executable, "-m", "vidbokeh", "file", str(clip), str(out), *extra_args]
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise SystemExit(f"vidbokeh file failed ({done.returncode}): {done.stderr.strip()[-500:]}")
        frames_in, frames_out = decode(clip), decode(out)
    if len(frames_in) != len(frames_out):
        raise SystemExit(f"{len(frames_out)} frames written for {len(frames_in)} read")
    rows = []
    for i, (a, b) in enumerate(zip(frames_in, frames_out)):
        gt_path = masks / f"{i:05d}.png"
        if gt_path.is_file():
            gt = cv2.imread(str(gt_path), cv2.IMREAD_GRAYSCALE)
            rows.append({"frame": i, **metrics.portrait_metrics(a, b, gt)})
    return {"clip": clip.name, "frames": len(rows), "median": medians(rows),
            "worst_leak": max(rows, key=lambda r: r["leak"]), "flicker": metrics.flicker(frames_in, frames_out),
            "rows": rows}


def panned_figures(folder: Path, approach: str = "selfie", frames: int = 18, step: int = 4,
                   skip: str = "breakdance") -> dict:
    """Video mode on the labelled photos seen through a camera panning ``step`` px a frame (a crop of the photo
    sliding across it): the person moves in the frame while people are looked for every few frames. One row per
    photo (median figures over the frames after the first six), and the median over every frame. Photos whose
    name holds ``skip`` are left out (the breakdance crowd: in a photo no motion can tell the dancer apart)."""
    import cv2

    from vidbokeh.engine import EffectSettings, load_models
    from vidbokeh.engine.video import VideoSession

    metrics = load_metrics()
    rows, every = [], []
    with load_models(EffectSettings(approach=approach), "video", progress=False) as models:
        for path in sorted((folder / "images").glob("*.jpg")):
            if skip and skip in path.stem:
                continue
            bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
            gt = cv2.imread(str(folder / "masks" / f"{path.stem}.png"), cv2.IMREAD_GRAYSCALE)
            h, w = gt.shape
            crop_w, crop_h = w - step * frames, h - h // 12
            if crop_w < w // 2:
                raise SystemExit(f"{path.name} is too narrow for a {frames}-frame pan of {step} px")
            mine = []
            with VideoSession(models) as session:
                for t in range(frames):
                    x, y = step * t, h // 24
                    view = np.ascontiguousarray(bgr[y:y + crop_h, x:x + crop_w])
                    out = session.process(np.ascontiguousarray(view[:, :, ::-1]), t / 30.0).output
                    if t >= 6:
                        mine.append(metrics.portrait_metrics(view, np.ascontiguousarray(out[:, :, ::-1]),
                                                             gt[y:y + crop_h, x:x + crop_w]))
            rows.append({"name": path.stem, **medians(mine)})
            every += mine
    return {"rows": rows, "median": medians(every)}


def moved_clip(bgr: np.ndarray, gt: np.ndarray, frames: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(frame, its mask) pairs: the labelled person of a photo moved over the photo's inpainted rest."""
    import cv2

    person = gt > 127
    hole = cv2.dilate(person.astype(np.uint8), np.ones((9, 9), np.uint8))
    rest = cv2.inpaint(bgr, hole * 255, 5, cv2.INPAINT_TELEA).astype(np.float32)
    ys, xs = np.nonzero(person)
    centre = (float(xs.mean()), float(ys.mean()))
    h, w = gt.shape
    out = []
    for t in range(frames):
        move = cv2.getRotationMatrix2D(centre, 6.0 * math.sin(t / 4.0), 1.0)
        move[0, 2] += 3.0 * (t - frames / 2) + 12.0 * math.sin(t / 3.0)
        move[1, 2] += 4.0 * math.sin(t / 2.0)
        fg = cv2.warpAffine(bgr, move, (w, h), flags=cv2.INTER_LINEAR).astype(np.float32)
        mask = cv2.warpAffine(gt, move, (w, h), flags=cv2.INTER_LINEAR)
        alpha = cv2.GaussianBlur(mask.astype(np.float32) / 255.0, (3, 3), 0)[..., None]
        out.append(((fg * alpha + rest * (1.0 - alpha) + 0.5).astype(np.uint8), mask))
    return out


def moved_figures(folder: Path, approach: str = "selfie", frames: int = 40, skip: int = 8) -> dict:
    """Video mode on ``moved_clip`` of each labelled photo: one row per photo (median figures over the frames from
    ``skip`` on, and the flicker ratio over them), and the median over every frame."""
    import cv2

    from vidbokeh.engine import EffectSettings, load_models
    from vidbokeh.engine.video import VideoSession

    metrics = load_metrics()
    rows, every = [], []
    with load_models(EffectSettings(approach=approach), "video", progress=False) as models:
        for path in sorted((folder / "images").glob("*.jpg")):
            clip = moved_clip(cv2.imread(str(path), cv2.IMREAD_COLOR),
                              cv2.imread(str(folder / "masks" / f"{path.stem}.png"), cv2.IMREAD_GRAYSCALE), frames)
            mine, shown, made = [], [], []
            with VideoSession(models) as session:
                for t, (bgr, mask) in enumerate(clip):
                    out = session.process(np.ascontiguousarray(bgr[:, :, ::-1]), t / 30.0).output
                    if t >= skip:
                        out_bgr = np.ascontiguousarray(out[:, :, ::-1])
                        mine.append(metrics.portrait_metrics(bgr, out_bgr, mask))
                        shown.append(bgr)
                        made.append(out_bgr)
            rows.append({"name": path.stem, **medians(mine), "flicker": metrics.flicker(shown, made)})
            every += mine
    return {"rows": rows, "median": medians(every),
            "flicker": round(float(statistics.median(r["flicker"] for r in rows)), 4)}


def subject_cost(clip: Path, frames: int = 96, approach: str = "selfie") -> dict:
    """Per-frame ms of each subject stage and of the process's CPU, with the motion cue on and off."""
    from vidbokeh.engine import EffectSettings, load_models
    from vidbokeh.engine.settings import VideoProfile
    from vidbokeh.engine.video import VideoSession

    pictures = []
    import av

    with av.open(str(clip)) as container:
        for frame in container.decode(video=0):
            pictures.append(frame.to_ndarray(format="rgb24"))
            if len(pictures) == frames:
                break
    out: dict = {"clip": clip.name, "frames": len(pictures), "size": list(pictures[0].shape[1::-1])}
    runs = {}
    for motion in (True, False):
        settings = EffectSettings(approach=approach, video_profile=VideoProfile(subject_motion=motion))
        models = load_models(settings, "video", progress=False)
        runs[motion] = (models, VideoSession(models), {k: [] for k in (*SUBJECT_STAGES, "subject", "cpu")})
    try:
        for i, rgb in enumerate(pictures):
            for motion in ((True, False) if i % 2 else (False, True)):
                _, session, acc = runs[motion]
                cpu = _cpu_seconds()
                result = session.process(rgb, i / 24.0)
                acc["cpu"].append(_cpu_seconds() - cpu)
                for key in SUBJECT_STAGES:
                    acc[key].append(result.timings.get(key, 0.0))
                acc["subject"].append(sum(result.timings.get(k, 0.0) for k in SUBJECT_STAGES))
    finally:
        for models, session, _ in runs.values():
            session.close()
            models.close()
    skip = min(6, len(pictures) // 4)  # model warm-up
    for motion, (_, _, acc) in runs.items():
        out["on" if motion else "off"] = {k: round(1000 * statistics.mean(v[skip:]), 2) for k, v in acc.items()}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--photos", type=Path, default=SHARED / "samples" / "portraits")
    parser.add_argument("--clip", type=Path, default=SHARED / "samples" / "videos" / "davis2016_breakdance.mp4")
    parser.add_argument("--clip-masks", type=Path,
                        default=SHARED / "samples" / "videos" / "davis2016_breakdance_masks")
    parser.add_argument("--approach", default="selfie")
    parser.add_argument("--skip-photos", action="store_true")
    parser.add_argument("--labels", action="store_true",
                        help="photos rendered with their labels as the protection mask: the ceiling of the figures")
    parser.add_argument("--skip-clip", action="store_true")
    parser.add_argument("--panned", action="store_true",
                        help="also video mode on the photos seen through a panning camera (a sliding crop)")
    parser.add_argument("--moved", action="store_true",
                        help="also video mode on clips of each photo's person moved over the photo's rest")
    parser.add_argument("--cost", type=Path, help="a clip to measure the video subject stages' cost per frame on")
    parser.add_argument("--cost-frames", type=int, default=96)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    report: dict = {"load": os.getloadavg()[0]}
    if not args.skip_photos:
        rows = photo_figures(args.photos, args.approach, args.labels)
        print(f"{'photo':34s} {'fg_psnr':>8s} {'bg_energy':>9s} {'sharp_iou':>9s} {'leak':>7s} {'subject ms':>10s}"
              f" {'cpu ms':>7s}")
        for r in rows:
            print(f"{r['name']:34s} {r['fg_psnr']:8.2f} {r['bg_energy']:9.4f} {r['sharp_iou']:9.4f} {r['leak']:7.4f}"
                  f" {r['subject_ms']:10.1f} {r['cpu_ms']:7.1f}")
        med = medians(rows)
        print(f"{'median':34s} {med['fg_psnr']:8.2f} {med['bg_energy']:9.4f} {med['sharp_iou']:9.4f} {med['leak']:7.4f}"
              f" {statistics.median(r['subject_ms'] for r in rows):10.1f} {statistics.median(r['cpu_ms'] for r in rows):7.1f}")
        print(f"worst leak: {max(r['leak'] for r in rows):.4f}")
        report["photos"] = {"rows": rows, "median": med}
    if not args.skip_clip:
        clip = clip_figures(args.clip, args.clip_masks)
        med = clip["median"]
        print(f"\nclip {clip['clip']} ({clip['frames']} labelled frames, `vidbokeh file` defaults): median "
              f"fg_psnr {med['fg_psnr']:.2f} bg_energy {med['bg_energy']:.4f} sharp_iou {med['sharp_iou']:.4f} "
              f"leak {med['leak']:.4f}; worst leak {clip['worst_leak']['leak']:.4f} (frame "
              f"{clip['worst_leak']['frame']}); flicker ratio {clip['flicker']:.4f}")
        report["clip"] = clip
    if args.panned:
        panned = panned_figures(args.photos, args.approach)
        print("\nvideo mode, the photos through a camera panning 4 px a frame (median of frames 6-17):")
        for r in panned["rows"]:
            print(f"{r['name']:34s} {r['fg_psnr']:8.2f} {r['bg_energy']:9.4f} {r['sharp_iou']:9.4f} {r['leak']:7.4f}")
        med = panned["median"]
        print(f"{'median (every frame)':34s} {med['fg_psnr']:8.2f} {med['bg_energy']:9.4f} {med['sharp_iou']:9.4f}"
              f" {med['leak']:7.4f}")
        report["panned"] = panned
    if args.moved:
        moved = moved_figures(args.photos, args.approach)
        print("\nvideo mode, each photo's person moved over the photo's inpainted rest (median of frames 8-39):")
        for r in moved["rows"]:
            print(f"{r['name']:34s} {r['fg_psnr']:8.2f} {r['bg_energy']:9.4f} {r['sharp_iou']:9.4f} {r['leak']:7.4f}"
                  f"  flicker {r['flicker']:.4f}")
        med = moved["median"]
        print(f"{'median (every frame)':34s} {med['fg_psnr']:8.2f} {med['bg_energy']:9.4f} {med['sharp_iou']:9.4f}"
              f" {med['leak']:7.4f}  flicker {moved['flicker']:.4f} (median of the photos')")
        report["moved"] = moved
    if args.cost is not None:
        cost = subject_cost(args.cost, args.cost_frames, args.approach)
        on, off = cost["on"], cost["off"]
        print(f"\ncost per frame on {cost['clip']} ({cost['size'][0]}x{cost['size'][1]}, {cost['frames']} frames), ms, "
              f"motion cue on / off:")
        for key in (*SUBJECT_STAGES, "subject", "cpu"):
            print(f"  {key:8s} {on[key]:8.2f} {off[key]:8.2f}")
        print(f"  subject stages on/off: {on['subject'] / max(off['subject'], 1e-9):.3f}; "
              f"process CPU on/off: {on['cpu'] / max(off['cpu'], 1e-9):.3f}")
        report["cost"] = cost
    print(f"load average (1 min): {report['load']:.2f}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
