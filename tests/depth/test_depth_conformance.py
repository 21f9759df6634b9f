"""Our depth models against the official code's outputs on synthetic weights.

For every registered variant with a folder in ../shared/reference (skipped, saying so, without
one): the synthetic weights are written as a released
checkpoint file, loaded through ``create_depth_model(name, weights=path)``, and the network
output and the end-to-end ``predict`` output are compared with the official ones within
``meta.json``'s suggested tolerance (max|out - ref| <= rtol * max|ref|).
"""
from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from vidbokeh.depth import create_depth_model, get_variant, list_depth_models
from vidbokeh.depth.transforms import net_input_shape

torch.set_num_threads(2)



def reference_folder(name: str) -> str:
    """The ../shared/reference folder of a registered variant (dav2_vits for depth_anything_v2_vits)."""
    return name.replace("depth_anything_v", "dav")


def _reference_root() -> Path:
    from conftest import SHARED

    return SHARED / "reference"


# folder -> variant, for every registered variant that has reference vectors
FOLDERS = {reference_folder(n): n for n in list_depth_models() if (_reference_root() / reference_folder(n)).is_dir()}
OTHER_SIZES = [(200, 300), (311, 173)]


def _synth_module(reference_dir: Path):
    spec = importlib.util.spec_from_file_location("synth_weights", reference_dir / "synth_weights.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("synth_weights", module)
    spec.loader.exec_module(module)
    return module


def official_state_dict(reference_dir: Path, folder: str) -> dict[str, torch.Tensor]:
    ref = reference_dir / folder
    spec = json.loads((ref / "spec.json").read_text())
    extra_path = ref / "constructed_buffers.npz"
    extra = dict(np.load(extra_path)) if extra_path.exists() else None
    weights = _synth_module(reference_dir).synth_state_dict(spec, constructed=extra)
    return {name: torch.from_numpy(np.array(value)) for name, value in weights.items()}


def relative_error(out: np.ndarray, ref: np.ndarray) -> float:
    assert out.shape == ref.shape, (out.shape, ref.shape)
    return float(np.abs(out.astype(np.float64) - ref).max() / np.abs(ref).max())


class Loaded:
    def __init__(self, folder: str, model, meta: dict, ref: Path) -> None:
        self.folder, self.model, self.meta, self.ref = folder, model, meta, ref
        self.rtol = float(meta["suggested_tolerance"]["rtol"])
        target = int(meta["pipeline"]["resize"]["target"][0])
        self.input_size = None if target == model.variant.input_size else target


# Loops over the registry. The largest nets take ~40 s each on 2 cores: marked slow, still run by default.
PARAMS = [pytest.param(n, marks=pytest.mark.slow) if get_variant(n).params > 300e6 else n for n in list_depth_models()]


@pytest.fixture(scope="module", params=PARAMS)
def loaded(request, reference_dir: Path, tmp_path_factory) -> Loaded:
    name = request.param
    folder = reference_folder(name)
    ref = reference_dir / folder
    if not ref.is_dir():
        pytest.skip(f"no reference vectors for {name} (needs ../shared/reference/{folder})")
    path = tmp_path_factory.mktemp(folder) / get_variant(name).filename
    torch.save(official_state_dict(reference_dir, folder), path)
    model = create_depth_model(name, weights=path, device="cpu")
    path.unlink()
    meta = json.loads((ref / "meta.json").read_text())
    yield Loaded(folder, model, meta, ref)
    del model


def test_net_output_matches_official(loaded: Loaded) -> None:
    x = torch.from_numpy(np.load(loaded.ref / "net_input.npy"))
    with torch.inference_mode():
        out = loaded.model.net(x).numpy()
    assert relative_error(out, np.load(loaded.ref / "net_output.npy")) <= loaded.rtol


def test_pipeline_net_input_and_output_match_official(loaded: Loaded) -> None:
    image = np.load(loaded.ref / "image.npy")
    x = loaded.model.net_input(image, loaded.input_size)
    assert list(x.shape) == loaded.meta["pipeline"]["net_input_shape"][1:]
    with torch.inference_mode():
        out = loaded.model.net(torch.from_numpy(x)[None]).numpy()
    assert relative_error(out, np.load(loaded.ref / "pipeline_net_output.npy")) <= loaded.rtol


def test_predict_matches_official_pipeline(loaded: Loaded) -> None:
    image = np.load(loaded.ref / "image.npy")
    depth = loaded.model.predict(image, input_size=loaded.input_size)
    assert depth.dtype == np.float32
    assert relative_error(depth, np.load(loaded.ref / "pipeline_output.npy")) <= loaded.rtol


def test_predict_other_sizes_and_aspect_ratios(loaded: Loaded) -> None:
    """Non-square images of other sizes: the resize rule at the default input size, and
    predict (at a reduced input size, to keep the test short) gives finite maps at image size."""
    image = np.load(loaded.ref / "image.npy")
    variant = loaded.model.variant
    small = None if variant.fixed_input_size else 10 * variant.multiple_of
    for h, w in OTHER_SIZES:
        rgb = np.ascontiguousarray(np.resize(image, (h, w, 3)))
        for size in (None, small):
            x = loaded.model.net_input(rgb, size)
            nh, nw = x.shape[1:]
            assert (nh, nw) == net_input_shape(h, w, variant, size)
            assert nh % variant.multiple_of == 0 and nw % variant.multiple_of == 0
            side = variant.input_size if size is None else size
            if variant.keep_aspect_ratio:
                # one scale for both sides: the aspect ratio is kept up to the rounding
                assert abs(nw / nh - w / h) <= (w / h) * 2 * variant.multiple_of / min(nh, nw)
                if variant.resize_method == "lower_bound":
                    assert side <= min(nh, nw) < side + variant.multiple_of
            else:
                assert (nh, nw) == (side, side)
        depth = loaded.model.predict(rgb, input_size=small)
        assert depth.shape == (h, w) and depth.dtype == np.float32
        assert np.isfinite(depth).all()
        assert depth.std() > 0


def test_midas_training_wrapper_loads(reference_dir: Path, tmp_path: Path) -> None:
    """MiDaS training files keep the weights under "model" next to "optimizer"."""
    folder = "midas_dpt_hybrid_384"
    path = tmp_path / "dpt_hybrid_384.pt"
    torch.save({"model": official_state_dict(reference_dir, folder), "optimizer": {"state": {}}}, path)
    model = create_depth_model(folder, weights=path, device="cpu")
    x = torch.from_numpy(np.load(reference_dir / folder / "net_input.npy"))
    with torch.inference_mode():
        out = model.net(x).numpy()
    meta = json.loads((reference_dir / folder / "meta.json").read_text())
    assert relative_error(out, np.load(reference_dir / folder / "net_output.npy")) <= meta["suggested_tolerance"]["rtol"]
