"""Depth variant names, importable without torch (for --help, argument checks and `auto`).

The registry in ``vidbokeh.depth`` is the source of truth; a test checks that it registers exactly
these names.
"""
from __future__ import annotations

VARIANT_NAMES: tuple[str, ...] = (
    "depth_anything_v2_vits",
    "depth_anything_v2_vitb",
    "depth_anything_v2_vitl",
    "depth_anything_v1_vits",
    "depth_anything_v1_vitb",
    "depth_anything_v1_vitl",
    "midas_dpt_hybrid_384",
    "midas_dpt_large_384",
    "midas_v21_small_256",
    "midas_dpt_swin2_tiny_256",
    "midas_dpt_levit_224",
)

# The default variant of each depth approach.
DEFAULT_MODELS: dict[str, str] = {
    "depth_anything": "depth_anything_v2_vits",
    "midas": "midas_dpt_hybrid_384",
}


def family_of(name: str) -> str:
    return "depth_anything" if name.startswith("depth_anything") else "midas"
