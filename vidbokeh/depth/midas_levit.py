"""MiDaS v3.1 DPT on LeViT-384 (224x224): ``dpt_levit_224``.

The official model wraps timm 0.6.12 ``levit_384``, whose blocks are one flat
list of 28 residual modules (attention, MLP, ..., attention-subsample, MLP, ...)
and hooks flat blocks 3, 11 and 21. timm 1.x builds the same arithmetic (same
LinearNorm = Linear + BatchNorm1d, q/k/v split, attention-bias tables, strided
subsampling, Hardswish) grouped into a stem and 3 stages of ``LevitBlock``
(attention + MLP) with a ``LevitDownsample`` (subsample attention + MLP) at the
start of stages 1 and 2. Flat block 3 is the end of stage 0's block 1, 11 the
end of stage 1's block 0 and 21 the end of stage 2's block 0; we run the timm
modules in order and tap there. Stage 2 stops after its first block: the rest
(flat blocks 22-27) and the classifier heads never reach the depth output.

Three feature levels (384, 512, 768 channels on 14/7/4 grids) feed the shared
DPT head with a transposed-conv "stem" (``stem_transpose``) before the output
convs (64 -> 32 -> 8 -> 1).

``attention_bias_idxs`` are computed by timm's constructor; the copies in the
released checkpoint are dropped on load. timm caches the gathered attention
biases at the first eval forward; loading weights clears that cache here.
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING, Mapping

import timm
import torch
from timm.models.levit import Attention, AttentionDownsample
from torch import nn

from .dpt_head import DPTHead, remap_head_key
if TYPE_CHECKING:  # the registry names these functions; they never import it back at run time
    from .registry import DepthVariant

INPUT_SIZE = 224
STAGE_CHANNELS = (384, 512, 768)
STAGE_DEPTHS = (4, 4, 4)
FEATURES = 256
# official flat block indices hooked by MiDaS ("levit_384": [3, 11, 21])
HOOKS = (3, 11, 21)


def _flat_layout(depths: tuple[int, ...]) -> list[tuple[int, str, int]]:
    """Flat 0.6.12 block index -> (stage, kind, index) with kind in
    "attn"/"mlp" (``stages.s.blocks.index``) or "down_attn"/"down_mlp"."""
    layout: list[tuple[int, str, int]] = []
    for stage, depth in enumerate(depths):
        if stage > 0:
            layout += [(stage, "down_attn", 0), (stage, "down_mlp", 0)]
        for block in range(depth):
            layout += [(stage, "attn", block), (stage, "mlp", block)]
    return layout


_LAYOUT = _flat_layout(STAGE_DEPTHS)


def _taps() -> tuple[tuple[int, int], ...]:
    """(stage, block) after which each hooked flat block's output is available."""
    taps = []
    for hook in HOOKS:
        stage, kind, block = _LAYOUT[hook]
        if kind != "mlp":  # a hook inside a LevitBlock (after its attention) is not reachable here
            raise ValueError(f"hook {hook} does not end a LeViT block")
        taps.append((stage, block))
    return tuple(taps)


TAPS = _taps()  # ((0, 1), (1, 0), (2, 0))


class _ConvTransposeNorm(nn.Sequential):
    """ConvTranspose2d(3x3, stride 2, padding 1, output_padding 1, no bias) + BatchNorm2d.

    The official module passes ``dilation`` positionally into the
    ``output_padding`` slot of ``nn.ConvTranspose2d``, so each one doubles the side
    exactly (28 -> 56 -> 112).
    """

    def __init__(self, in_chs: int, out_chs: int) -> None:
        super().__init__()
        self.c = nn.ConvTranspose2d(in_chs, out_chs, 3, stride=2, padding=1, output_padding=1, bias=False)
        self.bn = nn.BatchNorm2d(out_chs)


def _stem_transpose(in_chs: int, out_chs: int) -> nn.Sequential:
    return nn.Sequential(
        _ConvTransposeNorm(in_chs, out_chs),
        nn.Hardswish(),
        _ConvTransposeNorm(out_chs, out_chs // 2),
        nn.Hardswish(),
    )


class MidasLevitNet(nn.Module):
    """``forward(x: (N, 3, 224, 224) normalised RGB) -> (N, 224, 224)`` relative inverse depth."""

    def __init__(self) -> None:
        super().__init__()
        backbone = timm.create_model("levit_384", pretrained=False, num_classes=0, img_size=INPUT_SIZE)
        last_stage, last_block = TAPS[-1]
        backbone.stages = backbone.stages[: last_stage + 1]
        backbone.stages[last_stage].blocks = backbone.stages[last_stage].blocks[: last_block + 1]
        backbone.head = nn.Identity()
        if hasattr(backbone, "head_dist"):
            backbone.head_dist = nn.Identity()
        self.backbone = backbone
        self.head = DPTHead(
            STAGE_CHANNELS,
            (FEATURES,) * 3,
            pre_head=_stem_transpose(FEATURES, FEATURES // 2),
            head_in=FEATURES // 4,
            head_features_2=8,
        )
        # timm caches attention_biases[:, idxs] at the first eval forward; new weights must not see it
        self.register_load_state_dict_post_hook(_clear_attention_bias_cache)

    def forward_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        if tuple(x.shape[-2:]) != (INPUT_SIZE, INPUT_SIZE):
            raise ValueError(f"dpt_levit_224 needs a {INPUT_SIZE}x{INPUT_SIZE} input, got {tuple(x.shape[-2:])}")
        x = self.backbone.stem(x)
        n, _, gh, gw = x.shape
        tokens = x.flatten(2).transpose(1, 2)
        features = []
        taps = dict(TAPS)
        for stage_index, stage in enumerate(self.backbone.stages):
            tokens = stage.downsample(tokens)
            if stage_index > 0:
                gh, gw = (gh - 1) // 2 + 1, (gw - 1) // 2 + 1
            for block_index, block in enumerate(stage.blocks):
                tokens = block(tokens)
                if taps.get(stage_index) == block_index:
                    features.append(tokens.transpose(1, 2).reshape(n, -1, gh, gw))
        return features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.forward_features(x)).squeeze(1)


def _clear_attention_bias_cache(module: nn.Module, incompatible_keys: object) -> None:
    for sub in module.modules():
        if isinstance(sub, (Attention, AttentionDownsample)):
            sub.attention_bias_cache = {}


_FLAT = re.compile(r"^pretrained\.model\.blocks\.(\d+)\.(.+)$")
_STEM = re.compile(r"^pretrained\.model\.patch_embed\.([0246])\.(c|bn)\.(.+)$")
_HEADS = re.compile(r"^pretrained\.model\.(head|head_dist)\.")
_NORM = {"c": "linear", "bn": "bn"}
# inner names, 0.6.12 -> timm 1.x, per kind of flat block
_INNER = {
    "attn": (
        (re.compile(r"^m\.qkv\.(c|bn)\.(.+)$"), "attn.qkv.{0}.{1}"),
        (re.compile(r"^m\.proj\.1\.(c|bn)\.(.+)$"), "attn.proj.ln.{0}.{1}"),
        (re.compile(r"^m\.(attention_biases)$"), "attn.{0}"),
    ),
    "down_attn": (
        (re.compile(r"^kv\.(c|bn)\.(.+)$"), "attn_downsample.kv.{0}.{1}"),
        (re.compile(r"^q\.1\.(c|bn)\.(.+)$"), "attn_downsample.q.ln.{0}.{1}"),
        (re.compile(r"^proj\.1\.(c|bn)\.(.+)$"), "attn_downsample.proj.ln.{0}.{1}"),
        (re.compile(r"^(attention_biases)$"), "attn_downsample.{0}"),
    ),
    "mlp": (
        (re.compile(r"^m\.0\.(c|bn)\.(.+)$"), "mlp.ln1.{0}.{1}"),
        (re.compile(r"^m\.2\.(c|bn)\.(.+)$"), "mlp.ln2.{0}.{1}"),
    ),
}
_INNER["down_mlp"] = _INNER["mlp"]


def remap_midas_levit(state_dict: Mapping[str, object], variant: DepthVariant | None = None) -> dict:
    """Official ``DPTDepthModel(backbone='levit_384')`` state dict -> ``MidasLevitNet`` names (pure).

    Drops the classifier heads, the flat blocks after the last hook (they never
    reach the output) and the constructed ``attention_bias_idxs`` tables; passes
    unknown names through unchanged so the strict load reports them.
    """
    out: dict = {}
    last_hook = HOOKS[-1]
    for name, value in state_dict.items():
        if name.endswith(".attention_bias_idxs") or _HEADS.match(name):
            continue
        m = _FLAT.match(name)
        if m and last_hook < int(m.group(1)) < len(_LAYOUT):
            continue
        out[_remap_key(name)] = value
    return out


def _remap_key(name: str) -> str:
    m = _STEM.match(name)
    if m:
        return f"backbone.stem.conv{int(m.group(1)) // 2 + 1}.{_NORM[m.group(2)]}.{m.group(3)}"
    m = _FLAT.match(name)
    if m and int(m.group(1)) < len(_LAYOUT):
        stage, kind, block = _LAYOUT[int(m.group(1))]
        for pattern, template in _INNER[kind]:
            inner = pattern.match(m.group(2))
            if inner:
                suffix = template.format(*(_NORM.get(g, g) for g in inner.groups()))
                if kind.startswith("down"):
                    return f"backbone.stages.{stage}.downsample.{suffix}"
                return f"backbone.stages.{stage}.blocks.{block}.{suffix}"
        return name
    head_name = remap_head_key(name)
    return name if head_name is None else head_name


def build_midas_levit(variant: DepthVariant) -> MidasLevitNet:
    return MidasLevitNet()
