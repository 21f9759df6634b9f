"""DINOv2 ViT-S/B/L/14 backbone on timm's VisionTransformer, as Depth-Anything runs it.

``DinoV2(size)`` with size in {"vits", "vitb", "vitl"}; ``.vit`` is the timm model whose
state-dict names equal the official ``pretrained.*`` names (minus the unused ``mask_token``).
``forward_intermediates(x, indices) -> list[(N, 1+gh*gw, D)]``: tokens after the given
blocks, each passed through the final LayerNorm (Depth-Anything's
``get_intermediate_layers(..., norm=True)``). Our own block loop: no hooks.

Position embedding: DINOv2's quirk is reproduced, a bicubic resize of the 37x37 grid
called with the *scale factor* ((H//14 + 0.1)/37, (W//14 + 0.1)/37), skipped when the
token count matches and the input is square.
"""
from __future__ import annotations

import math
from typing import Sequence

import timm
import torch
import torch.nn.functional as F
from torch import nn

TIMM_NAMES = {
    "vits": "vit_small_patch14_dinov2",
    "vitb": "vit_base_patch14_dinov2",
    "vitl": "vit_large_patch14_dinov2",
}
PATCH = 14
INTERPOLATE_OFFSET = 0.1


class DinoV2(nn.Module):
    def __init__(self, size: str) -> None:
        super().__init__()
        if size not in TIMM_NAMES:
            raise ValueError(f"unknown DINOv2 size {size!r}")
        self.vit = timm.create_model(TIMM_NAMES[size], pretrained=False, num_classes=0, img_size=518)
        self.embed_dim = int(self.vit.embed_dim)
        self.depth = len(self.vit.blocks)

    def position_embedding(self, num_patches: int, height: int, width: int) -> torch.Tensor:
        pos = self.vit.pos_embed
        stored = pos.shape[1] - 1
        if num_patches == stored and height == width:
            return pos
        pos = pos.float()
        cls_pos, grid_pos = pos[:, :1], pos[:, 1:]
        side = math.sqrt(stored)
        n_side = int(side)
        dim = pos.shape[-1]
        scale_h = (height // PATCH + INTERPOLATE_OFFSET) / side
        scale_w = (width // PATCH + INTERPOLATE_OFFSET) / side
        grid = grid_pos.reshape(1, n_side, n_side, dim).permute(0, 3, 1, 2)
        grid = F.interpolate(grid, scale_factor=(scale_h, scale_w), mode="bicubic", align_corners=False)
        grid = grid.permute(0, 2, 3, 1).reshape(1, -1, dim)
        return torch.cat([cls_pos, grid], dim=1).to(self.vit.pos_embed.dtype)

    def forward_intermediates(self, x: torch.Tensor, indices: Sequence[int]) -> list[torch.Tensor]:
        _, _, height, width = x.shape
        tokens = self.vit.patch_embed.proj(x).flatten(2).transpose(1, 2)
        cls = self.vit.cls_token.expand(tokens.shape[0], -1, -1)
        tokens = torch.cat([cls, tokens], dim=1)
        tokens = tokens + self.position_embedding(tokens.shape[1] - 1, height, width)
        wanted = set(indices)
        outputs: dict[int, torch.Tensor] = {}
        for i, block in enumerate(self.vit.blocks):
            tokens = block(tokens)
            if i in wanted:
                outputs[i] = self.vit.norm(tokens)
            if len(outputs) == len(wanted):
                break
        return [outputs[i] for i in indices]
