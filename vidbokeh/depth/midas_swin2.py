"""MiDaS v3.1 DPT on Swin-V2 tiny (window 16, 256x256): ``dpt_swin2_tiny_256``.

The official model wraps timm 0.6.12 ``swinv2_tiny_window16_256`` and hooks the
last block of each of the 4 stages. timm 1.x computes the same network (same
cosine attention, log-spaced continuous position bias MLP, post-norm residuals,
patch-merging order, window clipping to the feature size and shifted-window
mask) but lays the stages out differently: 0.6.12 downsamples at the *end* of a
stage (``layers.i.downsample``), timm 1.x at the *start* of the next one
(``layers.{i+1}.downsample``). So the stage outputs of timm 1.x are exactly the
hooked block outputs, and the remap only moves the downsample names.

The shifted-window ``attn_mask`` buffers are computed by timm's constructor
(non-persistent); the copies stored in the released checkpoint are dropped on
load. The classifier (``head``) and final ``norm`` do not feed the depth output
and are not built.
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING, Mapping

import timm
import torch
from torch import nn

from .dpt_head import DPTHead, remap_head_key
if TYPE_CHECKING:  # the registry names these functions; they never import it back at run time
    from .registry import DepthVariant

INPUT_SIZE = 256
STAGE_CHANNELS = (96, 192, 384, 768)
FEATURES = 256

# Official keys that the depth output does not depend on, or that our
# constructor computes itself: dropped by the remap (documented, not silent).
_DROPPED = re.compile(r"^pretrained\.model\.(head\.|norm\.|layers\.\d+\.blocks\.\d+\.attn_mask$)")


class MidasSwin2Net(nn.Module):
    """``forward(x: (N, 3, 256, 256) normalised RGB) -> (N, 256, 256)`` relative inverse depth."""

    def __init__(self) -> None:
        super().__init__()
        backbone = timm.create_model("swinv2_tiny_window16_256", pretrained=False, img_size=INPUT_SIZE)
        backbone.prune_intermediate_layers((0, 1, 2, 3), prune_norm=True, prune_head=True)
        self.backbone = backbone
        self.head = DPTHead(STAGE_CHANNELS, (FEATURES,) * 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape[-2:]) != (INPUT_SIZE, INPUT_SIZE):
            raise ValueError(f"dpt_swin2_tiny_256 needs a {INPUT_SIZE}x{INPUT_SIZE} input, got {tuple(x.shape[-2:])}")
        features = self.backbone.forward_intermediates(x, indices=(0, 1, 2, 3), norm=False, intermediates_only=True)
        return self.head(features).squeeze(1)


_DOWNSAMPLE = re.compile(r"^pretrained\.model\.layers\.(\d+)\.downsample\.(.+)$")
_BACKBONE = re.compile(r"^pretrained\.model\.(.+)$")


def remap_midas_swin2(state_dict: Mapping[str, object], variant: DepthVariant | None = None) -> dict:
    """Official ``DPTDepthModel(backbone='swin2t16_256')`` state dict -> ``MidasSwin2Net`` names (pure).

    Drops the classifier, the final norm and the constructed ``attn_mask`` tables;
    passes unknown names through unchanged so the strict load reports them.
    """
    out: dict = {}
    for name, value in state_dict.items():
        if _DROPPED.match(name):
            continue
        out[_remap_key(name)] = value
    return out


def _remap_key(name: str) -> str:
    m = _DOWNSAMPLE.match(name)
    if m:  # 0.6.12: end of stage i; timm 1.x: start of stage i+1
        return f"backbone.layers.{int(m.group(1)) + 1}.downsample.{m.group(2)}"
    m = _BACKBONE.match(name)
    if m:
        return "backbone." + m.group(1)
    head_name = remap_head_key(name)
    return name if head_name is None else head_name


def build_midas_swin2(variant: DepthVariant) -> MidasSwin2Net:
    return MidasSwin2Net()
