"""Depth-Anything V1 and V2 (ViT-S/B/L): DINOv2 backbone + the shared DPT head.

Registers ``depth_anything_v2_{vits,vitb,vitl}`` and ``depth_anything_v1_{vits,vitb,vitl}``.
``DepthAnythingNet.forward(x: (N,3,H,W) normalized) -> (N, H', W')`` like the official
forward (H' = 14*(H//14) for V2; V1 resizes back to H x W, bilinear align_corners=True).
``remap_depth_anything(state_dict, variant)`` is the pure official-name -> our-name map.
"""
from __future__ import annotations

import re
from typing import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from .dinov2 import PATCH, DinoV2
from .dpt_head import DPTHead, Reassemble, remap_scratch_key
from .registry import DepthVariant, register

# encoder -> (DPT features, reassemble out_channels)
_HEAD_SIZES = {
    "vits": (64, (48, 96, 192, 384)),
    "vitb": (128, (96, 192, 384, 768)),
    "vitl": (256, (256, 512, 1024, 1024)),
}
# V2 takes fixed blocks; V1 takes the last four.
_V2_LAYERS = {"vits": (2, 5, 8, 11), "vitb": (2, 5, 8, 11), "vitl": (4, 11, 17, 23)}
_V1_LAYERS = {"vits": (8, 9, 10, 11), "vitb": (8, 9, 10, 11), "vitl": (20, 21, 22, 23)}
_RESIZES = ("up4", "up2", "id", "down2")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class DepthAnythingNet(nn.Module):
    def __init__(self, encoder: str, layers: tuple[int, ...], resize_to_input: bool) -> None:
        super().__init__()
        features, out_channels = _HEAD_SIZES[encoder]
        self.vit_backbone = DinoV2(encoder)
        dim = self.vit_backbone.embed_dim
        self.layers = tuple(layers)
        self.resize_to_input = resize_to_input
        self.reassemble = nn.ModuleList(
            Reassemble(dim, c, r, readout="ignore") for c, r in zip(out_channels, _RESIZES)
        )
        self.head = DPTHead(out_channels, [features] * 4, output_upsample="input", output_align_corners=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-2:]
        grid = (height // PATCH, width // PATCH)
        tokens = self.vit_backbone.forward_intermediates(x, self.layers)
        feats = [r(t, grid) for r, t in zip(self.reassemble, tokens)]
        depth = self.head(feats, (grid[0] * PATCH, grid[1] * PATCH))
        if self.resize_to_input and depth.shape[-2:] != (height, width):
            depth = F.interpolate(depth, size=(height, width), mode="bilinear", align_corners=True)
        return F.relu(depth).squeeze(1)


_UNUSED = ("pretrained.mask_token",)
_REASSEMBLE = re.compile(r"^depth_head\.(projects|resize_layers)\.(\d+)\.(.+)$")


def remap_depth_anything(state_dict: Mapping[str, object], variant: DepthVariant | None = None) -> dict:
    """Official Depth-Anything V1/V2 names -> DepthAnythingNet names (unknown names pass through)."""
    out: dict = {}
    for name, value in state_dict.items():
        if name in _UNUSED:
            continue
        new = name
        if name.startswith("pretrained."):
            new = "vit_backbone.vit." + name[len("pretrained."):]
        elif (m := _REASSEMBLE.match(name)) is not None:
            part = "project" if m.group(1) == "projects" else "resize"
            new = f"reassemble.{m.group(2)}.{part}.{m.group(3)}"
        elif name.startswith("depth_head.scratch."):
            mapped = remap_scratch_key(name[len("depth_head.scratch."):])
            if mapped is not None:
                new = "head." + mapped
        out[new] = value
    return out


def _build(variant: DepthVariant) -> DepthAnythingNet:
    encoder = str(variant.options["encoder"])
    version = int(variant.options["version"])  # type: ignore[arg-type]
    layers = (_V2_LAYERS if version == 2 else _V1_LAYERS)[encoder]
    return DepthAnythingNet(encoder, layers, resize_to_input=(version == 1))


_V2_REPOS = {"vits": "Small", "vitb": "Base", "vitl": "Large"}
_V2_LICENSES = {"vits": "Apache-2.0", "vitb": "CC-BY-NC-4.0", "vitl": "CC-BY-NC-4.0"}
_SIZE_WORDS = {"vits": "ViT-S/14", "vitb": "ViT-B/14", "vitl": "ViT-L/14"}

for _enc in ("vits", "vitb", "vitl"):
    register(
        DepthVariant(
            name=f"depth_anything_v2_{_enc}",
            family="depth_anything",
            official_model=f"Depth-Anything V2, {_SIZE_WORDS[_enc]} (DepthAnything/Depth-Anything-V2)",
            url=(
                f"https://huggingface.co/depth-anything/Depth-Anything-V2-{_V2_REPOS[_enc]}"
                f"/resolve/main/depth_anything_v2_{_enc}.pth"
            ),
            sha256=None,
            license=_V2_LICENSES[_enc],
            input_size=518,
            multiple_of=PATCH,
            resize_method="lower_bound",
            keep_aspect_ratio=True,
            mean=IMAGENET_MEAN,
            std=IMAGENET_STD,
            upsample="bilinear_align_corners",
            build=_build,
            remap=remap_depth_anything,
            options={"encoder": _enc, "version": 2},
        )
    )
    register(
        DepthVariant(
            name=f"depth_anything_v1_{_enc}",
            family="depth_anything",
            official_model=f"Depth-Anything V1, {_SIZE_WORDS[_enc]} (LiheYoung/Depth-Anything)",
            url=(
                "https://huggingface.co/spaces/LiheYoung/Depth-Anything/resolve/main/checkpoints/"
                f"depth_anything_{_enc}14.pth"
            ),
            sha256=None,
            license="Apache-2.0",
            input_size=518,
            multiple_of=PATCH,
            resize_method="lower_bound",
            keep_aspect_ratio=True,
            mean=IMAGENET_MEAN,
            std=IMAGENET_STD,
            upsample="bilinear",
            build=_build,
            remap=remap_depth_anything,
            options={"encoder": _enc, "version": 1},
            note="the same weights are published as the Hugging Face model LiheYoung/depth_anything_"
            f"{_enc}14",
        )
    )
