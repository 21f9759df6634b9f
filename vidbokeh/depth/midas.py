"""MiDaS v3 DPT-Hybrid (ResNet-50 + ViT-B/16) and DPT-Large (ViT-L/16) on timm.

Builds ``midas_dpt_hybrid_384`` and ``midas_dpt_large_384`` (``build_midas``).
``MidasDPTNet.forward(x: (N,3,H,W) normalized, H and W multiples of 32) -> (N, H, W)``
like the official ``DPTDepthModel.forward``. Our own block loop replaces MiDaS' global
forward hooks. The position embedding (24x24 grid + cls) is resized bilinearly
(align_corners=False) to the target size (H//16, W//16).
``remap_midas(state_dict, variant)`` is the pure official-name -> our-name map.
"""
from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Mapping

import timm
import torch
import torch.nn.functional as F
from torch import nn

from .dpt_head import DPTHead, Reassemble, remap_scratch_key
if TYPE_CHECKING:  # the registry names these functions; they never import it back at run time
    from .registry import DepthVariant

PATCH = 16
_SPECS = {
    # timm name, hooks (block index, or "stageN" for the ResNet stem), reassemble out channels
    "hybrid": ("vit_base_r50_s16_384", ("stage0", "stage1", 8, 11), (256, 512, 768, 768)),
    "large": ("vit_large_patch16_384", (5, 11, 17, 23), (256, 512, 1024, 1024)),
}
_RESIZES = ("up4", "up2", "id", "down2")


class MidasDPTNet(nn.Module):
    def __init__(self, kind: str, features: int = 256) -> None:
        super().__init__()
        timm_name, hooks, out_channels = _SPECS[kind]
        self.vit = timm.create_model(timm_name, pretrained=False, num_classes=0, img_size=384)
        self.hooks = hooks
        dim = int(self.vit.embed_dim)
        self.reassemble = nn.ModuleList(
            nn.Identity() if isinstance(h, str) else Reassemble(dim, c, r, readout="project")
            for h, c, r in zip(hooks, out_channels, _RESIZES)
        )
        self.head = DPTHead(out_channels, [features] * 4, output_upsample="x2", output_align_corners=True)

    def position_embedding(self, grid: tuple[int, int]) -> torch.Tensor:
        pos = self.vit.pos_embed
        cls_pos, grid_pos = pos[:, :1], pos[0, 1:]
        side = int(math.sqrt(grid_pos.shape[0]))
        grid_pos = grid_pos.reshape(1, side, side, -1).permute(0, 3, 1, 2)
        grid_pos = F.interpolate(grid_pos, size=grid, mode="bilinear", align_corners=False)
        grid_pos = grid_pos.permute(0, 2, 3, 1).reshape(1, grid[0] * grid[1], -1)
        return torch.cat([cls_pos, grid_pos], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-2:]
        grid = (height // PATCH, width // PATCH)
        taken: dict[object, torch.Tensor] = {}
        embed = self.vit.patch_embed
        if hasattr(embed, "backbone"):  # hybrid: ResNetV2 stem, stage outputs are features
            resnet = embed.backbone
            y = resnet.stem(x)
            for i, stage in enumerate(resnet.stages):
                y = stage(y)
                taken[f"stage{i}"] = y
            y = resnet.norm(y)
        else:
            y = x
        tokens = embed.proj(y).flatten(2).transpose(1, 2)
        tokens = torch.cat([self.vit.cls_token.expand(tokens.shape[0], -1, -1), tokens], dim=1)
        tokens = tokens + self.position_embedding(grid)
        last = max(h for h in self.hooks if isinstance(h, int))
        for i, block in enumerate(self.vit.blocks[: last + 1]):
            tokens = block(tokens)
            taken[i] = tokens
        feats = [
            taken[h] if isinstance(h, str) else r(taken[h], grid) for h, r in zip(self.hooks, self.reassemble)
        ]
        return self.head(feats).squeeze(1)


_UNUSED = re.compile(r"^pretrained\.model\.head\.")
_POST = re.compile(r"^pretrained\.act_postprocess(\d)\.(\d)\.(.+)$")
_POST_PARTS = {"0": "readout", "3": "project", "4": "resize"}


def remap_midas(state_dict: Mapping[str, object], variant: DepthVariant | None = None) -> dict:
    """Official MiDaS DPT (ViT) names -> MidasDPTNet names (unknown names pass through)."""
    out: dict = {}
    for name, value in state_dict.items():
        if _UNUSED.match(name):
            continue  # the ImageNet classifier: no path to the depth output
        new = name
        if name.startswith("pretrained.model."):
            new = "vit." + name[len("pretrained.model."):]
        elif (m := _POST.match(name)) is not None and m.group(2) in _POST_PARTS:
            rest = m.group(3)
            if m.group(2) == "0":  # ProjectReadout: 0.project.0.* -> readout.0.*
                rest = rest[len("project."):] if rest.startswith("project.") else rest
            new = f"reassemble.{int(m.group(1)) - 1}.{_POST_PARTS[m.group(2)]}.{rest}"
        elif name.startswith("scratch."):
            mapped = remap_scratch_key(name[len("scratch."):])
            if mapped is not None:
                new = "head." + mapped
        out[new] = value
    return out


def build_midas(variant: DepthVariant) -> MidasDPTNet:
    return MidasDPTNet(str(variant.options["kind"]))
