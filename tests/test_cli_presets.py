"""`--preset NAME|FILE` on the command line (image, file, webcam, compare) and `vidbokeh serve`'s arguments."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from cli_helpers import cli, error_line
from vidbokeh.cli_parser import explicit_fields as _explicit_fields

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "samples" / "obama_official_portrait.jpg"


@pytest.fixture
def presets(tmp_path, monkeypatch) -> Path:
    """A saved preset "strong" (selfie, strong 6-blade blur) in a presets store of its own; MediaPipe's
    models still come from the real store (linked)."""
    from vidbokeh import presets_file, store

    real = store.home()
    home = tmp_path / "home"
    home.mkdir()
    for path in real.glob("*.tflite*"):
        (home / path.name).symlink_to(path)
    monkeypatch.setenv("VIDBOKEH_HOME", str(home))
    presets_file.save(presets_file.UserPreset("strong", {"approach": "selfie", "max_blur": 0.06,
                                                         "aperture_blades": 6}))
    return home / "presets"


@pytest.fixture
def portrait(tmp_path) -> Path:
    dst = tmp_path / "portrait.jpg"
    shutil.copy(SAMPLE, dst)
    return dst


def _image(portrait: Path, name: str, args: list, capsys) -> bytes:
    out = portrait.with_name(name)
    code, err = cli(["image", portrait, "-o", out, *args], capsys)
    assert code == 0, err
    return out.read_bytes()


def test_image_with_a_preset_is_the_preset_and_explicit_flags_win(presets, portrait, tmp_path, capsys):
    with_preset = _image(portrait, "a.jpg", ["--preset", "strong"], capsys)
    spelled_out = _image(portrait, "b.jpg", ["--approach", "selfie", "--max-blur", "0.06", "--aperture-blades", "6"],
                         capsys)
    assert with_preset == spelled_out
    overridden = _image(portrait, "c.jpg", ["--preset", "strong", "--max-blur", "0.01"], capsys)
    spelled_out = _image(portrait, "d.jpg", ["--approach", "selfie", "--max-blur", "0.01", "--aperture-blades", "6"],
                         capsys)
    assert overridden == spelled_out and overridden != with_preset
    from_file = _image(portrait, "e.jpg", ["--preset", presets / "strong.json"], capsys)
    assert from_file == with_preset


def test_explicit_flags_are_told_apart_from_defaults_and_a_webcams_camera_is_not_the_compute_device():
    given = _explicit_fields(["webcam", "--device", "/dev/video3", "--preset", "p", "--strategy", "portrait",
                              "--accelerator", "cpu"], "webcam")
    assert {"strategy", "device"} <= given and "max_blur" not in given and "approach" not in given
    given = _explicit_fields(["webcam", "--device", "/dev/video3", "--preset", "p"], "webcam")
    assert "device" not in given  # the camera (its earlier spelling), not where depth runs
    assert "device" not in _explicit_fields(["webcam", "--camera", "/dev/video3", "--preset", "p"], "webcam")
    assert "device" in _explicit_fields(["webcam", "--camera", "/dev/video3", "--device", "cpu", "--preset", "p"],
                                        "webcam")
    assert "blur_foreground" in _explicit_fields(["image", "x.jpg", "--preset", "p", "--blur-foreground"], "image")


@pytest.mark.parametrize("content, problem", [
    ("{not json", "invalid JSON"),
    ('{"schema": 3, "name": "x", "settings": {}}', "schema 3 is newer"),
    ('{"schema": 1, "name": "x", "settings": {"max_blur": "strong"}}', "max_blur: expected a number"),
    ('{"schema": 1, "name": "x", "settings": {"approach": "telepathy"}}', "unknown approach 'telepathy'"),
])
def test_a_bad_preset_file_is_one_line_and_exit_2(presets, portrait, tmp_path, capsys, content, problem):
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    code, err = cli(["image", portrait, "--preset", bad], capsys)
    line = error_line(err)
    assert code == 2 and str(bad) in line and problem in line
    assert not portrait.with_name("portrait_bokeh.jpg").exists()


def test_an_unknown_preset_name_lists_the_saved_ones(presets, portrait, capsys):
    code, err = cli(["image", portrait, "--preset", "nope"], capsys)
    assert code == 2 and "no preset named 'nope'" in error_line(err) and "strong" in err


def test_file_and_webcam_take_a_preset(presets, tmp_path, capsys):
    import av

    from media_factory import make_clip

    clip = make_clip(tmp_path / "clip.mp4", width=96, height=64, frames=6)
    code, err = cli(["file", clip, tmp_path / "out.mp4", "--preset", "strong"], capsys)
    assert code == 0, err
    code, err = cli(["webcam", "--input-format", "lavfi", "--device", "testsrc2=size=96x64:rate=10", "--no-preview",
                     "--frames", "4", "--output", tmp_path / "rec.mp4", "--preset", "strong"], capsys)
    assert code == 0, err
    for path in (tmp_path / "out.mp4", tmp_path / "rec.mp4"):
        with av.open(str(path)) as container:
            assert container.streams.video[0].frames or sum(1 for _ in container.decode(video=0))


def test_compare_shares_the_presets_look(presets, capsys):
    import argparse

    from vidbokeh.commands import _compare_effect

    args = argparse.Namespace(max_blur=None, preset="strong", explicit_fields={"preset"})
    effect = _compare_effect(args)
    assert (effect.max_blur, effect.aperture_blades) == (0.06, 6)
    args = argparse.Namespace(max_blur=0.02, preset="strong", explicit_fields={"max_blur", "preset"})
    assert _compare_effect(args).max_blur == 0.02
    assert _compare_effect(argparse.Namespace(max_blur=None, preset=None)) is None


def test_serve_arguments_and_a_missing_web_extra(monkeypatch, capsys):
    import importlib.util

    from vidbokeh.cli import build_parser

    args = build_parser().parse_args(["serve", "--port", "0", "--max-upload-mb", "5"])
    assert (args.host, args.port, args.max_upload_mb) == ("127.0.0.1", 0, 5.0)
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "uvicorn" else real(name, *a))
    code, err = cli(["serve", "--port", "0"], capsys)
    line = error_line(err)
    assert code == 2 and "pip install 'vidbokeh[web]'" in line and "uvicorn" in line
