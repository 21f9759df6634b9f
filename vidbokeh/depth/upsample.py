"""The network output brought back to the image size, by the variant's official rule.

``upsample_tensor(depth, size, rule) -> torch.Tensor``: ``(N, h', w')`` tensor (on any device) ->
``(N, H, W)`` float32 tensor on the same device (the torch frame path takes it from there).
``upsample(depth, size, rule) -> np.ndarray``: the same, brought to the host.
``rule`` is a registry ``UPSAMPLE_RULES`` entry. Runs in torch on the tensor's device, for every
runtime, so each runtime's output is upsampled identically.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

_MODES = {
    "bilinear_align_corners": ("bilinear", True),
    "bilinear": ("bilinear", False),
    "bicubic": ("bicubic", False),
}


def upsample_tensor(depth: torch.Tensor, size: tuple[int, int], rule: str) -> torch.Tensor:
    try:
        mode, align = _MODES[rule]
    except KeyError:
        raise ValueError(f"unknown upsample rule {rule!r}") from None
    with torch.inference_mode():
        x = F.interpolate(depth.float().unsqueeze(1), size=tuple(size), mode=mode, align_corners=align)
        return x.squeeze(1)


def upsample(depth: torch.Tensor, size: tuple[int, int], rule: str) -> np.ndarray:
    return upsample_tensor(depth, size, rule).cpu().numpy().astype(np.float32, copy=False)
