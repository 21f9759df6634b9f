"""Exported depth graphs: built once from the loaded weights, cached in the weight store, never trusted blindly.

An entry is one folder, ``GraphKey.folder()``: ``<store>/exported/<variant>/<weights>-<h>x<w>-<runtime>-
<runtime version>-torch<torch version>/``, holding the graph (``model.onnx`` for onnxruntime, ``model.xml``
+ ``model.bin`` for openvino) and ``manifest.json``, written last, with each file's SHA-256 and the error
against torch measured when the entry was built. ``cached_graph(key)`` returns the graph only when the
manifest and every hash check out (a stale or damaged entry is rebuilt, never used). ``build_graph`` exports
into a temporary folder beside the entry, lets the caller verify the graph against torch, then renames the
folder into place: a crash or a refused graph leaves no partial entry.

``weights_digest(net)``: SHA-256 of a network's tensors (names, dtypes, shapes, bytes), the weights part of
the key whichever file they came from.
"""
from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import logging
import os
import shutil
import tempfile
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterator

import torch

from .. import store
from ..errors import ModelError

log = logging.getLogger(__name__)
FORMAT = 1  # bump when the layout or the export recipe changes: old entries no longer match
_GRAPH = {"onnxruntime": ("model.onnx",), "openvino": ("model.xml", "model.bin")}


class GraphExportError(ModelError):
    """A network that does not export to (or is not reproduced by) a runtime."""


@dataclass(frozen=True)
class GraphKey:
    variant: str
    weights: str  # weights_digest of the network
    shape: tuple[int, int]  # network input (height, width)
    runtime: str  # "onnxruntime" | "openvino"
    runtime_version: str
    exporter: str = torch.__version__

    def folder(self) -> Path:
        h, w = self.shape
        name = f"{self.weights[:16]}-{h}x{w}-{self.runtime}-{self.runtime_version}-torch{self.exporter}"
        return store.home() / "exported" / self.variant / name.replace("+", "_")

    def graph(self, folder: Path | None = None) -> Path:
        return (folder or self.folder()) / _GRAPH[self.runtime][0]


def weights_digest(net: torch.nn.Module) -> str:
    digest = hashlib.sha256()
    for name, tensor in sorted(net.state_dict().items()):
        t = tensor.detach().cpu().contiguous().reshape(-1)
        digest.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        digest.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return digest.hexdigest()


def _manifest(key: GraphKey, folder: Path, error: float) -> dict:
    files = {name: store.sha256_file(folder / name) for name in _GRAPH[key.runtime]}
    return {"format": FORMAT, "key": {**asdict(key), "shape": list(key.shape)}, "files": files,
            "relative_error_vs_torch": error}


def cached_graph(key: GraphKey) -> Path | None:
    """The entry's graph when complete and intact, else None."""
    folder = key.folder()
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
        if manifest["format"] != FORMAT or manifest["key"] != {**asdict(key), "shape": list(key.shape)}:
            return None
        for name, digest in manifest["files"].items():
            if store.sha256_file(folder / name) != digest:
                log.info("exported graph %s is damaged; rebuilding it", folder / name)
                return None
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return key.graph()


def export_onnx(net: torch.nn.Module, shape: tuple[int, int], path: Path) -> None:
    """torch.onnx's dynamo exporter, static (1, 3, h, w) input (the TorchScript exporter fails on the
    position-embedding interpolation)."""
    probe = torch.zeros(1, 3, *shape)
    if any(p.device.type != "cpu" for p in net.parameters()):
        net = copy.deepcopy(net).cpu()  # exported from a CPU copy: the torch runner keeps its device
    try:
        with warnings.catch_warnings(), torch.inference_mode(False), _quiet_exporter():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(net.eval(), (probe,), dynamo=True, external_data=False,
                                        optimize=True, verbose=False, input_names=["image"], output_names=["depth"])
            program.save(str(path))
    except Exception as exc:  # noqa: BLE001 - whatever the exporter raises, the network does not export
        reason = " ".join(str(exc).split())[:160] or type(exc).__name__
        raise GraphExportError(f"the network does not export to ONNX ({reason})") from exc


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """The exporter's libraries log every graph rewrite at INFO: kept to warnings while exporting."""
    loggers = [logging.getLogger(name) for name in ("onnx_ir", "onnxscript", "torch.onnx", "torch.export")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(max(lg.level, logging.WARNING))
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def _onnx_beside(key: GraphKey) -> Path | None:
    """An intact onnxruntime entry's ONNX file for the same network and input (any onnxruntime version)."""
    parent = key.folder().parent
    h, w = key.shape
    for folder in sorted(parent.glob(f"{key.weights[:16]}-{h}x{w}-onnxruntime-*")):
        manifest_key = _read_key(folder)
        if manifest_key is None:
            continue
        other = GraphKey(key.variant, key.weights, key.shape, "onnxruntime", manifest_key["runtime_version"],
                         key.exporter)
        found = cached_graph(other)
        if found is not None:
            return found
    return None


def _read_key(folder: Path) -> dict | None:
    try:
        return json.loads((folder / "manifest.json").read_text())["key"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def build_graph(net: torch.nn.Module, key: GraphKey, verify: Callable[[Path], float]) -> Path:
    """Export ``net`` for ``key`` and cache it; ``verify(graph) -> relative error`` raises to refuse it."""
    final = key.folder()
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".build-", dir=final.parent))
    try:
        if key.runtime == "onnxruntime":
            export_onnx(net, key.shape, tmp / "model.onnx")
        else:
            import openvino as ov

            source = _onnx_beside(key)
            if source is None:
                source = tmp / "source.onnx"
                export_onnx(net, key.shape, source)
            # read_model (the ONNX frontend) gives the graph convert_model does, in a tenth of the time here
            ov.save_model(ov.Core().read_model(str(source)), str(tmp / "model.xml"), compress_to_fp16=False)
            (tmp / "source.onnx").unlink(missing_ok=True)
        error = verify(key.graph(tmp))
        (tmp / "manifest.json").write_text(json.dumps(_manifest(key, tmp, error), indent=1))
        if final.exists():
            shutil.rmtree(final)  # stale or damaged (cached_graph refused it)
        try:
            os.rename(tmp, final)
        except OSError:
            if cached_graph(key) is None:  # not another process's intact copy: a real failure
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return key.graph()
