"""The one DPT head shared by every DPT-style variant (Depth-Anything V1/V2, MiDaS).

Stable interface (the MiDaS small/Swin2/LeViT family modules build on it):

``Reassemble(in_dim, out_channels, resize, readout="ignore")``
    One level of "tokens -> image-like feature map": readout of the class token
    (``"ignore"``: drop it; ``"project"``: concat(token, cls) -> Linear(2D->D) + GELU),
    tokens -> (N, D, gh, gw) grid, 1x1 conv ``project`` to ``out_channels``, then
    ``resize``: ``"up4"`` (ConvTranspose 4x4/s4), ``"up2"`` (ConvTranspose 2x2/s2),
    ``"id"`` or ``"down2"`` (3x3/s2 conv, padding 1).
    ``forward(tokens (N, 1+gh*gw, D), grid=(gh, gw)) -> (N, C, H', W')``.

``DPTHead(rn_in_channels, rn_channels, *, pre_head=None, head_in=None, head_features_2=32,
          fusion_upsample="to_next", output_upsample="x2", output_align_corners=True)``
    ``layer_rn[i]``: 3x3 conv, no bias, ``rn_in_channels[i] -> rn_channels[i]``
    (official ``scratch.layer{i+1}_rn``). ``refine[i]`` is the official
    ``scratch.refinenet{i+1}``: a fusion block ``rn_channels[i] -> rn_channels[i-1]``
    (level 0 keeps its width; with equal widths this is plain DPT, with doubling
    widths it is MiDaS' ``expand=True``). 3 or 4 levels. The top level has no skip
    (its ``unit1`` exists, as in the released files, but is unused).
    Fusion upsampling, bilinear align_corners=True: ``"to_next"`` to the next level's
    size (DPT), or ``"x2"`` (MidasNet_small); level 0 always x2.
    ``pre_head``: optional module applied to the level-0 output (LeViT ``stem_transpose``),
    ``head_in``: its output width (default ``rn_channels[0]``).
    Output: ``conv1`` 3x3 head_in -> head_in//2, upsample (``"x2"`` or ``"input"`` =
    to the ``out_size`` given to forward; bilinear, ``output_align_corners``),
    ``conv2`` 3x3 -> ``head_features_2``, ReLU, ``conv3`` 1x1 -> 1, ReLU.
    ``forward(features: list of NCHW maps (level 0 = finest), out_size=None) -> (N, 1, H, W)``.

``remap_scratch_key(name) -> str | None``
    Pure name map for the part after the official ``scratch.`` prefix (both the
    MiDaS ``output_conv.{0,2,4}`` and the Depth-Anything ``output_conv1``/``output_conv2.{0,2}``
    spellings; ``stem_transpose.*`` -> ``pre_head.*``), relative to the head.
    None for a name that is not part of the head.
"""
from __future__ import annotations

import re
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

_RESIZES = ("up4", "up2", "id", "down2")


class Reassemble(nn.Module):
    def __init__(self, in_dim: int, out_channels: int, resize: str, readout: str = "ignore") -> None:
        super().__init__()
        if resize not in _RESIZES:
            raise ValueError(f"unknown resize {resize!r}")
        if readout not in ("ignore", "project"):
            raise ValueError(f"unknown readout {readout!r}")
        self.readout_kind = readout
        self.readout = nn.Sequential(nn.Linear(2 * in_dim, in_dim), nn.GELU()) if readout == "project" else None
        self.project = nn.Conv2d(in_dim, out_channels, kernel_size=1)
        if resize == "up4":
            self.resize: nn.Module = nn.ConvTranspose2d(out_channels, out_channels, kernel_size=4, stride=4)
        elif resize == "up2":
            self.resize = nn.ConvTranspose2d(out_channels, out_channels, kernel_size=2, stride=2)
        elif resize == "down2":
            self.resize = nn.Conv2d(out_channels, out_channels, kernel_size=3, stride=2, padding=1)
        else:
            self.resize = nn.Identity()

    def forward(self, tokens: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
        cls, patches = tokens[:, :1], tokens[:, 1:]
        if self.readout is not None:
            patches = self.readout(torch.cat([patches, cls.expand_as(patches)], dim=-1))
        n, _, d = patches.shape
        x = patches.transpose(1, 2).reshape(n, d, grid[0], grid[1])
        return self.resize(self.project(x))


class ResidualConvUnit(nn.Module):
    """x + conv2(relu(conv1(relu(x)))), 3x3 convs with bias."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, kernel_size=3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.relu(self.conv1(F.relu(x))))


class FusionBlock(nn.Module):
    def __init__(self, channels: int, out_channels: int) -> None:
        super().__init__()
        self.unit1 = ResidualConvUnit(channels)
        self.unit2 = ResidualConvUnit(channels)
        self.out_conv = nn.Conv2d(channels, out_channels, kernel_size=1)

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None, size: tuple[int, int] | None) -> torch.Tensor:
        if skip is not None:
            x = x + self.unit1(skip)
        x = self.unit2(x)
        if size is None:
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True)
        else:
            x = F.interpolate(x, size=size, mode="bilinear", align_corners=True)
        return self.out_conv(x)


class DPTHead(nn.Module):
    def __init__(
        self,
        rn_in_channels: Sequence[int],
        rn_channels: Sequence[int],
        *,
        pre_head: nn.Module | None = None,
        head_in: int | None = None,
        head_features_2: int = 32,
        fusion_upsample: str = "to_next",
        output_upsample: str = "x2",
        output_align_corners: bool = True,
    ) -> None:
        super().__init__()
        if len(rn_in_channels) != len(rn_channels) or len(rn_channels) not in (3, 4):
            raise ValueError("DPTHead needs 3 or 4 levels with matching channel lists")
        if fusion_upsample not in ("to_next", "x2") or output_upsample not in ("x2", "input"):
            raise ValueError("bad DPTHead upsampling option")
        self.layer_rn = nn.ModuleList(
            nn.Conv2d(cin, cout, kernel_size=3, padding=1, bias=False) for cin, cout in zip(rn_in_channels, rn_channels)
        )
        self.refine = nn.ModuleList(
            FusionBlock(rn_channels[i], rn_channels[max(i - 1, 0)]) for i in range(len(rn_channels))
        )
        self.pre_head = pre_head
        head_in = rn_channels[0] if head_in is None else head_in
        self.conv1 = nn.Conv2d(head_in, head_in // 2, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(head_in // 2, head_features_2, kernel_size=3, padding=1)
        self.conv3 = nn.Conv2d(head_features_2, 1, kernel_size=1)
        self.fusion_upsample = fusion_upsample
        self.output_upsample = output_upsample
        self.output_align_corners = output_align_corners

    def forward(self, features: Sequence[torch.Tensor], out_size: tuple[int, int] | None = None) -> torch.Tensor:
        rn = [conv(f) for conv, f in zip(self.layer_rn, features)]
        top = len(rn) - 1
        path: torch.Tensor | None = None
        for i in range(top, -1, -1):
            size = None if (i == 0 or self.fusion_upsample == "x2") else tuple(rn[i - 1].shape[2:])
            if path is None:
                path = self.refine[i](rn[i], None, size)
            else:
                path = self.refine[i](path, rn[i], size)
        assert path is not None
        if self.pre_head is not None:
            path = self.pre_head(path)
        out = self.conv1(path)
        if self.output_upsample == "input":
            if out_size is None:
                raise ValueError("output_upsample='input' needs out_size")
            out = F.interpolate(out, size=out_size, mode="bilinear", align_corners=self.output_align_corners)
        else:
            out = F.interpolate(out, scale_factor=2, mode="bilinear", align_corners=self.output_align_corners)
        out = F.relu(self.conv2(out))
        return F.relu(self.conv3(out))


_SCRATCH_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^layer(\d)_rn\.(.+)$"), "layer_rn.{0}.{1}"),
    (re.compile(r"^refinenet(\d)\.resConfUnit(\d)\.(.+)$"), "refine.{0}.unit{1}.{2}"),
    (re.compile(r"^refinenet(\d)\.out_conv\.(.+)$"), "refine.{0}.out_conv.{1}"),
    (re.compile(r"^output_conv\.0\.(.+)$"), "conv1.{0}"),
    (re.compile(r"^output_conv\.2\.(.+)$"), "conv2.{0}"),
    (re.compile(r"^output_conv\.4\.(.+)$"), "conv3.{0}"),
    (re.compile(r"^output_conv1\.(.+)$"), "conv1.{0}"),
    (re.compile(r"^output_conv2\.0\.(.+)$"), "conv2.{0}"),
    (re.compile(r"^output_conv2\.2\.(.+)$"), "conv3.{0}"),
    (re.compile(r"^stem_transpose\.(.+)$"), "pre_head.{0}"),
)


def remap_head_key(name: str, prefix: str = "scratch.", into: str = "head.") -> str | None:
    """Official full name under ``prefix`` -> our name under ``into`` (None if it is not a head tensor)."""
    if not name.startswith(prefix):
        return None
    mapped = remap_scratch_key(name[len(prefix):])
    return None if mapped is None else into + mapped


def remap_scratch_key(name: str) -> str | None:
    """Official ``scratch.``-relative name -> our DPTHead-relative name (None if not head)."""
    for pattern, template in _SCRATCH_PATTERNS:
        m = pattern.match(name)
        if m:
            groups = list(m.groups())
            if template.startswith(("layer_rn", "refine")):
                groups[0] = str(int(groups[0]) - 1)  # official levels count from 1
            return template.format(*groups)
    return None
