"""The depth-model wrapper: official end-to-end inference for any registered variant.

``create_depth_model(name, weights=None, device="auto", precision="auto") -> DepthModel``
    ``weights``: None = the verified file from the weight store (downloaded when missing and
    allowed), or a path to a released checkpoint. ``device``: "cpu" | "cuda" | "mps" | "auto".
    ``precision``: "auto" (fp16 autocast on CUDA, float32 elsewhere) | "fp32" | "fp16" | "bf16".
``random_depth_model(name, device="cpu", seed=0, precision="auto", channels_last=None) -> DepthModel``
    randomly initialised weights: for tests and speed benchmarks only, never a fallback.

``DepthModel``: ``.variant`` (DepthVariant), ``.device`` (torch.device), ``.net`` (nn.Module,
``forward((N,3,H,W) normalized) -> (N,H',W')``), ``.num_params``;
``predict(rgb, input_size=None) -> (H, W) float32``;
``predict_batch(rgbs, input_size=None, max_batch=8) -> list of (H, W) float32``;
``net_input(rgb, input_size=None) -> (3, h, w) float32`` (the preprocessed image).
Output: relative inverse depth (larger = nearer), no min-max normalisation.
"""
from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import UsageError, WeightsMismatchError, WeightsNotFoundError
from .loading import build_net, load_weights, read_checkpoint
from .registry import DepthVariant, all_variants, get_variant
from .transforms import check_rgb, preprocess

_PRECISIONS = {"fp32": None, "fp16": torch.float16, "bf16": torch.bfloat16}


def list_depth_models() -> list[str]:
    """Registered variant names, sorted."""
    return [v.name for v in all_variants()]


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    name = str(device)
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(name)
    except RuntimeError as exc:
        raise UsageError(f"unknown device {name!r}; use cpu, cuda, mps or auto") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise UsageError("device 'cuda' requested but no CUDA GPU is available (use --device cpu or auto)")
    if dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise UsageError("device 'mps' requested but MPS is not available (use --device cpu or auto)")
    if dev.type not in ("cpu", "cuda", "mps"):
        raise UsageError(f"unsupported device {name!r}; use cpu, cuda, mps or auto")
    return dev


def remote_file(variant: DepthVariant):
    """The weight-store record of a variant's released file."""
    from ..store import RemoteFile

    filename = variant.url.rsplit("/", 1)[-1].split("?", 1)[0]
    return RemoteFile(name=variant.name, url=variant.url, sha256=variant.sha256, filename=filename)


class DepthModel:
    def __init__(
        self,
        variant: DepthVariant,
        net: nn.Module,
        device: str | torch.device = "cpu",
        precision: str = "auto",
        channels_last: bool | None = None,
    ) -> None:
        self.variant = variant
        self.device = resolve_device(device)
        if precision == "auto":
            precision = "fp16" if self.device.type == "cuda" else "fp32"
        if precision not in _PRECISIONS:
            raise UsageError(f"unknown precision {precision!r}; use auto, fp32, fp16 or bf16")
        self.precision = precision
        if channels_last is None:
            # Measured on an H200 (tools/bench_depth.py, fp16, batch 1): channels_last made the
            # MiDaS DPT nets 10-30 % slower and the small net no faster, so it stays opt-in.
            channels_last = False
        self.channels_last = channels_last
        net = net.eval().to(self.device)  # moved once, here
        if channels_last:
            net = net.to(memory_format=torch.channels_last)
        self.net = net
        self.num_params = sum(p.numel() for p in net.parameters())

    def __repr__(self) -> str:
        return f"DepthModel({self.variant.name!r}, device={str(self.device)!r}, precision={self.precision!r})"

    def net_input(self, rgb: np.ndarray, input_size: int | None = None) -> np.ndarray:
        return preprocess(rgb, self.variant, input_size)

    @contextlib.contextmanager
    def _autocast(self) -> Iterator[None]:
        dtype = _PRECISIONS[self.precision]
        if dtype is None:
            # fp32 means fp32: cuDNN's default TF32 convolutions put the MiDaS convnets 1.5e-3 off the
            # official outputs (measured on an H200), past the conformance tolerance.
            with torch.backends.cudnn.flags(enabled=torch.backends.cudnn.enabled, allow_tf32=False):
                yield
        else:
            with torch.autocast(device_type=self.device.type, dtype=dtype):
                yield

    def _upsample(self, depth: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        rule = self.variant.upsample
        x = depth.float().unsqueeze(1)
        if rule == "bilinear_align_corners":
            x = F.interpolate(x, size=size, mode="bilinear", align_corners=True)
        elif rule == "bilinear":
            x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
        elif rule == "bicubic":
            x = F.interpolate(x, size=size, mode="bicubic", align_corners=False)
        else:
            raise ValueError(f"unknown upsample rule {rule!r}")
        return x.squeeze(1)

    def _run(self, inputs: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        with torch.inference_mode():
            x = torch.from_numpy(inputs).to(self.device)
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with self._autocast():
                depth = self.net(x)
            out = self._upsample(depth, size)
            return out.cpu().numpy().astype(np.float32, copy=False)

    def predict(self, rgb: np.ndarray, input_size: int | None = None) -> np.ndarray:
        """HxWx3 uint8 RGB -> HxW float32 relative inverse depth at the image size."""
        check_rgb(rgb)
        x = self.net_input(rgb, input_size)[None]
        return self._run(x, rgb.shape[:2])[0]

    def predict_batch(
        self, rgbs: Sequence[np.ndarray], input_size: int | None = None, max_batch: int = 8
    ) -> list[np.ndarray]:
        """Like ``predict`` for each image; images of equal size run as one batch."""
        if max_batch < 1:
            raise UsageError("max_batch must be >= 1")
        groups: dict[tuple[int, int], list[int]] = {}
        for i, rgb in enumerate(rgbs):
            check_rgb(rgb)
            groups.setdefault(rgb.shape[:2], []).append(i)
        results: list[np.ndarray | None] = [None] * len(rgbs)
        for size, idx in groups.items():
            for start in range(0, len(idx), max_batch):
                chunk = idx[start : start + max_batch]
                x = np.stack([self.net_input(rgbs[i], input_size) for i in chunk])
                for i, d in zip(chunk, self._run(x, size)):
                    results[i] = d
        return [r for r in results if r is not None]


def create_depth_model(
    name: str,
    weights: str | os.PathLike[str] | None = None,
    device: str | torch.device = "auto",
    precision: str = "auto",
) -> DepthModel:
    """The named variant with its released weights (store/download, or a given file)."""
    variant = get_variant(name)
    device = resolve_device(device)  # fail on a bad device before reading any weights
    if weights is None:
        from ..store import fetch

        path = fetch(remote_file(variant))
    else:
        path = Path(weights)
        if not path.is_file():
            raise WeightsNotFoundError(f"weights file {path} not found (given for {name})")
    try:
        state = read_checkpoint(path)
        net = load_weights(variant, state, str(path))
    except WeightsMismatchError as exc:
        if "--model" in str(exc):  # another variant's file: the line already says what to do
            raise
        if weights is None:
            todo = f"delete it and run `vidbokeh models fetch {name}`, or pass a good file with --weights"
        else:
            todo = f"pass a good {name} file with --weights (or leave --weights out: `vidbokeh models fetch {name}`)"
        raise WeightsMismatchError(f"{exc}; {todo}") from exc
    return DepthModel(variant, net, device=device, precision=precision)


def random_depth_model(
    name: str,
    device: str | torch.device = "cpu",
    seed: int = 0,
    precision: str = "auto",
    channels_last: bool | None = None,
) -> DepthModel:
    """The named architecture with random weights (tests/benchmarks only)."""
    variant = get_variant(name)
    dev = resolve_device(device)
    torch.manual_seed(seed)
    net = build_net(variant, dev)  # initialised where it runs (fast on a GPU)
    return DepthModel(variant, net, device=dev, precision=precision, channels_last=channels_last)
