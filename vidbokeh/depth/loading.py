"""Reading released checkpoint files and loading them strictly into our networks.

* ``read_checkpoint(path) -> dict[str, Tensor]``: ``torch.load`` (weights only) of a
  ``.pt``/``.pth``/``.bin`` file, or a ``.safetensors`` file; a MiDaS training file that
  holds ``"optimizer"`` keeps its weights under ``"model"``. Unreadable -> WeightsMismatchError.
* ``build_net(variant, device="meta"|"cpu") -> nn.Module``: the variant's architecture (its
  ``builder`` named in the registry, imported here).
* ``load_weights(variant, state_dict, path_label) -> nn.Module``: remap (the family's pure
  function), strict load; a file of another variant -> WeightsMismatchError naming the
  variant it looks like (decided by key set and shapes).
* ``identify_variants(state_dict) -> list[str]``: every registered variant whose expected
  key set and shapes the file matches exactly.
"""
from __future__ import annotations

import os
import pickle
from functools import lru_cache
from pathlib import Path
from typing import Mapping

import numpy as np
import torch
from torch import nn

from ..errors import WeightsMismatchError
from .registry import DepthVariant, all_variants, get_variant, resolve


def _reason(exc: BaseException) -> str:
    if isinstance(exc, pickle.UnpicklingError):
        return "not a PyTorch tensor checkpoint"
    first = " ".join(str(exc).split()).split(". ")[0]
    return (first[:120] or type(exc).__name__).rstrip(".")


def read_checkpoint(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """The state dict of a released file, as it is (no renaming)."""
    p = Path(path)
    try:
        if p.suffix == ".safetensors":
            try:
                from safetensors.torch import load_file
            except ImportError as exc:  # optional dependency
                raise WeightsMismatchError(
                    f"cannot read {p}: reading .safetensors needs the 'safetensors' package"
                ) from exc
            loaded: object = load_file(str(p), device="cpu")
        else:
            loaded = torch.load(p, map_location="cpu", weights_only=True)
    except WeightsMismatchError:
        raise
    except FileNotFoundError:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure to unpickle/unzip means an unusable file
        raise WeightsMismatchError(f"weights file {p} is corrupt or not a checkpoint ({_reason(exc)})") from exc
    if isinstance(loaded, Mapping) and "optimizer" in loaded and "model" in loaded:
        loaded = loaded["model"]  # MiDaS BaseModel.load convention
    if not isinstance(loaded, Mapping) or not loaded:
        raise WeightsMismatchError(f"weights file {p} holds no state dict (got {type(loaded).__name__})")
    state: dict[str, torch.Tensor] = {}
    for name, value in loaded.items():
        if isinstance(value, np.ndarray):
            value = torch.from_numpy(value)
        if not isinstance(name, str) or not isinstance(value, torch.Tensor):
            raise WeightsMismatchError(f"weights file {p} is not a plain state dict (entry {name!r})")
        state[name] = value
    return state


def build_net(variant: DepthVariant, device: str | torch.device = "cpu") -> nn.Module:
    """The variant's network; on ``"meta"`` it allocates nothing (fast shape-only build)."""
    with torch.device(device):
        net = resolve(variant.builder)(variant)
    assert isinstance(net, nn.Module)
    return net.eval()


@lru_cache(maxsize=None)
def expected_shapes(variant_name: str) -> dict[str, tuple[int, ...]]:
    """Our state-dict names and shapes for a variant (built on the meta device)."""
    net = build_net(get_variant(variant_name), "meta")
    return {k: tuple(v.shape) for k, v in net.state_dict().items()}


def _remapped_shapes(variant: DepthVariant, state_dict: Mapping[str, torch.Tensor]) -> dict[str, tuple[int, ...]]:
    mapped = resolve(variant.remap)(state_dict, variant)
    return {k: tuple(getattr(v, "shape", ())) for k, v in mapped.items()}


def identify_variants(state_dict: Mapping[str, torch.Tensor]) -> list[str]:
    """Registered variants whose key set and shapes this state dict matches exactly."""
    found = []
    for variant in all_variants():
        try:
            if _remapped_shapes(variant, state_dict) == expected_shapes(variant.name):
                found.append(variant.name)
        except Exception:  # noqa: BLE001 - a remap that cannot digest another family's file
            continue
    return found


def _mismatch_message(variant: DepthVariant, state_dict: Mapping[str, torch.Tensor], label: str,
                      looks_like: tuple[str, ...]) -> str:
    expected = expected_shapes(variant.name)
    got = _remapped_shapes(variant, state_dict)
    missing = sorted(set(expected) - set(got))
    unexpected = sorted(set(got) - set(expected))
    wrong_shape = sorted(k for k in set(expected) & set(got) if expected[k] != got[k])
    if looks_like:
        what = "it looks like " + " or ".join(looks_like)
    else:
        first = (missing + unexpected + wrong_shape)[:1]
        what = (
            f"it matches no known variant ({len(missing)} missing, {len(unexpected)} unexpected, "
            f"{len(wrong_shape)} wrongly shaped tensors; first: {first[0] if first else '-'})"
        )
    return f"weights file {label} does not fit {variant.name}: {what}"


def load_weights(variant: DepthVariant, state_dict: Mapping[str, torch.Tensor], label: str) -> nn.Module:
    """Build ``variant`` and load the official ``state_dict`` strictly (CPU, float32)."""
    mapped = resolve(variant.remap)(state_dict, variant)
    expected = expected_shapes(variant.name)
    got = {k: tuple(getattr(v, "shape", ())) for k, v in mapped.items()}
    if got != expected:
        looks_like = tuple(n for n in identify_variants(state_dict) if n != variant.name)
        raise WeightsMismatchError(_mismatch_message(variant, state_dict, label, looks_like), looks_like)
    net = build_net(variant, "meta")
    ours = net.state_dict()
    mapped = {k: torch.as_tensor(v).to(dtype=ours[k].dtype) for k, v in mapped.items()}
    net.load_state_dict(mapped, strict=True, assign=True)
    if any(t.is_meta for t in list(net.parameters()) + list(net.buffers())):
        # A buffer the file does not carry (computed at construction): build for real.
        net = build_net(variant, "cpu")
        net.load_state_dict(mapped, strict=True)
    return net.eval()
