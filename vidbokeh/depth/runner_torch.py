"""Runs a depth network with torch: the device it lives on, its precision and memory format.

``resolve_device(device) -> torch.device``: "cpu" | "cuda" | "mps" | "auto" (checked).
``TorchRunner(net, device="cpu", precision="auto", channels_last=None)``: moves ``net`` once;
``runner(x)`` takes the preprocessed batch ``(N, 3, h, w)`` float32 (a numpy array, or a tensor on any
device: the device frame path preprocesses where the frame already is) and returns the network output
``(N, h', w')`` as a float32 tensor on the runner's device (upsampling follows there).
``precision``: "auto" (fp16 autocast on CUDA, float32 elsewhere) | "fp32" | "fp16" | "bf16".
"""
from __future__ import annotations

import contextlib
from typing import Iterator

import numpy as np
import torch
from torch import nn

from ..errors import UsageError

PRECISIONS = {"fp32": None, "fp16": torch.float16, "bf16": torch.bfloat16}


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


class TorchRunner:
    runtime = "torch"
    takes_tensors = True  # the batch may be a tensor already on the device (no host round trip)

    def __init__(
        self,
        net: nn.Module,
        device: str | torch.device = "cpu",
        precision: str = "auto",
        channels_last: bool | None = None,
    ) -> None:
        self.device = resolve_device(device)
        if precision == "auto":
            precision = "fp16" if self.device.type == "cuda" else "fp32"
        if precision not in PRECISIONS:
            raise UsageError(f"unknown precision {precision!r}; use auto, fp32, fp16 or bf16")
        self.precision = precision
        # channels_last stays opt-in: on an H200 it made the MiDaS DPT nets 10-30 % slower and the small
        # net no faster (docs/benchmarks.md).
        self.channels_last = bool(channels_last)
        net = net.eval().to(self.device)  # moved once, here
        if self.channels_last:
            net = net.to(memory_format=torch.channels_last)
        self.net = net

    @contextlib.contextmanager
    def _autocast(self) -> Iterator[None]:
        dtype = PRECISIONS[self.precision]
        if dtype is None:
            # fp32 means fp32: cuDNN's default TF32 convolutions put the MiDaS convnets 1.5e-3 off the
            # official outputs (measured on an H200), past the conformance tolerance.
            with torch.backends.cudnn.flags(enabled=torch.backends.cudnn.enabled, allow_tf32=False):
                yield
        else:
            with torch.autocast(device_type=self.device.type, dtype=dtype):
                yield

    def __call__(self, inputs: np.ndarray | torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            x = inputs if isinstance(inputs, torch.Tensor) else torch.from_numpy(inputs)
            x = x.to(self.device)
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with self._autocast():
                depth = self.net(x)
            return depth.float()
