"""The depth inference runtimes: what each one is, whether it is installed, how close it must stay to torch.

Torch-free (the CLI takes its choices from here). ``RUNTIMES``: "auto" plus every runtime;
``installed(name)``, ``version(name)``; ``require(name)`` raises a one-line ``UsageError`` naming the
pip extra when a runtime asked for by name is missing; ``tolerance(runtime, precision)``: the largest
relative error (max |out - torch| / max |torch|) an exported graph may have against the torch network
before it is refused (measured figures in docs/benchmarks.md).
"""
from __future__ import annotations

import importlib.metadata
import importlib.util
from dataclasses import dataclass

from ..errors import UsageError


@dataclass(frozen=True)
class Runtime:
    name: str
    module: str  # the import that proves it is installed
    distribution: str  # its package on PyPI (for the version)
    extra: str  # vidbokeh's optional extra that installs it
    exported: bool  # runs a graph exported from the torch network


TORCH = Runtime("torch", "torch", "torch", "", exported=False)
ONNXRUNTIME = Runtime("onnxruntime", "onnxruntime", "onnxruntime", "onnx", exported=True)
OPENVINO = Runtime("openvino", "openvino", "openvino", "openvino", exported=True)
_TABLE = {r.name: r for r in (TORCH, ONNXRUNTIME, OPENVINO)}
RUNTIMES: tuple[str, ...] = ("auto", *_TABLE)
# Exporting needs torch.onnx's dynamo exporter, which needs these two.
EXPORTER_MODULES = ("onnx", "onnxscript")

# Relative error allowed against the torch network, per runtime and effective precision. Measured on the
# synthetic-weight variants (tests/depth/test_depth_runtimes.py): fp32 graphs stay within ~3e-6 of torch
# (ONNX Runtime and OpenVINO alike); 1e-4 is the conformance tolerance of the reference vectors. Reduced
# precisions follow the torch autocast figures of tools/check_depth_device.py.
_TOLERANCES = {"fp32": 1e-4, "bf16": 3e-2, "fp16": 1e-2}


def get_runtime(name: str) -> Runtime:
    try:
        return _TABLE[name]
    except KeyError:
        raise UsageError(f"unknown depth runtime {name!r}; choose one of: {', '.join(RUNTIMES)}") from None


def installed(name: str) -> bool:
    rt = get_runtime(name)
    modules = (rt.module, *EXPORTER_MODULES) if rt.exported else (rt.module,)
    return all(importlib.util.find_spec(m) is not None for m in modules)


def version(name: str) -> str:
    return importlib.metadata.version(get_runtime(name).distribution)


def require(name: str) -> Runtime:
    """The runtime, or a one-line UsageError naming the extra that installs it."""
    rt = get_runtime(name)
    if not installed(name):
        raise UsageError(f"depth runtime {name!r} is not installed: pip install 'vidbokeh[{rt.extra}]'")
    return rt


def tolerance(runtime: str, precision: str) -> float:
    get_runtime(runtime)
    try:
        return _TOLERANCES[precision]
    except KeyError:
        raise UsageError(f"no tolerance for precision {precision!r}; use fp32, fp16 or bf16") from None
