"""MiDaS small / Swin-V2 tiny / LeViT: what the shared conformance test does not show.

* the structural tables our constructors compute (Swin-V2 shifted-window masks,
  LeViT attention-bias indices) equal those of the official constructor;
* the remap is a bijection onto our state dict, and every official tensor it
  drops is either constructed or proven not to reach the output;
* strict loading (a missing tensor fails), wrong-variant detection;
* the fixed-size nets refuse other sizes, and predict handles any image shape;
* new weights are not hidden by timm LeViT's attention-bias cache.
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from vidbokeh.depth import create_depth_model, get_variant
from vidbokeh.depth.registry import resolve
from vidbokeh.depth.midas_levit import MidasLevitNet, remap_midas_levit
from vidbokeh.depth.midas_small import MidasSmallNet, remap_midas_small
from vidbokeh.depth.midas_swin2 import MidasSwin2Net, remap_midas_swin2
from vidbokeh.errors import WeightsMismatchError

VARIANTS = {
    # registry name: (reference folder, net class, remap)
    "midas_v21_small_256": ("midas_v21_small_256", MidasSmallNet, remap_midas_small),
    "midas_dpt_swin2_tiny_256": ("midas_dpt_swin2_tiny_256", MidasSwin2Net, remap_midas_swin2),
    "midas_dpt_levit_224": ("midas_dpt_levit_224", MidasLevitNet, remap_midas_levit),
}
_BN_BUFFER = re.compile(r"\.(running_mean|running_var|num_batches_tracked)$")


class Reference:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.spec = json.loads((folder / "spec.json").read_text())
        self.meta = json.loads((folder / "meta.json").read_text())
        npz = folder / "constructed_buffers.npz"
        self.constructed = dict(np.load(npz)) if npz.exists() else {}
        self.rtol = float(self.meta["suggested_tolerance"]["rtol"])

    def weights(self, with_constructed: bool = True) -> dict[str, np.ndarray]:
        sys.path.insert(0, str(self.folder.parent))
        try:
            from synth_weights import synth_state_dict
        finally:
            sys.path.remove(str(self.folder.parent))
        return synth_state_dict(self.spec, constructed=self.constructed if with_constructed else None)

    def array(self, name: str) -> np.ndarray:
        return np.load(self.folder / f"{name}.npy")


def rel_err(out: np.ndarray, ref: np.ndarray) -> float:
    assert out.shape == ref.shape
    return float(np.abs(out - ref).max() / np.abs(ref).max())


@pytest.fixture(scope="module")
def refs(reference_dir: Path) -> dict[str, Reference]:
    out = {}
    for name, (folder, _, _) in VARIANTS.items():
        if not (reference_dir / folder / "spec.json").is_file():
            pytest.skip(f"reference folder {folder} missing")
        out[name] = Reference(reference_dir / folder)
    return out


@pytest.fixture(scope="module")
def nets() -> dict[str, torch.nn.Module]:
    return {name: cls().eval() for name, (_, cls, _) in VARIANTS.items()}


def _tensors(state: dict) -> dict[str, torch.Tensor]:
    return {k: torch.from_numpy(np.asarray(v)) for k, v in state.items()}


# --- constructed tables ------------------------------------------------------------------

def test_swin2_attention_masks_equal_official(refs, nets):
    ref = refs["midas_dpt_swin2_tiny_256"]
    assert ref.constructed, "reference ships no constructed_buffers.npz"
    backbone = nets["midas_dpt_swin2_tiny_256"].backbone
    ours = {}
    for i, stage in enumerate(backbone.layers):
        for j, block in enumerate(stage.blocks):
            if block.attn_mask is not None:
                ours[f"pretrained.model.layers.{i}.blocks.{j}.attn_mask"] = block.attn_mask.numpy()
    assert set(ours) == set(ref.constructed)
    for name, table in ref.constructed.items():
        assert ours[name].dtype == table.dtype
        np.testing.assert_array_equal(ours[name], table, err_msg=name)


def test_levit_attention_bias_indices_equal_official(refs, nets):
    from vidbokeh.depth.midas_levit import _LAYOUT

    ref = refs["midas_dpt_levit_224"]
    backbone = nets["midas_dpt_levit_224"].backbone
    checked = 0
    for name, table in ref.constructed.items():
        flat = int(re.match(r"pretrained\.model\.blocks\.(\d+)\.", name).group(1))
        stage, kind, block = _LAYOUT[flat]
        if stage >= len(backbone.stages) or (kind == "attn" and block >= len(backbone.stages[stage].blocks)):
            continue  # flat blocks after the last hook are not built
        if kind == "down_attn":
            module = backbone.stages[stage].downsample.attn_downsample
        else:
            module = backbone.stages[stage].blocks[block].attn
        np.testing.assert_array_equal(module.attention_bias_idxs.numpy(), table, err_msg=name)
        checked += 1
    assert checked == 11  # stage 0: 4 blocks; stage 1: downsample + 4; stage 2: downsample + 1 (rest unused)


# --- remap ---------------------------------------------------------------------------------

def _droppable(name: str, ref: Reference) -> bool:
    """An official tensor we may leave out: constructed, or shown not to reach the output."""
    unused = set(ref.meta["params_not_affecting_output"])
    if name in ref.constructed or name in unused:
        return True
    m = _BN_BUFFER.search(name)  # statistics of a norm layer whose weight is unused
    return bool(m) and name[: m.start()] + ".weight" in unused


@pytest.mark.parametrize("name", list(VARIANTS))
def test_remap_is_a_bijection_onto_our_state_dict(name, refs, nets):
    ref = refs[name]
    _, _, remap = VARIANTS[name]
    official = ref.weights(with_constructed=True)
    assert len(official) == len(ref.spec)
    ours = nets[name].state_dict()
    per_key = {k: remap({k: v}) for k, v in official.items()}
    mapped = {}
    for key, result in per_key.items():
        assert len(result) <= 1
        if not result:
            assert _droppable(key, ref), f"{key} dropped but it can reach the output"
            continue
        (new_key, value), = result.items()
        assert new_key not in mapped, f"two official tensors map to {new_key}"
        mapped[new_key] = (key, value)
    assert set(mapped) == set(ours), (sorted(set(ours) - set(mapped))[:5], sorted(set(mapped) - set(ours))[:5])
    for new_key, (key, value) in mapped.items():
        assert tuple(ours[new_key].shape) == tuple(np.shape(value)), (key, new_key)
    assert remap(official) == {k: v for k, (_, v) in mapped.items()}  # whole dict == per key


@pytest.mark.parametrize("name", list(VARIANTS))
def test_remap_is_pure_and_keeps_unknown_names(name):
    _, _, remap = VARIANTS[name]
    state = {"not.a.midas.key": np.zeros(3, np.float32)}
    frozen = dict(state)
    assert remap(state) == state  # passed through: the strict load will report it
    assert state == frozen


# --- strict load ----------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(VARIANTS))
def test_strict_load_and_missing_tensor_fails(name, refs):
    from vidbokeh.depth.loading import load_weights

    variant = get_variant(name)
    official = {k: torch.from_numpy(np.asarray(v)) for k, v in refs[name].weights().items()}
    net = load_weights(variant, official, "synthetic")
    ours = net.state_dict()
    for key, value in resolve(variant.remap)(official, variant).items():
        assert torch.equal(ours[key].cpu(), value.to(ours[key].dtype)), key
    victim = next(k for k in official if k.endswith(".weight") and "scratch.output_conv" in k)
    broken = {k: v for k, v in official.items() if k != victim}
    with pytest.raises(WeightsMismatchError, match=name):
        load_weights(variant, broken, "broken")


def test_wrong_variant_file_names_the_variant_it_looks_like(refs, tmp_path):
    path = tmp_path / "swin2.pt"
    torch.save(_tensors(refs["midas_dpt_swin2_tiny_256"].weights()), path)
    with pytest.raises(WeightsMismatchError, match="looks like midas_dpt_swin2_tiny_256"):
        create_depth_model("midas_dpt_levit_224", weights=path, device="cpu")


def test_midas_training_file_wrapping_model_loads(refs, tmp_path):
    ref = refs["midas_v21_small_256"]
    path = tmp_path / "train.pt"
    torch.save({"model": _tensors(ref.weights()), "optimizer": {"state": {}}}, path)
    m = create_depth_model("midas_v21_small_256", weights=path, device="cpu")
    with torch.inference_mode():
        out = m.net(torch.from_numpy(ref.array("net_input"))).numpy()
    assert rel_err(out, ref.array("net_output")) <= ref.rtol


# --- sizes ----------------------------------------------------------------------------------

@pytest.mark.parametrize("name,side", [("midas_dpt_swin2_tiny_256", 256), ("midas_dpt_levit_224", 224)])
def test_fixed_size_nets(name, side, nets):
    net = nets[name]
    with torch.inference_mode():
        assert tuple(net(torch.zeros(2, 3, side, side)).shape) == (2, side, side)
        with pytest.raises(ValueError, match=str(side)):
            net(torch.zeros(1, 3, side + 32, side))
    variant = get_variant(name)
    assert variant.fixed_input_size and variant.input_size == side and not variant.keep_aspect_ratio


@pytest.mark.parametrize("name", list(VARIANTS))
def test_predict_any_image_shape(name, refs, tmp_path):
    ref = refs[name]
    path = tmp_path / "w.pt"
    torch.save(_tensors(ref.weights(with_constructed=False)), path)
    m = create_depth_model(name, weights=path, device="cpu")
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, size=(120, 200, 3), dtype=np.uint8)
    depth = m.predict(img)
    assert depth.shape == (120, 200) and depth.dtype == np.float32 and np.isfinite(depth).all()
    side = get_variant(name).input_size
    expected = (side, side) if name != "midas_v21_small_256" else (160, 256)  # upper_bound, multiple of 32
    assert m.net_input(img).shape[1:] == expected


# --- LeViT attention-bias cache ------------------------------------------------------------

def test_levit_loading_after_a_forward_refreshes_the_bias_cache(refs):
    from timm.models.levit import Attention

    ref = refs["midas_dpt_levit_224"]
    net = MidasLevitNet().eval()
    torch.nn.init.normal_(next(m for m in net.modules() if isinstance(m, Attention)).attention_biases)
    x = torch.from_numpy(ref.array("net_input"))
    with torch.inference_mode():
        net(x)  # fills timm's cache with the random biases
    assert any(m.attention_bias_cache for m in net.modules() if isinstance(m, Attention))
    net.load_state_dict(_tensors(remap_midas_levit(ref.weights())), strict=True)
    assert not any(m.attention_bias_cache for m in net.modules() if isinstance(m, Attention))
    with torch.inference_mode():
        out = net(x).numpy()
    assert rel_err(out, ref.array("net_output")) <= ref.rtol
