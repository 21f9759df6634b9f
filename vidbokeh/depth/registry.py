"""The depth-model registry: a torch-free table, one frozen ``DepthVariant`` record per variant.

Every record is data: where the released file is, its licence, the preprocessing of the official
pipeline (resize rule, normalisation, upsampling back) and the family code that builds and loads it,
named as ``"module:function"`` and imported only when a network is built (``resolve``). Nothing here
imports torch or a family module, so listing models, checking argument choices and deciding the
``auto`` approach never load a network library.

Public: ``DepthVariant``, ``VARIANTS`` (name -> record), ``VARIANT_NAMES``, ``DEFAULT_MODELS``
(approach -> default variant), ``get_variant(name)``, ``all_variants()``, ``list_depth_models()``,
``family_of(name)``, ``resolve("module:function")``, ``remote_file(variant)`` (its weight-store record).
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Callable, Mapping

from ..errors import UsageError
from ..store import RemoteFile

RESIZE_METHODS = ("lower_bound", "upper_bound", "minimal")
UPSAMPLE_RULES = ("bilinear_align_corners", "bilinear", "bicubic")
FAMILIES = ("depth_anything", "midas")


@dataclass(frozen=True)
class DepthVariant:
    name: str  # registry name, e.g. "depth_anything_v2_vits" (fixed: scripts use it)
    family: str  # "depth_anything" | "midas" (the approach that uses it)
    official_model: str  # human description of the official model
    url: str  # official download URL of the released checkpoint
    sha256: str | None  # pinned SHA-256 of the released file; None: trusted on first download
    license: str  # e.g. "Apache-2.0", "CC-BY-NC-4.0", "MIT"
    params: int  # parameters of our network (a test checks it against the built network)
    input_size: int  # official default network input size (side)
    multiple_of: int  # network input sides are multiples of this
    resize_method: str  # one of RESIZE_METHODS
    keep_aspect_ratio: bool
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    upsample: str  # one of UPSAMPLE_RULES: how the net output goes back to the image size
    builder: str  # "module:function", function(variant) -> nn.Module
    remap: str  # "module:function", pure function(official state dict, variant) -> our state dict
    fixed_input_size: bool = False  # swin2/levit only run at input_size
    options: Mapping[str, object] = field(default_factory=dict, compare=False)  # family-specific build args
    note: str = ""

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ValueError(f"{self.name}: unknown family {self.family!r}")
        if self.resize_method not in RESIZE_METHODS:
            raise ValueError(f"{self.name}: unknown resize method {self.resize_method!r}")
        if self.upsample not in UPSAMPLE_RULES:
            raise ValueError(f"{self.name}: unknown upsample rule {self.upsample!r}")
        for ref in (self.builder, self.remap):
            if ref.count(":") != 1:
                raise ValueError(f"{self.name}: {ref!r} is not 'module:function'")
        if self.sha256 is not None and (len(self.sha256) != 64 or self.sha256 != self.sha256.lower()):
            raise ValueError(f"{self.name}: sha256 must be 64 lower-case hex digits")

    @property
    def filename(self) -> str:
        """The released file's name (the last part of its URL)."""
        return self.url.rsplit("/", 1)[-1].split("?", 1)[0]


def resolve(ref: str) -> Callable:
    """The function a ``"module:function"`` reference names (imports its module)."""
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)


IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_HALF = (0.5, 0.5, 0.5)
_PKG = "vidbokeh.depth"


def _depth_anything(version: int, enc: str, params: int) -> DepthVariant:
    size = {"vits": ("Small", "ViT-S/14"), "vitb": ("Base", "ViT-B/14"), "vitl": ("Large", "ViT-L/14")}[enc]
    if version == 2:
        official = f"Depth-Anything V2, {size[1]} (DepthAnything/Depth-Anything-V2)"
        url = f"https://huggingface.co/depth-anything/Depth-Anything-V2-{size[0]}/resolve/main/depth_anything_v2_{enc}.pth"
        license_ = "Apache-2.0" if enc == "vits" else "CC-BY-NC-4.0"
        note = ""
    else:
        official = f"Depth-Anything V1, {size[1]} (LiheYoung/Depth-Anything)"
        url = f"https://huggingface.co/spaces/LiheYoung/Depth-Anything/resolve/main/checkpoints/depth_anything_{enc}14.pth"
        license_ = "Apache-2.0"
        note = f"the same weights are published as the Hugging Face model LiheYoung/depth_anything_{enc}14"
    return DepthVariant(
        name=f"depth_anything_v{version}_{enc}", family="depth_anything", official_model=official, url=url,
        sha256=None, license=license_, params=params, input_size=518, multiple_of=14,
        resize_method="lower_bound", keep_aspect_ratio=True, mean=IMAGENET_MEAN, std=IMAGENET_STD,
        upsample="bilinear_align_corners" if version == 2 else "bilinear",
        builder=f"{_PKG}.depth_anything:build_depth_anything", remap=f"{_PKG}.depth_anything:remap_depth_anything",
        options={"encoder": enc, "version": version}, note=note,
    )


def _midas(name: str, official: str, url: str, params: int, module: str, **rule: object) -> DepthVariant:
    return DepthVariant(
        name=name, family="midas", official_model=official, url=url, sha256=None, license="MIT", params=params,
        builder=f"{_PKG}.{module}:build_{module}", remap=f"{_PKG}.{module}:remap_{module}", **rule,  # type: ignore[arg-type]
    )


_MIDAS = "https://github.com/isl-org/MiDaS/releases/download/"
_DPT_RULE = dict(input_size=384, multiple_of=32, resize_method="minimal", keep_aspect_ratio=True, mean=_HALF,
                 std=_HALF, upsample="bicubic")
_FIXED_RULE = dict(multiple_of=32, resize_method="minimal", keep_aspect_ratio=False, mean=_HALF, std=_HALF,
                   upsample="bicubic", fixed_input_size=True)

VARIANTS: dict[str, DepthVariant] = {
    v.name: v
    for v in (
        _depth_anything(2, "vits", 24_784_705),
        _depth_anything(2, "vitb", 97_470_017),
        _depth_anything(2, "vitl", 335_314_625),
        _depth_anything(1, "vits", 24_784_705),
        _depth_anything(1, "vitb", 97_470_017),
        _depth_anything(1, "vitl", 335_314_625),
        _midas("midas_dpt_hybrid_384", "MiDaS v3.0 DPT-Hybrid (ResNet-50 + ViT-B/16, isl-org/MiDaS dpt_hybrid_384)",
               _MIDAS + "v3/dpt_hybrid_384.pt", 122_377_985, "midas", options={"kind": "hybrid"}, **_DPT_RULE),
        _midas("midas_dpt_large_384", "MiDaS v3.0 DPT-Large (ViT-L/16, isl-org/MiDaS dpt_large_384)",
               _MIDAS + "v3/dpt_large_384.pt", 343_030_465, "midas", options={"kind": "large"}, **_DPT_RULE),
        _midas("midas_v21_small_256", "MiDaS v2.1 small (MidasNet_small, EfficientNet-Lite3)",
               _MIDAS + "v2_1/midas_v21_small_256.pt", 21_320_545, "midas_small", input_size=256, multiple_of=32,
               resize_method="upper_bound", keep_aspect_ratio=True, mean=IMAGENET_MEAN, std=IMAGENET_STD,
               upsample="bicubic", note="the fast one"),
        _midas("midas_dpt_swin2_tiny_256", "MiDaS v3.1 DPT Swin-V2 tiny (window 16, 256)",
               _MIDAS + "v3_1/dpt_swin2_tiny_256.pt", 40_930_795, "midas_swin2", input_size=256, **_FIXED_RULE),
        _midas("midas_dpt_levit_224", "MiDaS v3.1 DPT LeViT-384 (224)",
               _MIDAS + "v3_1/dpt_levit_224.pt", 36_675_237, "midas_levit", input_size=224, **_FIXED_RULE),
    )
}
VARIANT_NAMES: tuple[str, ...] = tuple(VARIANTS)

# The default variant of each depth approach.
DEFAULT_MODELS: dict[str, str] = {
    "depth_anything": "depth_anything_v2_vits",
    "midas": "midas_dpt_hybrid_384",
}


def get_variant(name: str) -> DepthVariant:
    try:
        return VARIANTS[name]
    except KeyError:
        known = ", ".join(sorted(VARIANTS))
        raise UsageError(f"unknown depth model {name!r}; choose one of: {known}") from None


def all_variants() -> list[DepthVariant]:
    """Every record, sorted by name."""
    return [VARIANTS[k] for k in sorted(VARIANTS)]


def list_depth_models() -> list[str]:
    """Registered variant names, sorted."""
    return sorted(VARIANTS)


def family_of(name: str) -> str:
    """The approach a variant belongs to ("depth_anything" or "midas")."""
    return get_variant(name).family


def remote_file(variant: DepthVariant) -> RemoteFile:
    """The weight-store record of a variant's released file."""
    return RemoteFile(name=variant.name, url=variant.url, sha256=variant.sha256, filename=variant.filename)
