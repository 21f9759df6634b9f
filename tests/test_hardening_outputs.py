"""Hardening (issue 6): outputs. A bad destination is refused before any work (exit 5, one line naming it),
the input is never touched, and a write that fails midway leaves nothing under the final name.

Through ``vidbokeh.cli.run`` in-process with ``--approach selfie``; the full disk is injected in the sink.
"""
from __future__ import annotations

import errno
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from media_factory import decoded_video, make_clip
from cli_helpers import cli, error_line

SELFIE = ["--approach", "selfie"]




def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.fixture()
def clip(tmp_path: Path) -> Path:
    src_dir = tmp_path / "in"
    src_dir.mkdir()
    return make_clip(src_dir / "clip.mp4", width=64, height=48, frames=24)


@pytest.fixture()
def photo(tmp_path: Path) -> Path:
    src_dir = tmp_path / "photos"
    src_dir.mkdir()
    rng = np.random.default_rng(0)
    path = src_dir / "photo.jpg"
    Image.fromarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)).save(path)
    return path


def _invocation(mode: str, src: Path, dst: Path, *extra: str) -> list:
    if mode == "file":
        return ["file", src, dst, *SELFIE, *extra]
    return ["image", src, "-o", dst, *SELFIE, *extra]


# ----------------------------------------------------------------------------- refused destinations


REFUSALS = ["missing_folder", "same_as_input", "same_via_other_spelling", "hard_link_to_input",
            "unsupported_extension"]


# (image mode takes an existing folder as "-o FOLDER" and writes a file without extension in the input's format)
@pytest.mark.parametrize("mode, case", [("file", c) for c in REFUSALS + ["no_extension", "is_a_folder"]]
                         + [("image", c) for c in REFUSALS])
def test_refused_destination_is_exit_5_with_one_line_and_the_input_untouched(tmp_path, clip, photo, capsys, mode,
                                                                             case):
    src = clip if mode == "file" else photo
    suffix = src.suffix
    before = src.read_bytes()
    dst = {
        "missing_folder": tmp_path / "no" / "such" / f"out{suffix}",
        "same_as_input": src,
        "same_via_other_spelling": src.parent / ".." / src.parent.name / src.name,
        "hard_link_to_input": src.parent / f"link{suffix}",
        "unsupported_extension": tmp_path / ("out.avi" if mode == "file" else "out.gif"),
        "no_extension": tmp_path / "out",
        "is_a_folder": tmp_path / f"folder{suffix}",
    }[case]
    if case == "hard_link_to_input":
        os.link(src, dst)
    if case == "is_a_folder":
        dst.mkdir()
    # --overwrite must not let the input (or anything else refused) through either
    code, err = cli(_invocation(mode, src, dst, "--overwrite"), capsys)
    assert code == 5
    line = error_line(err)
    assert dst.name in line or str(dst.parent) in line
    assert src.read_bytes() == before
    assert not any("partial" in n for n in names(src.parent) + names(tmp_path))


@pytest.mark.parametrize("mode", ["file", "image"])
def test_existing_output_is_refused_without_overwrite_and_replaced_with_it(tmp_path, clip, photo, capsys, mode):
    src = clip if mode == "file" else photo
    dst = tmp_path / f"out{src.suffix}"
    dst.write_bytes(b"precious")
    code, err = cli(_invocation(mode, src, dst), capsys)
    assert code == 5
    line = error_line(err)
    assert str(dst) in line and "--overwrite" in line
    assert dst.read_bytes() == b"precious"
    code, err = cli(_invocation(mode, src, dst, "--overwrite"), capsys)
    assert code == 0, err
    assert dst.read_bytes() != b"precious"


@pytest.mark.parametrize("mode", ["file", "image"])
def test_read_only_destination_folder_is_refused(tmp_path, clip, photo, capsys, mode):
    if os.geteuid() == 0:
        pytest.skip("root writes into read-only folders; see the simulated variant below")
    src = clip if mode == "file" else photo
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        code, err = cli(_invocation(mode, src, folder / f"out{src.suffix}"), capsys)
    finally:
        folder.chmod(0o755)
    assert code == 5
    assert "not writable" in error_line(err)
    assert names(folder) == []


@pytest.mark.parametrize("mode", ["file", "image"])
def test_read_only_destination_folder_is_refused_simulated(tmp_path, clip, photo, capsys, monkeypatch, mode):
    """The same refusal where the OS says no (read-only mount, no permission), for root too."""
    src = clip if mode == "file" else photo
    folder = tmp_path / "locked"
    folder.mkdir()
    real_access = os.access

    def access(path, how, *args, **kwargs):
        if Path(path) == folder and how & os.W_OK:
            return False
        return real_access(path, how, *args, **kwargs)

    monkeypatch.setattr(os, "access", access)
    code, err = cli(_invocation(mode, src, folder / f"out{src.suffix}"), capsys)
    assert code == 5
    line = error_line(err)
    assert "not writable" in line and str(folder) in line
    assert names(folder) == []


# ----------------------------------------------------------------------------- failures while writing


def test_video_write_failure_midway_leaves_nothing_under_the_final_name(tmp_path, clip, capsys, monkeypatch):
    from vidbokeh.media.video_file import VideoFileSink

    real_mux = VideoFileSink._mux

    def full_disk(self, packet):
        if self.frames_written >= 10:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_mux(self, packet)

    monkeypatch.setattr(VideoFileSink, "_mux", full_disk)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    dst = out_dir / "out.mp4"
    before = clip.read_bytes()
    code, err = cli(["file", clip, dst, *SELFIE], capsys)
    assert code == 5
    line = error_line(err)
    assert str(dst) in line and "no space left" in line
    assert names(out_dir) == []  # no half-written file, no temporary file
    assert clip.read_bytes() == before


def test_video_write_failure_with_overwrite_keeps_the_old_file(tmp_path, clip, capsys, monkeypatch):
    from vidbokeh.media.video_file import VideoFileSink

    dst = tmp_path / "out.mp4"
    dst.write_bytes(b"previous result")

    def broken(self, packet):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(VideoFileSink, "_mux", broken)
    code, err = cli(["file", clip, dst, *SELFIE, "--overwrite"], capsys)
    assert code == 5
    assert str(dst) in error_line(err)
    assert dst.read_bytes() == b"previous result"  # replaced only by a complete file
    assert not [n for n in names(tmp_path) if "partial" in n]


def test_image_write_failure_leaves_nothing_under_the_final_name(tmp_path, photo, capsys, monkeypatch):
    real_save = Image.Image.save

    def full_disk(self, fp, *args, **kwargs):
        real_save(self, fp, *args, **kwargs)  # some bytes reach the disk, then the disk is full
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", full_disk)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    dst = out_dir / "photo_bokeh.jpg"
    code, err = cli(["image", photo, "-o", dst, *SELFIE], capsys)
    assert code == 5
    line = error_line(err)
    assert str(dst) in line and "No space left" in line
    assert names(out_dir) == []


def test_recording_to_an_existing_file_is_refused_before_the_camera_runs(tmp_path, capsys):
    dst = tmp_path / "rec.mp4"
    dst.write_bytes(b"earlier recording")
    code, err = cli(["webcam", "--input-format", "lavfi", "--camera", "testsrc2=size=64x48:rate=30", "--no-preview",
                     "--frames", "5", "--output", dst, *SELFIE], capsys)
    assert code == 5
    assert str(dst) in error_line(err)
    assert dst.read_bytes() == b"earlier recording"


def test_a_complete_run_leaves_only_the_output(tmp_path, clip, capsys):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    code, _ = cli(["file", clip, out_dir / "out.mkv", *SELFIE], capsys)
    assert code == 0
    assert names(out_dir) == ["out.mkv"]
    assert len(decoded_video(out_dir / "out.mkv")[0]) == 24


# ----------------------------------------------------------------------------- encoder and run settings


@pytest.mark.parametrize("args", [
    ["--crf", "-5"], ["--crf", "52"], ["--crf", "x"], ["--encoder-preset", "bogus"], ["--codec", "no-such-encoder"],
])
def test_bad_encoder_settings_are_usage_errors_before_any_work(tmp_path, clip, capsys, args):
    code, err = cli(["file", clip, tmp_path / "out.mp4", *SELFIE, *args], capsys)
    assert code == 2
    error_line(err)
    assert names(tmp_path) == ["in"]


@pytest.mark.parametrize("args", [["--seconds", "-1"], ["--seconds", "nan"], ["--fps", "0"], ["--frames", "0"]])
def test_bad_webcam_settings_are_usage_errors(capsys, args):
    code, err = cli(["webcam", "--input-format", "lavfi", "--camera", "testsrc2=size=64x48:rate=30", "--no-preview",
                     *SELFIE, *args], capsys)
    assert code == 2
    error_line(err)


@pytest.mark.parametrize("suffix, crf", [
    (".mp4", "0"), (".mp4", "51"), (".webm", "0"),
    (".webm", "51"),  # VP9 gets crf + 13, clamped to its 0..63
])
def test_crf_at_both_ends_of_its_range_works_in_every_container(tmp_path, clip, capsys, suffix, crf):
    out = tmp_path / f"out{suffix}"
    code, err = cli(["file", clip, out, *SELFIE, "--crf", crf], capsys)
    assert code == 0, err
    assert len(decoded_video(out)[0]) == 24
