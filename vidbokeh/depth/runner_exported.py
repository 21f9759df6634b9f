"""Runs a depth network through an exported graph (ONNX Runtime, OpenVINO), or chooses the fastest runtime.

``ExportedRunner(net, variant, runtime, device, precision="auto")``: ``runner(x)`` like ``TorchRunner``
((N, 3, h, w) float32 -> (N, h', w') tensor). Graphs have static shapes, so each network input shape gets
its own graph, taken from the cache (``export.py``) or exported, verified against the torch network and
cached on first use. ``runtime="auto"``: per input shape, every installed runtime that runs on the device
is timed against torch once (the choice is cached in ``<store>/exported/choices.json``) and the fastest is
used; one that fails to export or to match torch is left out, saying so. A runtime named explicitly that
cannot run the graph is a one-line ``GraphExportError``.
"""
from __future__ import annotations

import json
import logging
import statistics
import time

import numpy as np
import torch

from .. import store
from . import runtimes
from .export import GraphExportError, GraphKey, build_graph, cached_graph, weights_digest
from .registry import DepthVariant
from .runner_torch import TorchRunner
from .sessions import open_session

log = logging.getLogger(__name__)
_TIMED_RUNS = 3


def candidates(device: torch.device) -> list[str]:
    """Installed exported runtimes that run on ``device`` (checked without loading them)."""
    found = []
    if runtimes.installed("onnxruntime"):
        if device.type == "cpu":
            found.append("onnxruntime")
        elif device.type == "cuda":
            import onnxruntime as ort

            if "CUDAExecutionProvider" in ort.get_available_providers():
                found.append("onnxruntime")
    if device.type == "cpu" and runtimes.installed("openvino"):
        found.append("openvino")
    return found


def relative_error(out: np.ndarray, ref: np.ndarray) -> float:
    if out.shape != ref.shape:
        return float("inf")
    return float(np.abs(out.astype(np.float64) - ref).max() / max(float(np.abs(ref).max()), 1e-12))


class ExportedRunner:
    def __init__(self, net: torch.nn.Module, variant: DepthVariant, runtime: str, device: torch.device,
                 precision: str = "auto") -> None:
        if runtime != "auto":
            runtimes.require(runtime)
        self.variant = variant
        self.requested = runtime
        self.torch = TorchRunner(net, device=device, precision="auto" if runtime == "auto" else "fp32")
        self.device = self.torch.device
        self.net = self.torch.net
        self.precision_request = precision
        self._digest: str | None = None
        self._by_shape: dict[tuple[int, int], tuple[str, object]] = {}  # shape -> (runtime, session or None)
        self.runtime = runtime  # the runtime of the latest shape (what the user sees)
        self.precision = "fp32"

    @property
    def digest(self) -> str:
        if self._digest is None:
            self._digest = weights_digest(self.net)
        return self._digest

    def __call__(self, inputs: np.ndarray) -> torch.Tensor:
        shape = (int(inputs.shape[2]), int(inputs.shape[3]))
        if shape not in self._by_shape:
            self._by_shape[shape] = self._prepare(shape)
        self.runtime, session = self._by_shape[shape]
        if session is None:
            return self.torch(inputs)
        out = np.concatenate([session(inputs[i : i + 1]) for i in range(len(inputs))])
        return torch.from_numpy(out).to(self.device)

    # ---- one shape ---------------------------------------------------------------------------------

    def _threads(self) -> int:
        return max(1, torch.get_num_threads())

    def graph_key(self, runtime: str, shape: tuple[int, int]) -> GraphKey:
        return GraphKey(self.variant.name, self.digest, shape, runtime, runtimes.version(runtime))

    def session(self, runtime: str, shape: tuple[int, int]):
        """The verified session of ``runtime`` for ``shape`` (built and cached on first use)."""
        key = self.graph_key(runtime, shape)
        path = cached_graph(key)
        if path is None:
            log.info("exporting %s for %s at %dx%d (once; cached in %s)", self.variant.name, runtime, *shape,
                     key.folder().parent)
            path = build_graph(self.net, key, lambda graph: self._verify(runtime, graph, shape))
        session = open_session(runtime, path, self.device, self._threads(), self.precision_request, keep_compiled=True)
        self.precision = session.precision
        return session

    def _probe(self, shape: tuple[int, int]) -> np.ndarray:
        return np.random.default_rng(0).standard_normal((1, 3, *shape)).astype(np.float32)

    def _verify(self, runtime: str, graph, shape: tuple[int, int]) -> float:
        # OpenVINO keeps what it compiled here beside the graph being built: the entry's first session imports it
        session = open_session(runtime, graph, self.device, self._threads(), self.precision_request, keep_compiled=True)
        x = self._probe(shape)
        with torch.inference_mode():  # the float32 network, whatever precision the torch runner uses
            ref = self.net(torch.from_numpy(x).to(self.device)).float().cpu().numpy()
        error = relative_error(session(x), ref)
        allowed = runtimes.tolerance(runtime, session.precision)
        if not error <= allowed:
            raise GraphExportError(
                f"{self.variant.name} at {shape[0]}x{shape[1]} on {runtime} ({session.precision}) is "
                f"{error:.1e} off the torch network (tolerance {allowed:.0e})"
            )
        return error

    def _prepare(self, shape: tuple[int, int]) -> tuple[str, object]:
        if self.requested != "auto":
            return self.requested, self.session(self.requested, shape)
        choice = _load_choice(self._choice_key(shape))
        if choice == "torch":
            log.info("depth runtime auto: torch for %s at %dx%d (measured before)", self.variant.name, *shape)
            return "torch", None
        if choice in candidates(self.device):
            try:
                session = self.session(choice, shape)
                log.info("depth runtime auto: %s for %s at %dx%d (measured before)", choice, self.variant.name, *shape)
                return choice, session
            except (GraphExportError, OSError, RuntimeError) as exc:
                log.warning("depth runtime %s: %s; measuring again", choice, " ".join(str(exc).split())[:200])
        sessions: dict[str, object] = {}
        for runtime in candidates(self.device):
            try:
                sessions[runtime] = self.session(runtime, shape)
            except (GraphExportError, OSError, RuntimeError) as exc:
                log.warning("depth runtime %s: %s; staying on the others", runtime, " ".join(str(exc).split())[:200])
        choice = self._measure(shape, sessions)
        log.info("depth runtime auto: %s for %s at %dx%d", choice, self.variant.name, *shape)
        return choice, sessions.get(choice)

    def _measure(self, shape: tuple[int, int], sessions: dict[str, object]) -> str:
        x = self._probe(shape)
        timings = {"torch": _median_ms(lambda: self.torch(x))}
        for runtime, session in sessions.items():
            timings[runtime] = _median_ms(lambda s=session: s(x))
        choice = min(timings, key=timings.__getitem__)
        log.info("depth runtimes measured for %s at %dx%d: %s", self.variant.name, *shape,
                 ", ".join(f"{k} {v:.0f} ms" for k, v in timings.items()))
        _save_choice(self._choice_key(shape), choice, timings)
        return choice

    def _choice_key(self, shape: tuple[int, int]) -> str:
        versions = ",".join(f"{r}={runtimes.version(r)}" for r in ("torch", *candidates(self.device)))
        return f"{self.variant.name}|{self.digest[:16]}|{shape[0]}x{shape[1]}|{self.device}|{self._threads()}|{versions}"


def _median_ms(fn) -> float:
    fn()  # warm-up (first-call allocations, lazy kernels)
    times = []
    for _ in range(_TIMED_RUNS):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def _choices_file():
    return store.home() / "exported" / "choices.json"


def _load_choice(key: str) -> str | None:
    try:
        return str(json.loads(_choices_file().read_text())[key]["runtime"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _save_choice(key: str, runtime: str, timings: dict[str, float]) -> None:
    path = _choices_file()
    try:
        saved = json.loads(path.read_text())
    except (OSError, ValueError):
        saved = {}
    saved[key] = {"runtime": runtime, "ms": {k: round(v, 2) for k, v in timings.items()}}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        store.write_atomic(path, json.dumps(saved, indent=1))
    except OSError as exc:
        log.info("could not save the runtime choice in %s (%s); it will be measured again", path, exc)
