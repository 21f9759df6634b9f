"""engine/settings.py and approach.py: settings refuse bad values when built; auto is resolved once."""
from __future__ import annotations

import logging
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from vidbokeh.engine import (APPROACHES, DEVICES, EffectSettings, LiveControls, VideoProfile, resolve_approach,
                             strategy_names)
from vidbokeh.errors import UsageError
from vidbokeh.stages.presets import PRESETS

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("fields", [
    {"approach": "sepia"},
    {"device": "tpu"},
    {"strategy": "dreamy"},
    {"approach": "midas", "model": "depth_anything_v2_vits"},  # another family
    {"model": "no_such_variant"},
    {"approach": "selfie", "weights": Path("w.pth")},
    {"approach": "selfie", "model": "depth_anything_v2_vits"},
    {"aperture_blades": 2},
    {"aperture_blades": 17},
    {"max_blur": 0.5},  # FocusSettings' range: at most a quarter of the diagonal
    {"focus": 1.5},
    {"dof": -0.1},
    {"focus_point": (-3.0, 4.0)},
    {"smoothing": 1.0},  # SmoothingSettings' range: [0, 1)
    {"depth_every": 0},
    {"depth_size": 0},
])
def test_bad_settings_are_refused_when_built(fields) -> None:
    with pytest.raises(UsageError):
        EffectSettings(**fields)


def test_replace_checks_again() -> None:
    settings = EffectSettings(approach="selfie")
    with pytest.raises(UsageError):
        replace(settings, strategy="dreamy")


def test_live_controls_and_video_profile_check_themselves() -> None:
    with pytest.raises(UsageError):
        LiveControls(blur_scale=-1.0)
    with pytest.raises(UsageError):
        LiveControls(focus_offset=2.0)
    with pytest.raises(UsageError):
        VideoProfile(face_every=0)
    with pytest.raises(UsageError):
        VideoProfile(work_max_side=-1)
    with pytest.raises(UsageError):
        VideoProfile(mask_fit_side=4)
    with pytest.raises(UsageError):
        VideoProfile(layer_ratio=1.0)
    with pytest.raises(UsageError):
        VideoProfile(layer_step=0.0)
    with pytest.raises(AttributeError):
        LiveControls().blur_scale = 2.0  # frozen: nobody changes a value another thread holds


def test_video_renders_with_the_profile_layer_spacing_and_stills_with_their_own() -> None:
    from vidbokeh.engine.stage_settings import stage_settings
    from vidbokeh.render.settings import BokehSettings

    settings = EffectSettings(approach="hybrid", aperture_blades=6)
    still = stage_settings(settings).bokeh
    video = stage_settings(settings, VideoProfile(layer_step=1.5, layer_ratio=1.6)).bokeh
    assert (still.layer_step, still.layer_ratio) == (BokehSettings().layer_step, BokehSettings().layer_ratio)
    assert (video.layer_step, video.layer_ratio) == (1.5, 1.6)
    assert video.aperture_blades == still.aperture_blades == 6  # the user's choices are kept in both


def test_the_cli_takes_its_choices_from_the_engine() -> None:
    from vidbokeh.cli import build_parser

    parser = build_parser()
    image = parser._subparsers._group_actions[0].choices["image"]  # noqa: SLF001 (argparse keeps them there)
    choices = {a.dest: tuple(a.choices) for a in image._actions if a.choices}  # noqa: SLF001
    assert choices["approach"] == APPROACHES
    assert choices["strategy"] == strategy_names() == tuple(PRESETS)
    assert set(DEVICES) <= set(choices["accelerator"] if "accelerator" in choices else choices["device"])


def test_importing_the_engine_and_building_settings_loads_neither_torch_nor_mediapipe() -> None:
    code = ("import sys\nfrom vidbokeh.engine import EffectSettings, resolve_approach\n"
            "EffectSettings(approach='hybrid', strategy='adaptive', max_blur=0.03)\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'mediapipe', 'timm'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"


def test_resolve_approach_fills_the_model_and_is_idempotent() -> None:
    selfie = EffectSettings(approach="selfie")
    assert resolve_approach(selfie) is selfie
    midas = resolve_approach(EffectSettings(approach="midas"))
    assert midas.approach == "midas" and midas.model == "midas_dpt_hybrid_384"
    hybrid = resolve_approach(EffectSettings(approach="hybrid"))
    assert hybrid.model == "depth_anything_v2_vits"
    assert resolve_approach(hybrid) is hybrid


def test_auto_decides_from_the_weights_and_says_so(tmp_path: Path, monkeypatch, caplog) -> None:
    monkeypatch.setenv("VIDBOKEH_HOME", str(tmp_path / "empty-cache"))
    caplog.set_level(logging.INFO, logger="vidbokeh.engine")
    chosen = resolve_approach(EffectSettings())
    assert (chosen.approach, chosen.model) == ("selfie", None)
    assert "auto: using selfie" in caplog.text
    weights = tmp_path / "dav2.pth"
    weights.write_bytes(b"")
    given = resolve_approach(EffectSettings(weights=weights))
    assert (given.approach, given.model) == ("hybrid", "depth_anything_v2_vits")
    assert "auto: using hybrid with depth_anything_v2_vits" in caplog.text
    assert resolve_approach(given) is given  # decided once: a worker resolving again changes nothing
