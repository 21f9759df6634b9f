"""The pose landmarker's Tasks bundle, made from the two verified pose models of the mirror wheel.

MediaPipe Tasks loads a pose landmarker from one uncompressed zip holding ``pose_detector.tflite`` and
``pose_landmarks_detector.tflite``. The wheel's legacy-graph models are the same networks without the
TFLite metadata that tells Tasks how to scale the input pixels; we add exactly that (the detector takes
[-1, 1], the landmark model [0, 1], as the legacy graphs feed them) and nothing else. The bundle is made
once, atomically, into the store; its members are checked on every use.
"""
from __future__ import annotations

import logging
import os
import tempfile
import zipfile
from pathlib import Path

from vidbokeh import store
from vidbokeh.errors import ModelError

log = logging.getLogger(__name__)

BUNDLE_NAME = "mediapipe_pose_landmarker_full_0.10.21.task"
_MEMBERS = ("pose_detector.tflite", "pose_landmarks_detector.tflite")
# (mean, std) per model: pixel values 0..255 become (v - mean) / std
_NORMALISATION = {"pose_detector.tflite": (127.5, 127.5), "pose_landmarks_detector.tflite": (0.0, 255.0)}


def with_input_normalisation(model: bytes, mean: float, std: float, name: str) -> bytes:
    """``model`` (a TFLite flatbuffer without metadata) with metadata saying its input is an RGB image
    normalised as (v - mean) / std; its tensors and weights are unchanged."""
    import flatbuffers
    import numpy as np

    from vidbokeh.stages.faces import import_mediapipe

    import_mediapipe()
    from mediapipe.tasks.metadata import metadata_schema_py_generated as md
    from mediapipe.tasks.metadata import schema_py_generated as fb

    graph = fb.ModelT.InitFromPackedBuf(bytearray(model), 0)
    subgraph = graph.subgraphs[0]
    norm = md.NormalizationOptionsT()
    norm.mean, norm.std = [float(mean)], [float(std)]
    unit = md.ProcessUnitT()
    unit.optionsType, unit.options = md.ProcessUnitOptions.NormalizationOptions, norm
    image = md.ImagePropertiesT()
    image.colorSpace = md.ColorSpaceType.RGB
    content = md.ContentT()
    content.contentPropertiesType, content.contentProperties = md.ContentProperties.ImageProperties, image
    tensor_in = md.TensorMetadataT()
    tensor_in.name, tensor_in.content, tensor_in.processUnits = "image", content, [unit]
    outputs = []
    for index in subgraph.outputs:
        tensor = md.TensorMetadataT()
        raw = subgraph.tensors[index].name
        tensor.name = raw.decode() if isinstance(raw, bytes) else str(raw)
        outputs.append(tensor)
    sub_md = md.SubGraphMetadataT()
    sub_md.inputTensorMetadata, sub_md.outputTensorMetadata = [tensor_in], outputs
    model_md = md.ModelMetadataT()
    model_md.name, model_md.subgraphMetadata, model_md.minParserVersion = name, [sub_md], "1.0.0"
    builder = flatbuffers.Builder(1024)
    builder.Finish(model_md.Pack(builder), b"M001")
    buffer = fb.BufferT()
    buffer.data = np.frombuffer(bytes(builder.Output()), np.uint8)
    graph.buffers.append(buffer)
    entry = fb.MetadataT()
    entry.name, entry.buffer = "TFLITE_METADATA", len(graph.buffers) - 1
    graph.metadata = [m for m in (graph.metadata or []) if _metadata_name(m) != "TFLITE_METADATA"] + [entry]
    out = flatbuffers.Builder(len(model) + 4096)
    out.Finish(graph.Pack(out), b"TFL3")
    return bytes(out.Output())


def _metadata_name(entry) -> str:
    name = entry.name
    return name.decode() if isinstance(name, bytes) else str(name)


def _bundle_ok(path: Path) -> bool:
    """A stored, uncompressed zip with both members, each a TFLite flatbuffer."""
    try:
        with zipfile.ZipFile(path) as bundle:
            infos = {info.filename: info for info in bundle.infolist()}
            if set(infos) != set(_MEMBERS) or any(i.compress_type != zipfile.ZIP_STORED for i in infos.values()):
                return False
            return all(bundle.read(m)[4:8] == b"TFL3" for m in _MEMBERS)
    except (OSError, zipfile.BadZipFile):
        return False


def pose_landmarker_bundle(*, progress: bool = True) -> Path:
    """Path of the pose landmarker bundle in the store, made from the verified pose models when missing."""
    from vidbokeh.stages import assets

    path = store.home() / BUNDLE_NAME
    if path.is_file() and _bundle_ok(path):
        return path
    sources = {
        "pose_detector.tflite": assets.model_path(assets.POSE_DETECTOR, progress=progress),
        "pose_landmarks_detector.tflite": assets.model_path(assets.POSE_LANDMARKS, progress=progress),
    }
    log.debug("making %s from %s", path, sources)
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{BUNDLE_NAME}.", suffix=".part", dir=store.home())
    except OSError as exc:
        raise ModelError(f"cannot write the pose landmarker bundle into {store.home()}: {exc}") from exc
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as raw, zipfile.ZipFile(raw, "w", zipfile.ZIP_STORED) as bundle:
            for member, source in sources.items():
                mean, std = _NORMALISATION[member]
                info = zipfile.ZipInfo(member, date_time=(1980, 1, 1, 0, 0, 0))  # same inputs, same bytes
                bundle.writestr(info, with_input_normalisation(source.read_bytes(), mean, std, member),
                                compress_type=zipfile.ZIP_STORED)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except (OSError, ValueError) as exc:
        raise ModelError(f"could not make the pose landmarker bundle {path}: {exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)
    return path
