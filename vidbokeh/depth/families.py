"""Imports every family module so that each registers its variants.

The MiDaS v2.1-small / v3.1 Swin2 / LeViT modules are built separately; until one
exists it is skipped (only its own absence is tolerated: an error inside an existing
module still propagates).
"""
from __future__ import annotations

import importlib

from . import depth_anything  # noqa: F401
from . import midas  # noqa: F401

OPTIONAL_FAMILY_MODULES = ("midas_small", "midas_swin2", "midas_levit")


def _import_optional(module: str) -> None:
    full = f"{__package__}.{module}"
    try:
        importlib.import_module(full)
    except ModuleNotFoundError as exc:
        if exc.name != full:
            raise


for _module in OPTIONAL_FAMILY_MODULES:
    _import_optional(_module)
