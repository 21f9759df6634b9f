"""The depth model: preprocessing, a runner, upsampling; official end-to-end inference for any variant.

``create_depth_model(name, weights=None, device="auto", precision="auto", runtime="torch") -> DepthModel``
    ``weights``: None = the verified file from the weight store (downloaded when missing and
    allowed), or a path to a released checkpoint. ``device``: "cpu" | "cuda" | "mps" | "auto".
    ``precision``: "auto" (torch: fp16 autocast on CUDA, float32 elsewhere; exported runtimes: their
    default) | "fp32" | "fp16" | "bf16". ``runtime``: "torch" | "onnxruntime" | "openvino" | "auto"
    (the fastest installed one, measured; see ``runner_exported``).
``random_depth_model(name, device="cpu", seed=0, precision="auto", channels_last=None) -> DepthModel``
    randomly initialised weights: for tests and speed benchmarks only, never a fallback.

``DepthModel(variant, runner)``: ``.variant`` (DepthVariant), ``.runner`` (``runner(x: (N,3,h,w)
float32) -> (N,h',w')`` tensor: ``TorchRunner`` or ``ExportedRunner``; ``.runner.runtime`` names the
runtime in use), ``.device``, ``.net`` (the torch network),
``.num_params``; ``predict(rgb, input_size=None) -> (H, W) float32``;
``predict_batch(rgbs, input_size=None, max_batch=8) -> list of (H, W) float32``;
``predict_tensors(frames, input_size=None, max_batch=8) -> list of (H, W) float32 tensors`` on the
model's device: frames given as uint8 tensors are preprocessed where they are (no host round trip), and
the maps stay on the device, upsampled there (the torch frame path takes them as they are);
``net_input(rgb, input_size=None) -> (3, h, w) float32`` (the preprocessed image).
Output: relative inverse depth (larger = nearer), no min-max normalisation.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np
import torch

from ..errors import InputError, UsageError, WeightsMismatchError, WeightsNotFoundError
from .loading import build_net, load_weights, read_checkpoint
from .registry import DepthVariant, get_variant, remote_file
from .runner_torch import TorchRunner, resolve_device
from .runtimes import require

if TYPE_CHECKING:
    from .runner_exported import ExportedRunner

from .transforms import check_rgb, preprocess, preprocess_tensor
from .upsample import upsample_tensor

log = logging.getLogger(__name__)


class DepthModel:
    def __init__(self, variant: DepthVariant, runner: TorchRunner | ExportedRunner) -> None:
        self.variant = variant
        self.runner = runner
        self.num_params = variant.params

    def __repr__(self) -> str:
        return (f"DepthModel({self.variant.name!r}, runtime={self.runner.runtime!r}, device={str(self.device)!r}, "
                f"precision={self.runner.precision!r})")

    @property
    def device(self) -> torch.device:
        return self.runner.device

    @property
    def net(self) -> torch.nn.Module:
        return self.runner.net

    def net_input(self, rgb: np.ndarray, input_size: int | None = None) -> np.ndarray:
        return preprocess(rgb, self.variant, input_size)

    def _inputs(self, frames: list, input_size: int | None) -> np.ndarray | torch.Tensor:
        """The network input of frames of one size: on the model's device from device frames (float32),
        on the host (OpenCV, float32) from numpy ones; handed to a runner that takes host arrays as one."""
        if isinstance(frames[0], torch.Tensor):
            x = preprocess_tensor(torch.stack([f.to(self.device) for f in frames]), self.variant, input_size)
            return x if getattr(self.runner, "takes_tensors", False) else x.cpu().numpy()
        return np.stack([self.net_input(f, input_size) for f in frames])

    def predict(self, rgb: np.ndarray, input_size: int | None = None) -> np.ndarray:
        """HxWx3 uint8 RGB -> HxW float32 relative inverse depth at the image size."""
        return self.predict_batch([rgb], input_size)[0]

    def predict_batch(
        self, rgbs: Sequence[np.ndarray], input_size: int | None = None, max_batch: int = 8
    ) -> list[np.ndarray]:
        """Like ``predict`` for each image; images of equal size run as one batch."""
        return [d.cpu().numpy() for d in self.predict_tensors(rgbs, input_size, max_batch)]

    def predict_tensors(
        self, frames: Sequence[np.ndarray | torch.Tensor], input_size: int | None = None, max_batch: int = 8
    ) -> list[torch.Tensor]:
        """HxWx3 uint8 frames (numpy, or tensors on any device) -> HxW float32 maps on the model's device.

        Frames of equal size run as one batch (at most ``max_batch``)."""
        if max_batch < 1:
            raise UsageError("max_batch must be >= 1")
        groups: dict[tuple[int, int], list[int]] = {}
        for i, frame in enumerate(frames):
            _check_frame(frame)
            groups.setdefault(tuple(frame.shape[:2]), []).append(i)
        results: list[torch.Tensor | None] = [None] * len(frames)
        for size, idx in groups.items():
            for start in range(0, len(idx), max_batch):
                chunk = idx[start : start + max_batch]
                maps = upsample_tensor(self.runner(self._inputs([frames[i] for i in chunk], input_size)), size,
                                       self.variant.upsample)
                for i, d in zip(chunk, maps):
                    results[i] = d
        return [r for r in results if r is not None]


def _check_frame(frame: np.ndarray | torch.Tensor) -> None:
    if not isinstance(frame, torch.Tensor):
        check_rgb(frame)
    elif frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != torch.uint8 or frame.numel() == 0:
        raise InputError(f"expected an HxWx3 uint8 RGB frame, got {tuple(frame.shape)} {frame.dtype}")


def load_net(name: str, weights: str | os.PathLike[str] | None = None) -> torch.nn.Module:
    """The named variant's network with its released weights (store/download, or a given file), on the CPU."""
    variant = get_variant(name)
    if weights is None:
        from ..store import fetch

        path = fetch(remote_file(variant))
    else:
        path = Path(weights)
        if not path.is_file():
            raise WeightsNotFoundError(f"weights file {path} not found (given for {name})")
    try:
        state = read_checkpoint(path)
        return load_weights(variant, state, str(path))
    except WeightsMismatchError as exc:
        if exc.looks_like:  # another variant's file: the front end says how to load it as that
            raise
        if weights is None:
            todo = f"delete it and run `vidbokeh models fetch {name}`, or pass a good file with --weights"
        else:
            todo = f"pass a good {name} file with --weights (or leave --weights out: `vidbokeh models fetch {name}`)"
        raise WeightsMismatchError(f"{exc}; {todo}") from exc


def create_depth_model(
    name: str,
    weights: str | os.PathLike[str] | None = None,
    device: str | torch.device = "auto",
    precision: str = "auto",
    runtime: str = "torch",
) -> DepthModel:
    """The named variant with its released weights (store/download, or a given file)."""
    variant = get_variant(name)
    device = resolve_device(device)  # fail on a bad device before reading any weights
    if runtime != "auto":
        require(runtime)  # unknown, or asked for by name and missing: one line naming the extra
    net = load_net(name, weights)
    return DepthModel(variant, make_runner(net, variant, runtime, device, precision))


def make_runner(net: torch.nn.Module, variant: DepthVariant, runtime: str, device: torch.device,
                precision: str = "auto") -> TorchRunner | ExportedRunner:
    """The runner of ``runtime`` for a loaded network; ``auto`` with nothing else installed is torch."""
    if runtime == "torch":
        return TorchRunner(net, device=device, precision=precision)
    from .runner_exported import ExportedRunner, candidates

    if runtime == "auto" and not candidates(device):
        log.info("depth runtime auto: torch (no other runtime installed for %s: pip install 'vidbokeh[runtimes]')",
                 device.type)
        return TorchRunner(net, device=device, precision=precision)
    return ExportedRunner(net, variant, runtime, device, precision)


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
    return DepthModel(variant, TorchRunner(net, device=dev, precision=precision, channels_last=channels_last))
