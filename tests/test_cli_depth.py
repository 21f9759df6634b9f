"""Depth-driven approaches end to end (image and video) on synthetic weights of the released format."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vidbokeh.cli import run

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "samples" / "obama_official_portrait.jpg"


@pytest.fixture()
def small_portrait(tmp_path: Path) -> Path:
    img = Image.open(SAMPLE)
    img = img.resize((img.width // 2, img.height // 2))
    path = tmp_path / "portrait.jpg"
    img.save(path, quality=95)
    return path


@pytest.mark.parametrize(
    "approach, folder, model",
    [
        ("depth_anything", "dav2_vits", "depth_anything_v2_vits"),
        ("hybrid", "dav2_vits", "depth_anything_v2_vits"),
        ("midas", "midas_v21_small_256", "midas_v21_small_256"),
    ],
)
def test_depth_approaches_write_result_depth_and_mask(small_portrait, synthetic_weights, approach, folder, model,
                                                      capsys):
    weights = synthetic_weights(folder)
    args = ["image", str(small_portrait), "--approach", approach, "--model", model, "--weights", str(weights),
            "--save-depth", "--save-mask", "--depth-size", "256" if folder.startswith("midas") else "266"]
    assert run(args) == 0, capsys.readouterr().err
    stem = small_portrait.with_suffix("")
    out = Path(f"{stem}_bokeh.jpg")
    depth_png = Path(f"{stem}_depth.png")
    depth16 = Image.open(f"{stem}_depth16.png")
    mask = np.asarray(Image.open(f"{stem}_mask.png"))
    assert out.is_file() and depth_png.is_file()
    assert depth16.mode == "I;16" and depth16.size == Image.open(small_portrait).size
    assert float(depth16.text["vidbokeh.depth_max"]) > float(depth16.text["vidbokeh.depth_min"])
    assert mask.dtype == np.uint8 and mask.max() == 255  # faces at least are protected


def test_auto_takes_hybrid_when_weights_are_given(small_portrait, synthetic_weights, capsys):
    assert run(["image", str(small_portrait), "--weights", str(synthetic_weights("dav2_vits")),
                "--depth-size", "266"]) == 0
    assert "auto: using hybrid" in capsys.readouterr().err


def test_model_of_the_wrong_family_is_a_usage_error(small_portrait, capsys):
    assert run(["image", str(small_portrait), "--approach", "midas", "--model", "depth_anything_v2_vits"]) == 2
    assert "not a midas model" in capsys.readouterr().err


def test_file_mode_with_depth_every_and_smoothing(tmp_path, synthetic_weights):
    from media_factory import decoded_video, make_clip

    src = make_clip(tmp_path / "in.mp4", width=128, height=96, frames=12, fps=24)
    dst = tmp_path / "out.mp4"
    code = run(["file", str(src), str(dst), "--approach", "depth_anything", "--weights",
                str(synthetic_weights("dav2_vits")), "--depth-every", "3", "--depth-size", "140"])
    assert code == 0
    assert len(decoded_video(dst)[0]) == 12


def test_models_list_works_offline(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("VIDBOKEH_HOME", str(tmp_path))
    monkeypatch.setenv("VIDBOKEH_OFFLINE", "1")
    assert run(["models", "list"]) == 0
    out = capsys.readouterr().out
    for name in ("depth_anything_v2_vits", "midas_dpt_hybrid_384", "midas_v21_small_256"):
        assert name in out
    assert "CC-BY-NC-4.0" in out
