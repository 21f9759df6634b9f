"""Shared pieces of the batch tests: a small mixed input tree and checks on what a batch wrote."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from media_factory import audio_packets, decoded_video, make_clip

PHOTOS = ("davis2016_breakdance_00000.jpg", "davis2016_parkour_00040.jpg")


def make_tree(root: Path, samples_dir: Path, *, seconds: float = 4.0, size: tuple[int, int] = (128, 96)) -> Path:
    """root/photos/<two shared portraits> and root/clip.mp4 (30 fps, a keyframe every second, AAC tone)."""
    (root / "photos").mkdir(parents=True)
    for name in PHOTOS:
        shutil.copy(samples_dir / "portraits" / "images" / name, root / "photos" / name)
    make_clip(root / "clip.mp4", width=size[0], height=size[1], frames=int(seconds * 30), fps=30, gop=30)
    return root


def manifest_lines(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines() if line.strip()]


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def assert_video_like_source(output: Path, source: Path) -> None:
    """Same frame timestamps (so the same count) and the same audio packets as the source."""
    out_pts, out_tb, out_size = decoded_video(output)
    src_pts, src_tb, src_size = decoded_video(source)
    assert out_pts == src_pts and out_tb == src_tb and out_size == src_size
    assert audio_packets(output) == audio_packets(source) != []


def leftovers(out: Path) -> list[Path]:
    """Temporary or work files a finished batch must not leave behind."""
    return [p for p in out.rglob("*") if p.name.startswith(".")]
