"""Monocular depth models (MiDaS, Depth-Anything) built on timm, loading the released files.

Public API::

    from vidbokeh.depth import create_depth_model, list_depth_models
    m = create_depth_model("depth_anything_v2_vits", weights=None, device="auto")
    depth = m.predict(rgb)            # HxWx3 uint8 RGB -> HxW float32 relative inverse depth
"""
from .model import DepthModel, create_depth_model, list_depth_models, random_depth_model
from .registry import DepthVariant, all_variants, get_variant

__all__ = [
    "DepthModel",
    "DepthVariant",
    "all_variants",
    "create_depth_model",
    "get_variant",
    "list_depth_models",
    "random_depth_model",
]
