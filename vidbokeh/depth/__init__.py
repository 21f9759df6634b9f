"""Monocular depth models (MiDaS, Depth-Anything) built on timm, loading the released files.

Public API::

    from vidbokeh.depth import create_depth_model, list_depth_models
    m = create_depth_model("depth_anything_v2_vits", weights=None, device="auto")
    depth = m.predict(rgb)            # HxWx3 uint8 RGB -> HxW float32 relative inverse depth

Layout: ``registry`` is the torch-free table of variants (each names its family's builder and
remap as "module:function"); the family files (``depth_anything``, ``midas``, ``midas_small``,
``midas_swin2``, ``midas_levit`` on ``dinov2``/``dpt_head``) hold only network code and never
import the registry back; ``loading`` builds and loads a network; ``model`` chains
``transforms`` (preprocessing) -> a runner (``runner_torch``) -> ``upsample``; ``catalog`` backs
``vidbokeh models``. The torch side is imported on first use of its names, so the registry and the
catalog load without torch.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from .registry import DEFAULT_MODELS, DepthVariant, all_variants, family_of, get_variant, list_depth_models

if TYPE_CHECKING:
    from .model import DepthModel, create_depth_model, random_depth_model

_TORCH_SIDE = {"DepthModel", "create_depth_model", "random_depth_model"}

__all__ = [
    "DEFAULT_MODELS",
    "DepthModel",
    "DepthVariant",
    "all_variants",
    "create_depth_model",
    "family_of",
    "get_variant",
    "list_depth_models",
    "random_depth_model",
]


def __getattr__(name: str):
    if name in _TORCH_SIDE:
        from . import model

        return getattr(model, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
