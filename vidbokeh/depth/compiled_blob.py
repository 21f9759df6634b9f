"""OpenVINO's compiled depth graph kept beside its graph, so that a session opens without compiling again.

``compile_cached(core, graph, config)``: the compiled model of ``graph`` for this CPU. Compiling DA-V2-S takes
~4 s of CPU here, importing the compiled blob ~0.3 s (docs/benchmarks.md). The blob lives in the graph's cache
entry as ``compiled-<tag>.blob`` with ``compiled-<tag>.json`` (its SHA-256, written last); the tag covers the
OpenVINO version, the CPU (name and capabilities: a blob is made for one instruction set) and the compile
settings. OpenVINO's own ``CACHE_DIR`` is not used: it imports a damaged blob without a word and computes
wrong depth from it (measured), so the blob is read once, hashed and imported only when the hash matches;
otherwise the graph is compiled again and the blob rewritten (temporary file, then renamed).
"""
from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

from .. import store
from . import runtimes

log = logging.getLogger(__name__)


def blob_tag(core, config: dict[str, object]) -> str:
    identity = {
        "openvino": runtimes.version("openvino"),
        "cpu": str(core.get_property("CPU", "FULL_DEVICE_NAME")),
        "capabilities": [str(c) for c in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")],
        "config": {k: str(v) for k, v in sorted(config.items())},
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]


def blob_paths(graph: Path, tag: str) -> tuple[Path, Path]:
    """(the blob, its record) for a graph and a tag."""
    return graph.parent / f"compiled-{tag}.blob", graph.parent / f"compiled-{tag}.json"


def _verified_blob(blob: Path, record: Path) -> bytes | None:
    try:
        expected = json.loads(record.read_text())["sha256"]
        data = blob.read_bytes()
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if hashlib.sha256(data).hexdigest() != expected:
        log.info("compiled depth graph %s is damaged; compiling again", blob)
        return None
    return data


def _save(compiled, blob: Path, record: Path) -> None:
    data = compiled.export_model()
    data = data.getvalue() if hasattr(data, "getvalue") else bytes(data)  # BytesIO in recent versions
    store.write_atomic(blob, data)
    store.write_atomic(record, json.dumps({"sha256": hashlib.sha256(data).hexdigest()}))


def compile_cached(core, graph: Path, config: dict[str, object]):
    """The compiled model of ``graph`` on the CPU: the verified blob beside it, else compiled (and kept)."""
    blob, record = blob_paths(graph, blob_tag(core, config))
    data = _verified_blob(blob, record)
    if data is not None:
        try:
            return core.import_model(data, "CPU", config)
        except RuntimeError as exc:  # a blob this OpenVINO cannot read after all: compiled again below
            log.info("compiled depth graph %s did not load (%s); compiling again", blob, str(exc).splitlines()[0][:120])
    compiled = core.compile_model(str(graph), "CPU", config)
    try:
        _save(compiled, blob, record)
    except OSError as exc:  # a read-only store: the session works, the next one compiles again
        log.info("could not keep the compiled depth graph in %s (%s)", blob.parent, exc)
    return compiled
