"""`vidbokeh image` end to end on real photos, through the CLI and the Python API."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vidbokeh.cli import run

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "samples" / "obama_official_portrait.jpg"


@pytest.fixture()
def portrait(tmp_path: Path) -> Path:
    dst = tmp_path / "portrait.jpg"
    shutil.copy(SAMPLE, dst)
    return dst


def _grad_energy(a: np.ndarray) -> float:
    g = a.astype(np.float32).mean(axis=2)
    return float((np.diff(g, axis=0) ** 2).mean() + (np.diff(g, axis=1) ** 2).mean())


def test_image_writes_bokeh_beside_input_keeps_size_format_and_exif(portrait: Path, capsys):
    before = portrait.read_bytes()
    assert run(["image", str(portrait), "--save-mask", "--timings"]) == 0
    out = portrait.with_name("portrait_bokeh.jpg")
    assert out.is_file()
    assert portrait.read_bytes() == before  # the input is never touched
    src, res = Image.open(portrait), Image.open(out)
    assert res.size == src.size and res.format == "JPEG"
    a, b = np.asarray(src.convert("RGB")), np.asarray(res.convert("RGB"))
    mask = np.asarray(Image.open(portrait.with_name("portrait_mask.png"))) > 127
    assert 0.05 < mask.mean() < 0.9  # a person was found and kept
    # The background lost most of its detail; the subject kept it.
    bg = ~mask
    top_left = (slice(0, 200), slice(0, 150))  # flags/background corner of this portrait
    assert bg[top_left].mean() > 0.9
    assert _grad_energy(b[top_left]) < 0.4 * _grad_energy(a[top_left])
    err = capsys.readouterr().err
    assert "auto: using" in err  # auto says which approach it chose
    assert "all but depth" in err  # --timings table


def test_existing_output_refused_without_overwrite(portrait: Path, capsys):
    out = portrait.with_name("portrait_bokeh.jpg")
    out.write_bytes(b"keep me")
    assert run(["image", str(portrait)]) == 5
    assert out.read_bytes() == b"keep me"
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("vidbokeh: error:") and "exists" in err[-1]


def test_output_equal_to_input_is_refused(portrait: Path):
    before = portrait.read_bytes()
    assert run(["image", str(portrait), "-o", str(portrait), "--overwrite"]) == 5
    assert portrait.read_bytes() == before


@pytest.mark.parametrize(
    "args, code",
    [
        (["image", "does-not-exist.jpg"], 3),
        (["image", "x.jpg", "--focus", "2"], 2),
        (["image", "x.jpg", "--focus", "0.5", "--focus-point", "1,2"], 2),
        (["image", "x.jpg", "--approach", "nonsense"], 2),
        (["frobnicate"], 2),
    ],
)
def test_bad_arguments_give_one_line_and_exit_code(args, code, capsys):
    assert run(args) == code
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0]


def test_batch_folder_with_progress_and_a_broken_file(tmp_path: Path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(SAMPLE, folder / "a.jpg")
    (folder / "b.png").write_bytes(b"not a png")
    out = tmp_path / "out"
    out.mkdir()
    code = run(["image", str(folder), "-o", str(out)])
    assert code == 3  # one failed: reported, the others still done
    assert (out / "a_bokeh.jpg").is_file()
    assert not (out / "b_bokeh.png").exists()
    assert "b.png" in capsys.readouterr().err


def test_python_api_mirrors_cli(portrait: Path):
    from vidbokeh import EffectSettings, process_image

    res = process_image(portrait, portrait.with_name("api.jpg"), EffectSettings(approach="selfie", max_blur=0.02))
    assert res.output.is_file()
    assert res.frame is not None and res.frame.depth is None
    assert set(res.timings) >= {"decode", "faces", "segment", "mask", "render", "encode"}


def test_explicit_depth_approach_without_weights_is_a_model_error(portrait: Path, tmp_path: Path, monkeypatch, capsys):
    monkeypatch.setenv("VIDBOKEH_HOME", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("VIDBOKEH_OFFLINE", "1")
    assert run(["image", str(portrait), "--approach", "depth_anything"]) == 4
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--weights" in err[0]
    assert not portrait.with_name("portrait_bokeh.jpg").exists()


def test_console_script_entry_point_runs(portrait: Path):
    proc = subprocess.run([sys.executable, "-m", "vidbokeh", "image", str(portrait), "--approach", "selfie"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert portrait.with_name("portrait_bokeh.jpg").is_file()
    assert "Traceback" not in proc.stderr


def test_frame_backend_flag_chooses_the_renderer(portrait: Path, capsys):
    """--frame-backend torch renders the same picture as opencv (within 40 dB); a bad value is one line, exit 2."""
    from cli_helpers import cli, error_line

    code, err = cli(["image", portrait, "--frame-backend", "cupy"], capsys)
    assert code == 2 and "--frame-backend" in error_line(err)
    outputs = {}
    for backend in ("opencv", "torch"):
        out = portrait.with_name(f"portrait_{backend}.png")
        assert run(["image", str(portrait), "--approach", "selfie", "--frame-backend", backend, "-o", str(out)]) == 0
        outputs[backend] = np.asarray(Image.open(out).convert("RGB")).astype(np.float64)
    mse = float(np.mean((outputs["opencv"] - outputs["torch"]) ** 2))
    assert mse == 0.0 or 10.0 * np.log10(255.0**2 / mse) >= 40.0


def test_an_output_given_as_a_second_input_is_named_how_to_give_it(portrait: Path, capsys):
    """`vidbokeh image in.jpg out.jpg` (as `file` takes its output): one line saying -o names the output."""
    from cli_helpers import cli, error_line

    out = portrait.with_name("wanted.jpg")
    code, err = cli(["image", portrait, out], capsys)
    line = error_line(err)
    assert code == 3 and f"{out}: no such file or folder" in line and f"-o {out}" in line, err
    assert not out.exists() and not portrait.with_name("portrait_bokeh.jpg").exists()
    code, err = cli(["image", portrait.with_name("gone.jpg"), portrait.with_name("gone2.jpg")], capsys)
    assert code == 3 and "name it with -o" not in error_line(err)  # nothing given exists: the missing input
