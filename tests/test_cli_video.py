"""`vidbokeh file` and `vidbokeh webcam` end to end: timing, audio, metadata, live sources."""
from __future__ import annotations

import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from media_factory import audio_packets, decoded_video, make_clip
from vidbokeh.cli import run
from vidbokeh.engine import EffectSettings
from vidbokeh.errors import UsageError
from vidbokeh.webcam_mode import CameraJob, run_webcam

SELFIE = ["--approach", "selfie"]
ROOT = Path(__file__).resolve().parents[1]


def _duration(path: Path) -> float:
    with av.open(str(path)) as c:
        return float(c.duration) / av.time_base if c.duration else 0.0


@pytest.mark.parametrize("suffix", [".mp4", ".mkv", ".mov"])
def test_file_mode_keeps_frames_timestamps_audio_and_metadata(tmp_path: Path, suffix: str):
    src = make_clip(tmp_path / f"in{suffix}", width=160, height=120, frames=24, fps=24,
                    metadata={"title": "vidbokeh test", "comment": "kept"})
    dst = tmp_path / f"out{suffix}"
    before = src.read_bytes()
    assert run(["file", str(src), str(dst), *SELFIE]) == 0
    assert src.read_bytes() == before
    pts_in, tb_in, size_in = decoded_video(src)
    pts_out, tb_out, size_out = decoded_video(dst)
    assert size_out == size_in
    assert len(pts_out) == len(pts_in)
    # Same presentation times (in seconds) frame for frame.
    t_in = [float(p * tb_in) for p in pts_in]
    t_out = [float(p * tb_out) for p in pts_out]
    assert np.allclose(t_in, t_out, atol=1e-3)
    # Audio copied packet for packet.
    assert audio_packets(dst) == audio_packets(src)
    assert abs(_duration(dst) - _duration(src)) < 1 / 24 + 1e-3
    with av.open(str(src)) as a, av.open(str(dst)) as b:
        assert b.streams.video[0].average_rate == a.streams.video[0].average_rate
        if suffix != ".mp4":  # the mp4 muxer only keeps a few standard tags, title among them
            assert {k.lower(): v for k, v in b.metadata.items()}.get("comment") == "kept"
        assert b.metadata.get("title") == "vidbokeh test"
    assert not list(tmp_path.glob("*partial*"))  # no temporary file left behind


def test_variable_frame_rate_stays_variable(tmp_path: Path):
    pts = [0, 40, 70, 150, 160, 260, 300, 420, 430, 500]
    src = make_clip(tmp_path / "vfr.mkv", width=96, height=64, pts=pts, time_base=Fraction(1, 1000))
    dst = tmp_path / "vfr_out.mkv"
    assert run(["file", str(src), str(dst), *SELFIE]) == 0
    out_pts, tb, _ = decoded_video(dst)
    assert [round(float(p * tb) * 1000) for p in out_pts] == pts


def test_rotation_metadata_and_odd_size_are_kept(tmp_path: Path):
    src = make_clip(tmp_path / "phone.mp4", width=91, height=67, frames=8, rotation=90)
    dst = tmp_path / "phone_out.mp4"
    assert run(["file", str(src), str(dst), *SELFIE]) == 0
    _, _, size = decoded_video(dst)
    assert size == (91, 67)
    with av.open(str(dst)) as c:
        frame = next(c.decode(video=0))
        assert frame.rotation == 90


def test_webm_output_uses_a_webm_codec(tmp_path: Path):
    src = make_clip(tmp_path / "in.mp4", width=64, height=48, frames=6, audio=True)
    dst = tmp_path / "out.webm"
    assert run(["file", str(src), str(dst), *SELFIE]) == 0
    with av.open(str(dst)) as c:
        assert c.streams.video[0].codec_context.name in ("vp9", "libvpx-vp9")
        assert c.streams.audio and c.streams.audio[0].codec_context.name in ("opus", "libopus", "vorbis")
        assert sum(1 for _ in c.decode(video=0)) == 6


def test_webcam_lavfi_to_a_recording_with_latency_report(tmp_path: Path, capsys):
    out = tmp_path / "rec.mp4"
    code = run(["webcam", "--input-format", "lavfi", "--camera", "testsrc2=size=320x240:rate=30",
                "--no-preview", "--frames", "20", "--output", str(out), *SELFIE])
    assert code == 0
    pts, _, size = decoded_video(out)
    assert size == (320, 240) and len(pts) == 20
    err = capsys.readouterr().err
    assert "latency median" in err


def test_webcam_to_a_virtual_camera_backend(samples_dir: Path):
    """The virtual camera gets every frame at the display size (the live window has its own test in Xvfb:
    test_live_window.py). The backend is a recorder with pyvirtualcam's interface: no v4l2loopback here."""
    sent: list[np.ndarray] = []

    class RecordingCamera:
        def __init__(self, w, h, fps, **kw):
            self.size = (w, h)
            self.device = "/dev/video-recorder"

        def send(self, rgb):
            sent.append(rgb)

        def close(self):
            pass

    clip = samples_dir / "videos" / "intel_asl_book.mkv"
    job = CameraJob(camera=str(clip), preview=False, virtual_camera=True, max_frames=12)  # read like a file
    report = run_webcam(job, EffectSettings(approach="selfie", video=True), virtual_factory=RecordingCamera)
    assert len(sent) == 12 and sent[0].shape == (480, 640, 3)
    assert report.frames_written == 12
    assert report.latency_ms() is not None


# ----------------------------------------------------------------------------- start-up of the selfie path

def _tiny_clip(path: Path) -> None:
    import av

    with av.open("testsrc2=size=160x120:rate=24", format="lavfi") as src, av.open(str(path), "w") as out:
        st = out.add_stream("libx264", rate=24)
        st.width, st.height, st.pix_fmt = 160, 120, "yuv420p"
        for i, f in enumerate(src.decode(video=0)):
            if i >= 6:
                break
            f.pts = None
            for p in st.encode(f):
                out.mux(p)
        for p in st.encode():
            out.mux(p)


def test_selfie_file_mode_imports_neither_torch_nor_matplotlib(tmp_path: Path) -> None:
    clip = tmp_path / "in.mp4"
    _tiny_clip(clip)
    child = (
        "import sys\n"
        "from vidbokeh.cli import run\n"
        f"code = run(['file', {str(clip)!r}, {str(tmp_path / 'out.mp4')!r}, '--approach', 'selfie'])\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'matplotlib', 'timm'})\n"
        "import mediapipe\n"
        "spec = mediapipe.tasks.vision.drawing_utils.DrawingSpec  # still there when touched\n"
        "print('RESULT', code, ','.join(heavy) or '-')\n"
    )
    proc = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, cwd=ROOT, timeout=300)
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT")]
    assert proc.returncode == 0 and line, proc.stderr[-2000:]
    assert line[0].split()[1:] == ["0", "-"]


@pytest.mark.parametrize("fields, named", [
    ({"size": (0, 480)}, "size"), ({"size": (640.5, 480)}, "size"), ({"size": (640,)}, "size"),
    ({"fps": 0}, "fps"), ({"fps": float("nan")}, "fps"), ({"max_seconds": -1.0}, "max_seconds"),
    ({"max_frames": 0}, "max_frames"), ({"max_frames": 2.5}, "max_frames"), ({"input_format": " "}, "input_format"),
])
def test_a_camera_job_checks_its_own_fields(fields, named):
    """The Python API gets the same one-line refusal the CLI's parser gives, before anything opens."""
    with pytest.raises(UsageError, match=named):
        CameraJob(**fields)
    CameraJob(size=(640, 480), fps=30, max_frames=3, max_seconds=1.5, input_format="lavfi")  # all fine


def test_an_interrupted_summary_says_playable_only_of_a_recording(tmp_path: Path):
    """Ctrl-C on a live run: "finalized, playable" is said of the recording it kept, never of a window alone."""
    from vidbokeh.video_report import RunReport

    recorded = RunReport(output=tmp_path / "rec.mp4", frames_written=12, seconds=1.0, interrupted=True).summary()
    assert recorded.startswith("interrupted: 12 frames written to") and recorded.endswith("(finalized, playable)")
    shown = RunReport(output=None, frames_written=12, seconds=1.0, interrupted=True).summary()
    assert shown == "interrupted: 12 frames, 12.0 fps"
