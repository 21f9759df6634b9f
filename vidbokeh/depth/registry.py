"""The depth-model registry: every variant is data (one frozen dataclass).

Family modules (``depth_anything.py``, ``midas.py``, ...) describe their variants
as ``DepthVariant`` records and register them with ``register``. Preprocessing
(resize rule, normalisation, upsampling back) is derived from these fields in
``transforms.py``/``model.py``, never hard-coded per variant.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping

from ..errors import UsageError

ResizeMethod = str  # "lower_bound" | "upper_bound" | "minimal"
Upsample = str  # "bilinear_align_corners" | "bilinear" | "bicubic"


@dataclass(frozen=True)
class DepthVariant:
    name: str  # registry name, e.g. "depth_anything_v2_vits" (fixed: scripts use it)
    family: str  # "depth_anything" | "midas"
    official_model: str  # human description of the official model
    url: str  # official download URL of the released checkpoint
    sha256: str | None  # SHA-256 of the released file where known
    license: str  # e.g. "Apache-2.0", "CC-BY-NC-4.0", "MIT"
    input_size: int  # official default network input size (side)
    multiple_of: int  # network input sides are multiples of this
    resize_method: ResizeMethod
    keep_aspect_ratio: bool
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    upsample: Upsample  # how the net output goes back to the image size
    fixed_input_size: bool = False  # swin2/levit only run at input_size
    build: Callable[["DepthVariant"], object] | None = field(default=None, compare=False, repr=False)
    # pure function: official state dict (name -> tensor/array) -> our module's state dict
    remap: Callable[[Mapping[str, object], "DepthVariant"], dict] | None = field(
        default=None, compare=False, repr=False
    )
    options: Mapping[str, object] = field(default_factory=dict, compare=False)  # family-specific build args
    note: str = ""


_REGISTRY: dict[str, DepthVariant] = {}


def register(variant: DepthVariant) -> DepthVariant:
    if variant.name in _REGISTRY:
        raise ValueError(f"depth variant {variant.name!r} registered twice")
    _REGISTRY[variant.name] = variant
    return variant


def _load_families() -> None:
    # Importing a family module registers its variants.
    from . import families  # noqa: F401


def get_variant(name: str) -> DepthVariant:
    _load_families()
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY))
        raise UsageError(f"unknown depth model {name!r}; choose one of: {known}") from None


def all_variants() -> list[DepthVariant]:
    _load_families()
    return [_REGISTRY[k] for k in sorted(_REGISTRY)]
