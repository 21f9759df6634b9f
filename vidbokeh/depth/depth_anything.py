"""Depth-Anything V1 and V2 (ViT-S/B/L): DINOv2 backbone + the shared DPT head.

Builds ``depth_anything_v2_{vits,vitb,vitl}`` and ``depth_anything_v1_{vits,vitb,vitl}`` (``build_depth_anything``).
``DepthAnythingNet.forward(x: (N,3,H,W) normalized) -> (N, H', W')`` like the official
forward (H' = 14*(H//14) for V2; V1 resizes back to H x W, bilinear align_corners=True).
``remap_depth_anything(state_dict, variant)`` is the pure official-name -> our-name map.
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from .dinov2 import PATCH, DinoV2
from .dpt_head import DPTHead, Reassemble, remap_scratch_key
if TYPE_CHECKING:  # the registry names these functions; they never import it back at run time
    from .registry import DepthVariant

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


def build_depth_anything(variant: DepthVariant) -> DepthAnythingNet:
    encoder = str(variant.options["encoder"])
    version = int(variant.options["version"])  # type: ignore[arg-type]
    layers = (_V2_LAYERS if version == 2 else _V1_LAYERS)[encoder]
    return DepthAnythingNet(encoder, layers, resize_to_input=(version == 1))
