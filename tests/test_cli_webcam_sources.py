"""`vidbokeh webcam` with sources that are not cameras (lavfi graphs, clips), and a real Ctrl-C on `file`.

A source that is not live is read like a file: every frame, at the reader's pace, timestamps as the
source gave them, so a recording of N frames lasts N frame steps. Size and rate requests are honoured or
refused up front in one line.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import av
import pytest

from cli_helpers import cli, error_line
from media_factory import decoded_video

SELFIE = ["--approach", "selfie"]
REPO = Path(__file__).resolve().parents[1]


def test_generated_source_is_read_like_a_file_not_a_slideshow(tmp_path, capsys):
    out = tmp_path / "cam.mp4"
    code, err = cli(["webcam", "--input-format", "lavfi", "--camera", "testsrc2=size=640x480:rate=30",
                     "--frames", "60", "--output", out, "--no-preview", *SELFIE], capsys)
    assert code == 0, err
    assert "dropped" not in err  # every generated frame is processed; none is thrown away
    pts, time_base, size = decoded_video(out)
    assert size == (640, 480) and len(pts) == 60
    steps = {int(b - a) for a, b in zip(pts, pts[1:])}
    assert len(steps) == 1 and steps.pop() * time_base == Fraction(1, 30)  # 60 frames, 30 fps: 2 s of video
    with av.open(str(out)) as c:
        assert abs(float(c.duration / av.time_base) - 2.0) < 0.05


def test_clip_without_realtime_is_read_like_a_file(tmp_path, capsys, samples_dir):
    clip = samples_dir / "videos" / "intel_asl_book.mkv"
    out = tmp_path / "clip.mp4"
    code, err = cli(["webcam", "--camera", clip, "--frames", "40", "--output", out, "--no-preview", *SELFIE], capsys)
    assert code == 0, err
    assert "dropped" not in err
    pts, time_base, _ = decoded_video(out)
    with av.open(str(clip)) as c:
        source_pts = [f.pts for _, f in zip(range(40), c.decode(video=0))]
        source_tb = c.streams.video[0].time_base
    assert len(pts) == 40  # the clip's first 40 frames, at their own times (from zero)
    assert [p * time_base for p in pts] == [(p - source_pts[0]) * source_tb for p in source_pts]


@pytest.mark.parametrize("device,fmt", [("testsrc2=size=320x240:rate=30", "lavfi"), ("CLIP", None)])
def test_size_is_honoured_for_any_source(tmp_path, capsys, samples_dir, device, fmt):
    if device == "CLIP":
        device = samples_dir / "videos" / "intel_asl_book.mkv"  # 640x480
    args = ["webcam", "--camera", device, *(["--input-format", fmt] if fmt else []), "--size", "400x300",
            "--frames", "8", "--output", tmp_path / "sized.mp4", "--no-preview", *SELFIE]
    code, err = cli(args, capsys)
    assert code == 0, err
    _, _, size = decoded_video(tmp_path / "sized.mp4")
    assert size == (400, 300)


def test_size_larger_than_the_source_is_scaled_not_an_internal_error(tmp_path, capsys):
    code, err = cli(["webcam", "--input-format", "lavfi", "--camera", "testsrc2=size=320x240:rate=30",
                     "--size", "640x480", "--frames", "5", "--output", tmp_path / "big.mp4", "--no-preview",
                     *SELFIE], capsys)
    assert code == 0, err
    assert decoded_video(tmp_path / "big.mp4")[2] == (640, 480)


@pytest.mark.parametrize("device,fmt,says", [
    ("testsrc2=size=320x240:rate=30", "lavfi", "a lavfi graph sets its own rate"),
    ("CLIP", None, "a video file plays at its own rate"),
])
def test_fps_for_a_source_with_its_own_rate_is_refused_in_one_line(tmp_path, capsys, samples_dir, device, fmt,
                                                                   says):
    if device == "CLIP":
        device = samples_dir / "videos" / "intel_asl_book.mkv"
    args = ["webcam", "--camera", device, *(["--input-format", fmt] if fmt else []), "--fps", "15",
            "--frames", "5", "--no-preview", *SELFIE]
    code, err = cli(args, capsys)
    assert code == 2
    line = error_line(err)
    assert "--fps applies to camera devices" in line and says in line


def test_ctrl_c_on_file_reports_only_what_happened(tmp_path, samples_dir):
    """A real SIGINT to a real `vidbokeh file` process midway: a playable file and a true summary."""
    clip = samples_dir / "videos" / "sam2_juggle.mp4"  # 247 frames, counted in its header
    out = tmp_path / "out.mp4"
    err_path = tmp_path / "stderr.txt"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with open(err_path, "wb") as err:
        proc = subprocess.Popen([sys.executable, "-m", "vidbokeh", "file", str(clip), str(out), *SELFIE],
                                env=env, stdout=subprocess.DEVNULL, stderr=err)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:  # poll the progress bar until frames flow
            done = [int(n) for n in re.findall(r"(\d+)/247", err_path.read_text(errors="replace"))]
            if done and max(done) >= 5:
                break
            time.sleep(0.05)
        assert proc.poll() is None, err_path.read_text()
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    err = err_path.read_text(errors="replace")
    assert code == 130, err
    summary = [ln for ln in err.replace("\r", "\n").splitlines() if ln.startswith("vidbokeh: interrupted")]
    assert len(summary) == 1, err
    written = int(re.search(r"interrupted: (\d+) frames written", summary[0]).group(1))
    assert 0 < written < 247
    assert "undecodable" not in summary[0] and "ends early" not in summary[0]  # nothing was damaged
    assert len(decoded_video(out)[0]) == written  # playable, with exactly the frames it says
