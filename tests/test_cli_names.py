"""Issue 9's names: `--device` is where the models run on every command, `--camera` is webcam's camera; the
old spellings still work with a one-line note. The library logs; the CLI decides what the user sees."""
from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
from PIL import Image

from cli_helpers import cli, error_line
from media_factory import decoded_video
from vidbokeh.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
SELFIE = ["--approach", "selfie"]


def _commands_with_models() -> dict[str, list[str]]:
    """Each command that loads models, with the arguments it needs to parse."""
    return {"image": ["image", "x.jpg"], "file": ["file", "a.mp4", "b.mp4"], "webcam": ["webcam"],
            "compare": ["compare", "x.jpg", "--out", "r"]}


@pytest.mark.parametrize("command", sorted(_commands_with_models()))
def test_every_command_takes_the_compute_device_as_device(command):
    from vidbokeh.cli_parser import settle_device as _settle_device

    for device in ("cpu", "cuda", "mps", "auto"):
        args = build_parser().parse_args(_commands_with_models()[command] + ["--device", device])
        assert _settle_device(args) == [] and args.device == device
    args = build_parser().parse_args(_commands_with_models()[command])
    _settle_device(args)
    assert args.device == "auto"


@pytest.mark.parametrize("command", ["image", "compare"])
def test_an_unknown_device_is_a_usage_error(command, capsys):
    code, err = cli(_commands_with_models()[command] + ["--device", "gpu"], capsys)
    assert code == 2 and "gpu" in error_line(err)


def test_accelerator_still_works_with_a_note(tmp_path, capsys):
    code, err = cli(["image", tmp_path / "missing.jpg", "--accelerator", "cpu"], capsys)
    assert code == 3  # ran on as --device cpu, up to the missing input
    notes = [line for line in err.splitlines() if "deprecated" in line]
    assert notes == ["vidbokeh: --accelerator is deprecated: use --device cpu"]


def test_accelerator_and_device_that_disagree_are_refused(tmp_path, capsys):
    code, err = cli(["image", tmp_path / "x.jpg", "--accelerator", "cpu", "--device", "cuda"], capsys)
    assert code == 2 and "--device" in error_line(err)


def test_webcam_device_naming_a_camera_is_read_as_the_camera_with_a_note(tmp_path, capsys):
    out = tmp_path / "rec.mp4"
    graph = "testsrc2=size=64x48:rate=30"
    code, err = cli(["webcam", "--input-format", "lavfi", "--device", graph, "--frames", "3", "--no-preview",
                     "--output", out, *SELFIE], capsys)
    assert code == 0, err
    assert f"vidbokeh: --device for the camera is deprecated: use --camera {graph}" in err.splitlines()
    pts, _, size = decoded_video(out)
    assert len(pts) == 3 and size == (64, 48)


def test_webcam_camera_and_compute_device_together(tmp_path, capsys):
    out = tmp_path / "rec.mp4"
    code, err = cli(["webcam", "--input-format", "lavfi", "--camera", "testsrc2=size=64x48:rate=30",
                     "--device", "cpu", "--frames", "2", "--no-preview", "--output", out, *SELFIE], capsys)
    assert code == 0, err
    assert "deprecated" not in err
    code, err = cli(["webcam", "--camera", "/dev/video0", "--device", "/dev/video1"], capsys)
    assert code == 2 and "--camera" in error_line(err)


def test_help_names_device_and_camera_and_never_accelerator():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices
    for name in _commands_with_models():
        text = sub[name].format_help()
        assert "--device" in text and "--accelerator" not in text
    assert "--camera" in sub["webcam"].format_help()


def test_readme_uses_the_current_names():
    readme = (ROOT / "README.md").read_text()
    assert readme.count("--accelerator") == readme.count("`--accelerator`, its earlier name")  # only said so
    for flag in ("--device cuda", "--camera", "--input-format", "--realtime"):
        assert flag in readme, flag
    # webcam --device is never shown as the camera
    assert not re.search(r"webcam[^\n]*--device (?!cpu|cuda|mps|auto)", readme)


def test_the_library_never_writes_to_stderr_itself():
    """Outside the CLI (cli.py, commands.py) messages go through `logging`."""
    offenders = []
    for path in (ROOT / "vidbokeh").rglob("*.py"):
        if path.name in ("cli.py", "commands.py"):
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#", 1)[0]
            if re.search(r"sys\.stderr\.write|print\([^)]*file=sys\.stderr", code):
                offenders.append(f"{path.relative_to(ROOT)}:{number}")
    assert offenders == []


def test_library_log_records_reach_the_user_as_one_line_each(tmp_path, capsys, caplog):
    photo = tmp_path / "p.png"
    Image.new("RGB", (64, 48), (90, 120, 150)).save(photo)
    with caplog.at_level(logging.INFO, logger="vidbokeh"):
        code, err = cli(["compare", photo, "--out", tmp_path / "report", *["--approaches", "selfie"]], capsys)
    assert code == 0, err
    record = next(r for r in caplog.records if r.name == "vidbokeh.comparison.runner")
    assert f"vidbokeh: {record.getMessage()}" in err.splitlines()  # the CLI shows the library's record


def test_encoder_settings_check_themselves_and_the_cli_takes_their_range_and_presets():
    from vidbokeh.encoder_settings import CRF_RANGE, ENCODER_PRESETS, EncoderSettings
    from vidbokeh.errors import UsageError

    for bad in ({"crf": CRF_RANGE[1] + 1}, {"crf": -1}, {"crf": 1.5}, {"preset": "bogus"}):
        with pytest.raises(UsageError):
            EncoderSettings(**bad)  # the Python API is checked as the command line is
    sub = next(a for a in build_parser()._actions if a.dest == "command").choices
    actions = {a.dest: a for a in sub["file"]._actions}
    assert tuple(actions["encoder_preset"].choices) == ENCODER_PRESETS
    assert actions["crf"].metavar == f"{CRF_RANGE[0]}..{CRF_RANGE[1]}"
    assert actions["crf"].default == EncoderSettings().crf
