"""One loaded exported graph per runtime: ``session(x)`` maps a (1, 3, h, w) float32 array to (1, h', w').

``open_session(runtime, path, device, threads, precision="auto", keep_compiled=False)``: an ONNX Runtime
``InferenceSession`` or an OpenVINO compiled model, built once and called per frame. ``.precision``
is the precision the runtime really computes in ("fp32", "bf16", "fp16"). ``keep_compiled``: OpenVINO's
compiled model is kept beside the (cached) graph and imported next time (``compiled_blob.py``).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..errors import ModelError, UsageError

_OV_PRECISIONS = {"fp32": "f32", "bf16": "bf16", "fp16": "f16"}


class OnnxRuntimeSession:
    def __init__(self, path: Path, device: torch.device, threads: int, precision: str = "auto") -> None:
        import onnxruntime as ort

        if precision not in ("auto", "fp32"):
            raise UsageError(f"onnxruntime runs the exported float32 graph; precision {precision!r} is not offered")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # errors only: its warnings would reach the user's terminal
        if device.type == "cuda":
            if "CUDAExecutionProvider" not in ort.get_available_providers():
                raise UsageError("this onnxruntime has no CUDA provider; use --device cpu or --runtime torch")
            providers = ["CUDAExecutionProvider"]
        elif device.type == "cpu":
            providers = ["CPUExecutionProvider"]
        else:
            raise UsageError(f"onnxruntime does not run on {device.type}; use --runtime torch")
        self._session = ort.InferenceSession(str(path), options, providers=providers)
        self._input = self._session.get_inputs()[0].name
        self.precision = "fp32"

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self._session.run(None, {self._input: np.ascontiguousarray(x, dtype=np.float32)})[0]


class OpenVinoSession:
    def __init__(self, path: Path, device: torch.device, threads: int, precision: str = "auto",
                 keep_compiled: bool = False) -> None:
        import openvino as ov

        if device.type != "cpu":
            raise UsageError(f"openvino runs depth on the CPU here, not {device.type}; use --device cpu")
        config: dict[str, object] = {"INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY"}
        if precision != "auto":
            if precision not in _OV_PRECISIONS:
                raise UsageError(f"unknown precision {precision!r}; use auto, fp32, fp16 or bf16")
            config["INFERENCE_PRECISION_HINT"] = _OV_PRECISIONS[precision]
        core = ov.Core()
        if keep_compiled:
            from .compiled_blob import compile_cached

            self._compiled = compile_cached(core, Path(path), config)
        else:
            self._compiled = core.compile_model(str(path), "CPU", config)
        self.precision = effective_precision(self._compiled.get_property("INFERENCE_PRECISION_HINT"))
        self._request = self._compiled.create_infer_request()

    def __call__(self, x: np.ndarray) -> np.ndarray:
        result = self._request.infer([np.ascontiguousarray(x, dtype=np.float32)])
        return np.array(next(iter(result.values())), copy=True)


def effective_precision(hint: object) -> str:
    """Our name ("fp32", "bf16", "fp16") of the element type OpenVINO reports it computes in. Its ``str`` is
    "<Type: 'bfloat16'>", which holds none of the short names: read it as the short name (``get_type_name``).
    OpenVINO picks bf16 by itself on CPUs with AVX512_BF16 or AMX."""
    name = hint.get_type_name() if hasattr(hint, "get_type_name") else str(hint)
    for ours, theirs in _OV_PRECISIONS.items():
        if name == theirs:
            return ours
    raise ModelError(f"OpenVINO computes in {name!r}, a precision vidbokeh has no tolerance for")


def open_session(runtime: str, path: Path, device: torch.device, threads: int, precision: str = "auto",
                 keep_compiled: bool = False):
    if runtime == "openvino":
        return OpenVinoSession(path, device, threads, precision, keep_compiled=keep_compiled)
    return OnnxRuntimeSession(path, device, threads, precision)
