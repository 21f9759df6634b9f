"""MiDaS v2.1 small (``MidasNet_small``): EfficientNet-Lite3 encoder + the shared DPT head.

The official model takes its encoder from gen-efficientnet-pytorch
(``tf_efficientnet_lite3``, exportable: TF "SAME" padding cached at the first
forward). timm's ``tf_efficientnet_lite3`` is the same network (ReLU6, BatchNorm
eps 1e-3, no SE, channel x1.2 / depth x1.4 with fixed stem and head) and pads
stride-2 convs dynamically, which equals the cached padding for the sides the
pipeline produces (multiples of 32). Its feature levels 1-4 are exactly the
official ``layer1``..``layer4`` (32, 48, 136, 384 channels at strides 4-32).

The decoder is MiDaS' ``expand`` variant of the DPT head: ``layerN_rn`` widths
64/128/256/512, each fusion block halves the width and upsamples x2, and the
output upsampling is bilinear with ``align_corners=False`` (unlike DPT).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Mapping

import timm
import torch
from torch import nn

from .dpt_head import DPTHead, remap_head_key
if TYPE_CHECKING:  # the registry names these functions; they never import it back at run time
    from .registry import DepthVariant

ENCODER_CHANNELS = (32, 48, 136, 384)
DECODER_CHANNELS = (64, 128, 256, 512)  # features=64 with expand=True


class MidasSmallNet(nn.Module):
    """``forward(x: (N, 3, H, W) normalised RGB) -> (N, H, W)`` relative inverse depth."""

    def __init__(self) -> None:
        super().__init__()
        self.backbone = timm.create_model(
            "tf_efficientnet_lite3", pretrained=False, features_only=True, out_indices=(1, 2, 3, 4)
        )
        channels = tuple(self.backbone.feature_info.channels())
        if channels != ENCODER_CHANNELS:  # guards against a timm config change
            raise RuntimeError(f"unexpected EfficientNet-Lite3 feature widths {channels}")
        self.head = DPTHead(
            ENCODER_CHANNELS,
            DECODER_CHANNELS,
            head_features_2=32,
            fusion_upsample="x2",
            output_upsample="x2",
            output_align_corners=False,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.backbone(x)
        return self.head(features).squeeze(1)


# official pretrained.layerN.M -> timm EfficientNet module (stem, bn1, blocks.i)
_ENCODER_PREFIXES: tuple[tuple[str, str], ...] = (
    ("pretrained.layer1.0.", "backbone.conv_stem."),
    ("pretrained.layer1.1.", "backbone.bn1."),
    ("pretrained.layer1.3.", "backbone.blocks.0."),
    ("pretrained.layer1.4.", "backbone.blocks.1."),
    ("pretrained.layer2.0.", "backbone.blocks.2."),
    ("pretrained.layer3.0.", "backbone.blocks.3."),
    ("pretrained.layer3.1.", "backbone.blocks.4."),
    ("pretrained.layer4.0.", "backbone.blocks.5."),
    ("pretrained.layer4.1.", "backbone.blocks.6."),
)


def remap_midas_small(state_dict: Mapping[str, object], variant: DepthVariant | None = None) -> dict:
    """Official ``MidasNet_small`` state dict -> ``MidasSmallNet`` names (pure).

    Names it does not know are passed through unchanged, so the strict load
    that follows reports them as unexpected.
    """
    out: dict = {}
    for name, value in state_dict.items():
        out[_remap_key(name)] = value
    return out


def _remap_key(name: str) -> str:
    for official, ours in _ENCODER_PREFIXES:
        if name.startswith(official):
            return ours + name[len(official):]
    head_name = remap_head_key(name)
    return name if head_name is None else head_name


def build_midas_small(variant: DepthVariant) -> MidasSmallNet:
    return MidasSmallNet()
