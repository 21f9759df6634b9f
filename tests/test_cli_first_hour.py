"""Issue 15, through the CLI: settings that silently did something else, and errors that misled.

Every setting either does something that makes sense for the approach or is refused up front in one line;
outputs are checked before anything loads; messages say what to do in the command's own syntax."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cli_helpers import cli, error_line

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "samples" / "obama_official_portrait.jpg"
SELFIE = ["--approach", "selfie"]


@pytest.fixture()
def photo(tmp_path: Path) -> Path:
    img = Image.open(SAMPLE)
    path = tmp_path / "photo.jpg"
    img.resize((img.width // 3, img.height // 3)).save(path, quality=92)
    return path


def _in_fresh_process(args: list, env_extra: dict | None = None) -> tuple[int, list[str], str]:
    """(exit code, heavy modules imported, stderr) of `vidbokeh ARGS` in a new interpreter."""
    import os

    probe = ("import sys\n"
             "from vidbokeh.cli import run\n"
             "code = run(sys.argv[1:])\n"
             "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'timm', 'mediapipe', 'cv2'})\n"
             "print('RESULT', code, ','.join(heavy))\n")
    env = dict(os.environ, PYTHONPATH=str(ROOT), **(env_extra or {}))
    done = subprocess.run([sys.executable, "-c", probe, *map(str, args)], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=300)
    line = next(ln for ln in done.stdout.splitlines() if ln.startswith("RESULT"))
    _, code, heavy = (line.split(" ") + [""])[:3]
    return int(code), [h for h in heavy.split(",") if h], done.stderr


# ------------------------------------------------------------------ strategies and settings


def _labelled(samples_dir: Path, name: str = "davis2016_dance-twirl_00040") -> tuple[Path, np.ndarray]:
    image = samples_dir / "portraits" / "images" / f"{name}.jpg"
    mask = np.asarray(Image.open(samples_dir / "portraits" / "masks" / f"{name}.png").convert("L"))
    return image, mask


@pytest.mark.parametrize("strategy", ["face_aware", "conservative"])
def test_every_strategy_keeps_the_person_sharp_with_selfie(samples_dir, tmp_path, capsys, strategy):
    from vidbokeh.quality import evaluate

    image, mask = _labelled(samples_dir)
    figures = {}
    for name in ("portrait", strategy):
        out = tmp_path / f"{name}.png"
        code, err = cli(["image", image, "-o", out, *SELFIE, "--strategy", name], capsys)
        assert code == 0, err
        src = np.asarray(Image.open(image).convert("RGB"))
        figures[name] = evaluate(src, np.asarray(Image.open(out).convert("RGB")), mask)
    # face_aware once blurred the whole body with selfie (sharp_iou 0.18, leak 0.81; portrait 0.89 / 0.00)
    assert figures[strategy].leak < 0.1 and figures[strategy].sharp_iou > 0.7
    assert figures[strategy].sharp_iou > figures["portrait"].sharp_iou - 0.1


@pytest.mark.parametrize("flags, named", [
    (["--strategy", "adaptive"], "--strategy adaptive"),
    (["--focus", "0.4"], "--focus"),
    (["--focus-point", "0.5,0.5"], "--focus-point"),
    (["--dof", "0.1"], "--dof"),
    (["--blur-foreground"], "--blur-foreground"),
    (["--save-depth"], "--save-depth"),
])
def test_settings_that_need_depth_are_refused_with_selfie_before_any_work(photo, capsys, flags, named):
    code, err = cli(["image", photo, *SELFIE, *flags], capsys)
    assert code == 2
    line = error_line(err)
    assert named in line and "selfie" in line and "depth" in line
    assert not photo.with_name("photo_bokeh.jpg").exists()


def test_auto_falling_back_to_selfie_says_why_a_depth_setting_cannot_work(photo, tmp_path):
    code, heavy, err = _in_fresh_process(["image", photo, "--focus", "0.3"],
                                         {"VIDBOKEH_HOME": str(tmp_path / "empty"), "VIDBOKEH_OFFLINE": "1"})
    assert code == 2 and not {"torch", "mediapipe"} & set(heavy)  # refused before any model loads
    line = error_line(err)
    assert "--focus" in line and "auto chose selfie" in line and "models fetch" in line


def test_video_settings_that_need_depth_are_refused_with_selfie(tmp_path, capsys):
    from media_factory import make_clip

    clip = make_clip(tmp_path / "in.mp4", width=64, height=48, frames=4, fps=12)
    for flags in (["--depth-every", "3"], ["--smoothing", "0.5"]):
        code, err = cli(["file", clip, tmp_path / "out.mp4", *SELFIE, *flags], capsys)
        assert code == 2 and flags[0] in error_line(err)
    assert not (tmp_path / "out.mp4").exists()


def test_focus_point_outside_the_picture_is_refused_before_models_load(photo, synthetic_weights, tmp_path):
    width, height = Image.open(photo).size
    code, heavy, err = _in_fresh_process(["image", photo, "--approach", "depth_anything", "--weights",
                                          synthetic_weights("dav2_vits"), "--focus-point", "5000,10"])
    assert code == 2 and "torch" not in heavy
    line = error_line(err)
    assert "5000,10" in line and f"{width}x{height}" in line


def test_max_blur_has_one_range_shown_in_help_with_its_default(photo, capsys):
    from vidbokeh.cli import build_parser
    from vidbokeh.stages.presets import get_preset

    sub = next(a for a in build_parser()._actions if a.dest == "command").choices
    text = " ".join(sub["image"].format_help().split())
    assert "0..0.25" in text and f"default: {get_preset('portrait').focus.max_blur:g}" in text
    messages = []
    for value in ("5", "0.5", "-0.1"):
        code, err = cli(["image", photo, "--max-blur", value], capsys)
        assert code == 2
        messages.append(error_line(err).rsplit("got", 1)[0])
    assert len(set(messages)) == 1 and "0..0.25" in messages[0]


# ------------------------------------------------------------------ errors and messages


def test_existing_output_is_refused_before_any_model_loads(photo):
    out = photo.with_name("photo_bokeh.jpg")
    out.write_bytes(b"keep")
    code, heavy, err = _in_fresh_process(["image", photo])
    assert code == 5 and not {"torch", "mediapipe"} & set(heavy)  # refused before any model loads
    assert "exists" in error_line(err) and out.read_bytes() == b"keep"


def test_image_folder_to_a_new_output_folder_creates_it(tmp_path, photo, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(photo, folder / "a.jpg")
    shutil.copy(photo, folder / "b.jpg")
    out = tmp_path / "out" / "sub"
    code, err = cli(["image", folder, "-o", f"{out}/", *SELFIE], capsys)
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["a_bokeh.jpg", "b_bokeh.jpg"]


def test_rerunning_a_folder_leaves_our_own_outputs_out(tmp_path, photo, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(photo, folder / "a.jpg")
    shutil.copy(photo, folder / "own_bokeh.jpg")  # a photo of the user's that only looks like an output
    assert cli(["image", folder, *SELFIE, "--save-mask"], capsys)[0] == 0
    code, err = cli(["image", folder, *SELFIE, "--save-mask", "--overwrite"], capsys)
    assert code == 0, err
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["a.jpg", "a_bokeh.jpg", "a_mask.png", "own_bokeh.jpg", "own_bokeh_bokeh.jpg",
                     "own_bokeh_mask.png"]
    assert "left out 4 earlier outputs" in err  # a_bokeh, a_mask, own_bokeh_bokeh, own_bokeh_mask


def test_auto_without_depth_weights_and_models_list_never_import_torch(photo, tmp_path):
    from vidbokeh.stages import assets
    from vidbokeh.store import home

    home_dir = tmp_path / "home"
    home_dir.mkdir()
    for stored in home().glob("mediapipe_*"):  # the detector models only: no depth weights
        (home_dir / stored.name).symlink_to(stored)
    if assets.cached_model(assets.SELFIE_SEGMENTER) is None:
        pytest.skip("the MediaPipe models are not in the store on this machine")
    env = {"VIDBOKEH_HOME": str(home_dir), "VIDBOKEH_OFFLINE": "1"}
    code, heavy, err = _in_fresh_process(["image", photo, "-o", tmp_path / "out.jpg"], env)
    assert code == 0, err
    assert "auto: using selfie" in err and "torch" not in heavy and "timm" not in heavy
    code, heavy, _ = _in_fresh_process(["models", "list"], env)
    assert code == 0 and heavy == []  # not even OpenCV


def test_compare_names_a_wrong_weights_file_in_its_own_syntax_and_exits_4(photo, synthetic_weights, tmp_path,
                                                                          capsys):
    code, err = cli(["compare", photo, "--out", tmp_path / "report", "--approaches", "midas",
                     "--weights", f"midas={synthetic_weights('dav2_vits')}"], capsys)
    assert code == 4
    assert "--approaches midas=depth_anything_v2_vits" in err and "--model" not in err


def test_image_names_a_wrong_weights_file_with_model(photo, synthetic_weights, capsys):
    code, err = cli(["image", photo, "--approach", "midas", "--weights", synthetic_weights("dav2_vits")], capsys)
    assert code == 4 and "--model depth_anything_v2_vits" in error_line(err)


def test_compare_hybrid_reuses_the_depth_anything_weights_given(photo, synthetic_weights, tmp_path, capsys):
    weights = synthetic_weights("dav2_vits")
    out = tmp_path / "report"
    code, err = cli(["compare", photo, "--out", out, "--approaches", "depth_anything,hybrid",
                     "--weights", f"depth_anything={weights}", "--weights-note", "depth_anything=synthetic"], capsys)
    assert code == 0, err
    runs = {r["approach"]: r for r in json.loads((out / "results.json").read_text())["runs"]}
    assert runs["hybrid"]["weights"] == str(weights) and runs["hybrid"]["images_ok"] == 1
    assert runs["hybrid"]["weights_note"] == "synthetic"  # the note follows the file


@pytest.mark.parametrize("flag", ["--device", "--accelerator"])
def test_cuda_without_a_gpu_says_to_use_device_cpu(photo, synthetic_weights, capsys, flag):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU")
    code, err = cli(["image", photo, "--approach", "depth_anything", "--weights", synthetic_weights("dav2_vits"),
                     flag, "cuda"], capsys)
    assert code == 2
    line = error_line(err)
    assert "use --device cpu" in line
    if flag == "--accelerator":
        assert "use --device cuda" in err  # the deprecation note names the new spelling


def test_file_help_describes_its_input_output_and_overwrite():
    from vidbokeh.cli import build_parser

    sub = next(a for a in build_parser()._actions if a.dest == "command").choices
    described = {a.dest: a.help for a in sub["file"]._actions}
    for dest in ("input", "output", "overwrite"):
        assert described[dest] and len(described[dest]) > 10, dest
    for name in ("image", "webcam", "compare"):
        for action in sub[name]._actions:
            assert action.help, f"{name} {action.option_strings or action.dest} has no help"


@pytest.mark.parametrize("command", ["file", "webcam"])
def test_video_focus_point_outside_the_frame_is_refused_before_models_load(tmp_path, synthetic_weights, command):
    from media_factory import make_clip

    clip = make_clip(tmp_path / "in.mp4", width=64, height=48, frames=4, fps=12)
    where = ([clip, tmp_path / "out.mp4"] if command == "file"
             else ["--camera", clip, "--no-preview", "--frames", "2", "--output", tmp_path / "out.mp4"])
    code, heavy, err = _in_fresh_process([command, *where, "--approach", "depth_anything", "--weights",
                                          synthetic_weights("dav2_vits"), "--focus-point", "500,10"])
    assert code == 2 and "torch" not in heavy
    assert "64x48" in error_line(err) and not (tmp_path / "out.mp4").exists()


def test_a_reader_that_stops_early_ends_the_listing_quietly():
    """``vidbokeh models list | head -1``: the reader closes the pipe before the listing is written. The
    listing stops without an "internal error" line and with the status a shell gives a SIGPIPE'd command."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before anything is written
    proc = subprocess.run([sys.executable, "-m", "vidbokeh", "models", "list"], stdout=write_end,
                          stderr=subprocess.PIPE, text=True, timeout=60)
    os.close(write_end)
    assert proc.stderr == ""
    assert proc.returncode == 141
