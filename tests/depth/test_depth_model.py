"""vidbokeh.depth.model: every registered variant built with random weights, the resize rules, the
predict API and the errors for wrong, corrupt or missing weight files."""
from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from vidbokeh.depth import create_depth_model, get_variant, list_depth_models, random_depth_model
from vidbokeh.depth.transforms import constrain_to_multiple, net_input_size
from vidbokeh.errors import InputError, UsageError, WeightsMismatchError, WeightsNotFoundError

torch.set_num_threads(2)

def _image(h: int, w: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([xx * 255 / max(w - 1, 1), yy * 255 / max(h - 1, 1), (xx + yy) % 256], -1)
    return np.clip(base + rng.normal(0, 20, base.shape), 0, 255).astype(np.uint8)


# ---- the resize rule ---------------------------------------------------------------------


def test_rounding_is_half_to_even_with_bounds() -> None:
    assert constrain_to_multiple(28.5 * 14, 14) == 392  # 28.5 -> 28, not 29
    assert constrain_to_multiple(29.5 * 14, 14) == 420  # 29.5 -> 30
    assert constrain_to_multiple(300.0, 14, min_val=300) == 308  # round gives 294  # below the bound: ceil
    assert constrain_to_multiple(304.0, 32, max_val=300) == 288  # round gives 320


def test_resize_methods() -> None:
    # lower_bound (Depth-Anything): the short side reaches the target, half-to-even on the long one
    assert net_input_size(200, 300, 266, 266, multiple_of=14, method="lower_bound", keep_aspect_ratio=True) == (266, 392)
    assert net_input_size(311, 173, 518, 518, multiple_of=14, method="lower_bound", keep_aspect_ratio=True) == (938, 518)
    # upper_bound (MiDaS small): the long side fits in the target
    assert net_input_size(200, 300, 256, 256, multiple_of=32, method="upper_bound", keep_aspect_ratio=True) == (160, 256)
    # minimal (MiDaS DPT): the scale closer to 1, a tie fits the height
    assert net_input_size(311, 173, 384, 384, multiple_of=32, method="minimal", keep_aspect_ratio=True) == (384, 224)
    assert net_input_size(600, 200, 300, 300, multiple_of=32, method="minimal", keep_aspect_ratio=True) == (288, 96)
    # without keeping the aspect ratio each side uses its own scale
    assert net_input_size(200, 300, 256, 256, multiple_of=32, method="minimal", keep_aspect_ratio=False) == (256, 256)


# ---- every variant builds and runs (random weights, small inputs) -------------------------


@pytest.mark.parametrize("name", list_depth_models())
def test_random_weights_build_and_predict(name: str) -> None:
    m = random_depth_model(name, device="cpu")
    v = m.variant
    assert m.num_params == sum(p.numel() for p in m.net.parameters()) > 1_000_000
    assert str(m.device) == "cpu"
    side = v.input_size if v.fixed_input_size else 4 * v.multiple_of  # 56 / 128, or the only size
    width = side if v.fixed_input_size else side + v.multiple_of * 2
    x = torch.randn(2, 3, side, width)
    with torch.inference_mode():
        out = m.net(x)
    assert out.shape == (2, side, width)
    assert torch.isfinite(out).all() and (out >= 0).all()
    depth = m.predict(_image(61, 97), input_size=side)
    assert depth.shape == (61, 97) and depth.dtype == np.float32 and np.isfinite(depth).all()


def test_predict_batch_equals_predict_and_rounds_input_size() -> None:
    m = random_depth_model("depth_anything_v2_vits", device="cpu")
    images = [_image(90, 120, 1), _image(150, 70, 2), _image(90, 120, 3)]
    single = [m.predict(im, input_size=140) for im in images]
    batch = m.predict_batch(images, input_size=140)
    assert len(batch) == 3
    for a, b in zip(single, batch):
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5 * float(np.abs(a).max()))
    assert not np.allclose(batch[0], batch[2])  # each image gets its own map
    # input_size is rounded to the variant's multiple (lower_bound: never below the target)
    assert m.net_input(_image(256, 256), input_size=300).shape == (3, 308, 308)
    assert m.net_input(_image(256, 256), input_size=266).shape == (3, 266, 266)


def test_device_frames_are_preprocessed_where_they_are_and_maps_stay_there() -> None:
    """predict_tensors: uint8 frame tensors are preprocessed by torch on the model's device (float32, bicubic as
    OpenCV's INTER_CUBIC) and the maps come back as tensors there; the same maps as the host route's."""
    from vidbokeh.depth.transforms import preprocess, preprocess_tensor

    m = random_depth_model("depth_anything_v2_vits", device="cpu")
    images = [_image(90, 120, 1), _image(150, 70, 2), _image(90, 120, 3)]
    for im in images:
        for size in (None, 140):
            host = preprocess(im, m.variant, size)
            assert host.dtype == np.float32
            device = preprocess_tensor(torch.from_numpy(im)[None], m.variant, size)[0]
            assert device.dtype == torch.float32 and tuple(device.shape) == host.shape
            assert float(np.abs(device.numpy() - host).max()) < 5e-4
    on_host = m.predict_batch(images, input_size=140)
    on_device = m.predict_tensors([torch.from_numpy(im) for im in images], input_size=140)
    assert all(isinstance(d, torch.Tensor) and d.device == m.device and d.dtype == torch.float32 for d in on_device)
    for a, b in zip(on_host, on_device):
        assert tuple(b.shape) == a.shape
        np.testing.assert_allclose(b.numpy(), a, atol=2e-3 * float(np.abs(a).max()))
    with pytest.raises(InputError, match="uint8"):
        m.predict_tensors([torch.zeros(10, 10, 3)])


def test_midas_input_size_rounds_to_32() -> None:
    m = random_depth_model("midas_dpt_hybrid_384", device="cpu")
    assert m.net_input(_image(256, 256), input_size=300).shape == (3, 288, 288)
    assert m.net_input(_image(200, 300)).shape == (3, 256, 384)


def test_bad_arguments() -> None:
    m = random_depth_model("depth_anything_v2_vits", device="cpu")
    with pytest.raises(UsageError):
        m.predict(_image(50, 50), input_size=0)
    with pytest.raises(ValueError):
        m.predict(np.zeros((10, 10), np.uint8))
    with pytest.raises(ValueError):
        m.predict(np.zeros((10, 10, 3), np.float32))
    if not torch.cuda.is_available():
        with pytest.raises(UsageError, match="cuda"):
            create_depth_model("depth_anything_v2_vits", weights=__file__, device="cuda")


# ---- weight files: wrong variant, corrupt, missing -----------------------------------------


def _synth(reference_dir: Path, folder: str) -> dict[str, torch.Tensor]:
    spec_path = reference_dir / "synth_weights.py"
    module_spec = importlib.util.spec_from_file_location("synth_weights", spec_path)
    assert module_spec is not None and module_spec.loader is not None
    module = importlib.util.module_from_spec(module_spec)
    sys.modules.setdefault("synth_weights", module)
    module_spec.loader.exec_module(module)
    spec = json.loads((reference_dir / folder / "spec.json").read_text())
    return {k: torch.from_numpy(np.array(v)) for k, v in module.synth_state_dict(spec).items()}


def test_wrong_variant_file_names_the_variant_it_looks_like(reference_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "depth_anything_v2_vitb.pth"
    torch.save(_synth(reference_dir, "dav2_vitb"), path)
    with pytest.raises(WeightsMismatchError) as info:
        create_depth_model("depth_anything_v2_vits", weights=path, device="cpu")
    message = str(info.value)
    assert "\n" not in message
    assert "does not fit depth_anything_v2_vits" in message
    assert "depth_anything_v2_vitb" in message.split("looks like", 1)[1]
    assert info.value.exit_code == 4

    hybrid = tmp_path / "dpt_hybrid_384.pt"
    torch.save(_synth(reference_dir, "midas_dpt_hybrid_384"), hybrid)
    with pytest.raises(WeightsMismatchError, match="looks like midas_dpt_hybrid_384"):
        create_depth_model("midas_dpt_large_384", weights=hybrid, device="cpu")


def test_incomplete_file_matches_no_variant(reference_dir: Path, tmp_path: Path) -> None:
    state = _synth(reference_dir, "dav2_vits")
    del state["depth_head.scratch.layer1_rn.weight"]
    path = tmp_path / "partial.pth"
    torch.save(state, path)
    with pytest.raises(WeightsMismatchError, match="matches no known variant .*1 missing"):
        create_depth_model("depth_anything_v2_vits", weights=path, device="cpu")


def test_corrupt_and_missing_files(reference_dir: Path, tmp_path: Path) -> None:
    good = tmp_path / "good.pth"
    torch.save(_synth(reference_dir, "dav2_vits"), good)
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"<html>not a checkpoint</html>" * 10)
    for path in (truncated, garbage):
        with pytest.raises(WeightsMismatchError, match="corrupt or not a checkpoint") as info:
            create_depth_model("depth_anything_v2_vits", weights=path, device="cpu")
        assert "\n" not in str(info.value)
    with pytest.raises(WeightsNotFoundError):
        create_depth_model("depth_anything_v2_vits", weights=tmp_path / "absent.pth", device="cpu")


def test_no_weights_offline_is_one_line_with_url_and_cache_path(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("VIDBOKEH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("VIDBOKEH_OFFLINE", "1")
    with pytest.raises(WeightsNotFoundError) as info:
        create_depth_model("midas_dpt_hybrid_384", device="cpu")
    message = str(info.value)
    assert "\n" not in message
    assert get_variant("midas_dpt_hybrid_384").url in message
    assert str(tmp_path / "home") in message and "--weights" in message
