"""Shared test fixtures: paths to ../shared (laid beside the checkout, also in CI)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("VIDBOKEH_SHARED", ROOT.parent / "shared"))

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"shared data folder not found at {SHARED}")
    return SHARED


@pytest.fixture(scope="session")
def reference_dir(shared_dir: Path) -> Path:
    return shared_dir / "reference"


@pytest.fixture(scope="session")
def samples_dir(shared_dir: Path) -> Path:
    return shared_dir / "samples"


@pytest.fixture(scope="session")
def synthetic_weights(reference_dir: Path, tmp_path_factory):
    """make(folder) -> path of a checkpoint in the released format (official key names), filled with the
    deterministic synthetic weights of ../shared/reference/<folder>. Made once per session and folder."""
    import importlib.util
    import json

    import numpy as np
    import torch

    spec_mod = importlib.util.spec_from_file_location("synth_weights", reference_dir / "synth_weights.py")
    synth = importlib.util.module_from_spec(spec_mod)
    spec_mod.loader.exec_module(synth)
    out_dir = tmp_path_factory.mktemp("synthetic-weights")
    made: dict[str, Path] = {}

    def make(folder: str) -> Path:
        if folder not in made:
            ref = reference_dir / folder
            spec = json.loads((ref / "spec.json").read_text())
            extra = np.load(ref / "constructed_buffers.npz") if (ref / "constructed_buffers.npz").exists() else None
            state = {k: torch.from_numpy(np.array(v))  # np.ascontiguousarray would turn 0-d into 1-d
                     for k, v in synth.synth_state_dict(spec, constructed=extra).items()}
            path = out_dir / f"{folder}.pt"
            torch.save(state, path)
            made[folder] = path
        return made[folder]

    return make
