"""Depth on exported graphs (ONNX Runtime, OpenVINO): every small registered variant with reference vectors
matches the torch network and the official output; the graph cache is keyed, verified and crash-safe; `auto`
measures once and says what it chose; a missing runtime is a one-line error naming the extra.

Exports cost ~10-30 s per variant and runtime on 2 cores, so variants over 60M parameters are left to
tools/bench_depth.py --runtime (the same code path)."""
from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from test_depth_conformance import official_state_dict, reference_folder, relative_error
from vidbokeh.cli import run
from vidbokeh.depth import DepthModel, create_depth_model, get_variant, list_depth_models, runtimes
from vidbokeh.depth import export as export_mod
from vidbokeh.depth.model import make_runner
from vidbokeh.depth.runner_exported import ExportedRunner
from vidbokeh.errors import UsageError

torch.set_num_threads(2)
EXPORTED = [r for r in runtimes.RUNTIMES if r not in ("auto", "torch")]
SMALL = [n for n in list_depth_models() if get_variant(n).params < 60e6]


@pytest.fixture(scope="module")
def store_home(tmp_path_factory):
    """One weight store for the module: openvino converts the ONNX file onnxruntime's entry holds."""
    home = tmp_path_factory.mktemp("store")
    patch = pytest.MonkeyPatch()
    patch.setenv("VIDBOKEH_HOME", str(home))
    yield home
    patch.undo()


@pytest.fixture(scope="module")
def weights(reference_dir: Path, tmp_path_factory):
    made: dict[str, Path] = {}

    def make(name: str) -> Path:
        folder = reference_folder(name)
        if not (reference_dir / folder).is_dir():
            pytest.skip(f"no reference vectors for {name} (needs ../shared/reference/{folder})")
        if name not in made:
            made[name] = tmp_path_factory.mktemp(folder) / get_variant(name).filename
            torch.save(official_state_dict(reference_dir, folder), made[name])
        return made[name]

    return make


def _needs(runtime: str) -> None:
    if not runtimes.installed(runtime):
        pytest.skip(f"{runtime} is not installed (pip install 'vidbokeh[{runtimes.get_runtime(runtime).extra}]')")


@pytest.mark.parametrize("name", SMALL)
def test_exported_graphs_match_torch_and_the_official_output(name, store_home, weights, reference_dir):
    installed = [r for r in EXPORTED if runtimes.installed(r)]
    if not installed:
        pytest.skip("no exported runtime installed (pip install 'vidbokeh[runtimes]')")
    ref = reference_dir / reference_folder(name)
    variant = get_variant(name)
    torch_model = create_depth_model(name, weights=weights(name), device="cpu")
    x = np.load(ref / "net_input.npy")
    with torch.inference_mode():
        expected = torch_model.net(torch.from_numpy(x)).numpy()
    # end to end: an image whose network input has that same shape, so the same cached graph serves it
    h, w = x.shape[2:]
    image = np.ascontiguousarray(np.resize(np.load(ref / "image.npy"), (h, w, 3)))
    size = None if variant.fixed_input_size else (min if variant.resize_method == "lower_bound" else max)(h, w)
    assert torch_model.net_input(image, size).shape[1:] == (h, w)
    torch_depth = torch_model.predict(image, input_size=size)
    rtol = json.loads((ref / "meta.json").read_text())["suggested_tolerance"]["rtol"]
    for runtime in installed:  # onnxruntime first: openvino converts the ONNX file its entry holds
        model = DepthModel(variant, make_runner(torch_model.net, variant, runtime, torch.device("cpu")))
        out = model.runner(x).numpy()
        assert model.runner.runtime == runtime
        chosen = model.runner.precision  # the runtime's own choice on this CPU (OpenVINO: bf16 with AVX512_BF16)
        allowed = runtimes.tolerance(runtime, chosen)
        official = np.load(ref / "net_output.npy")
        assert relative_error(out, expected) <= allowed, runtime
        assert relative_error(out, official) <= max(allowed, rtol), runtime
        end_to_end = relative_error(model.predict(image, input_size=size), torch_depth)
        assert end_to_end <= allowed, runtime
        print(f"\n{name} {runtime} {chosen} {h}x{w}: net {relative_error(out, expected):.1e}, "
              f"predict {end_to_end:.1e} vs torch; {relative_error(out, official):.1e} vs official")
        if chosen != "fp32":  # asked for float32, it computes what the official code computes
            fp32 = make_runner(torch_model.net, variant, runtime, torch.device("cpu"), "fp32")
            out = fp32(x).numpy()
            assert fp32.precision == "fp32", runtime
            assert relative_error(out, expected) <= runtimes.tolerance(runtime, "fp32"), runtime
        assert relative_error(out, official) <= rtol, runtime
        # the figures of docs/benchmarks.md (pytest -s shows them)
        print(f"{name} {runtime} fp32: net {relative_error(out, expected):.1e} vs torch, "
              f"{relative_error(out, official):.1e} vs official (rtol {rtol:g})")


def _entry(home: Path, name: str, runtime: str) -> Path:
    (entry,) = [p for p in (home / "exported" / name).glob(f"*-{runtime}-*") if p.is_dir() and "196x252" in p.name]
    return entry


def test_cache_entries_are_reused_and_damaged_ones_rebuilt(store_home, weights, monkeypatch):
    _needs("onnxruntime")
    name = "depth_anything_v2_vits"
    x = np.random.default_rng(1).standard_normal((1, 3, 196, 252)).astype(np.float32)
    model = create_depth_model(name, weights=weights(name), device="cpu", runtime="onnxruntime")
    first = model.runner(x).numpy()
    entry = _entry(store_home, name, "onnxruntime")
    manifest = json.loads((entry / "manifest.json").read_text())
    assert manifest["key"]["shape"] == [196, 252] and manifest["key"]["runtime_version"] == runtimes.version("onnxruntime")
    assert manifest["relative_error_vs_torch"] <= runtimes.tolerance("onnxruntime", "fp32")

    exports = []
    real_export = export_mod.export_onnx
    monkeypatch.setattr(export_mod, "export_onnx", lambda *a: exports.append(a) or real_export(*a))
    again = create_depth_model(name, weights=weights(name), device="cpu", runtime="onnxruntime")
    np.testing.assert_array_equal(again.runner(x).numpy(), first)
    assert exports == []  # an intact entry is used as it is

    graph = entry / "model.onnx"
    data = bytearray(graph.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte in the weights: still a loadable file, wrong numbers
    graph.write_bytes(bytes(data))
    rebuilt = create_depth_model(name, weights=weights(name), device="cpu", runtime="onnxruntime")
    np.testing.assert_allclose(rebuilt.runner(x).numpy(), first, rtol=0, atol=1e-6 * np.abs(first).max())
    assert len(exports) == 1


def test_auto_measures_once_and_says_what_it_chose(store_home, weights, monkeypatch, caplog):
    name = "depth_anything_v2_vits"
    caplog.set_level(logging.INFO, logger="vidbokeh")
    model = create_depth_model(name, weights=weights(name), device="cpu", runtime="auto")
    x = np.zeros((1, 3, 196, 252), np.float32)
    if not isinstance(model.runner, ExportedRunner):  # nothing but torch installed
        assert "depth runtime auto: torch" in caplog.text
        return
    model.runner(x)
    chosen = model.runner.runtime
    assert chosen in runtimes.RUNTIMES and f"depth runtime auto: {chosen}" in caplog.text
    saved = json.loads((store_home / "exported" / "choices.json").read_text())
    (record,) = [v for k, v in saved.items() if k.startswith(name) and "|196x252|cpu|" in k]
    assert record["runtime"] == chosen and set(record["ms"]) >= {"torch"}
    assert record["ms"][chosen] == min(record["ms"].values())

    monkeypatch.setattr(ExportedRunner, "_measure", lambda *a: pytest.fail("measured twice"))
    again = create_depth_model(name, weights=weights(name), device="cpu", runtime="auto")
    again.runner(x)
    assert again.runner.runtime == chosen


def test_a_refused_graph_leaves_no_entry_and_the_named_runtime_says_why(store_home, weights, monkeypatch):
    _needs("openvino")
    _needs("onnxruntime")
    name = "depth_anything_v2_vits"
    create_depth_model(name, weights=weights(name), device="cpu", runtime="onnxruntime").runner(
        np.zeros((1, 3, 196, 252), np.float32))  # the ONNX file openvino converts
    for entry in (store_home / "exported" / name).glob("*-openvino-*"):
        shutil.rmtree(entry)
    monkeypatch.setattr(runtimes, "tolerance", lambda runtime, precision: 0.0)
    model = create_depth_model(name, weights=weights(name), device="cpu", runtime="openvino")
    with pytest.raises(export_mod.GraphExportError, match=r"off the torch network \(tolerance") as info:
        model.runner(np.zeros((1, 3, 196, 252), np.float32))
    assert "\n" not in str(info.value) and info.value.exit_code == 4
    left = [p.name for p in (store_home / "exported" / name).iterdir()]
    assert not any("openvino" in n or n.startswith(".build-") for n in left), left


def test_auto_with_nothing_else_installed_is_torch_saying_so(weights, monkeypatch, caplog):
    import vidbokeh.depth.runner_exported as exported

    caplog.set_level(logging.INFO, logger="vidbokeh")
    monkeypatch.setattr(exported, "candidates", lambda device: [])
    model = create_depth_model("depth_anything_v2_vits", weights=weights("depth_anything_v2_vits"), device="cpu",
                               runtime="auto")
    assert model.runner.runtime == "torch"
    assert "depth runtime auto: torch (no other runtime installed" in caplog.text


def test_a_missing_runtime_is_one_line_naming_the_extra(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "openvino" else real(n, *a))
    with pytest.raises(UsageError, match=r"not installed: pip install 'vidbokeh\[openvino\]'"):
        create_depth_model("depth_anything_v2_vits", weights=__file__, device="cpu", runtime="openvino")
    with pytest.raises(UsageError, match="unknown depth runtime"):
        runtimes.require("tensorrt")


def test_models_export_command(store_home, weights, capsys):
    _needs("onnxruntime")
    code = run(["models", "export", "depth_anything_v2_vits", "--runtime", "onnxruntime", "--size", "196",
                "--frame", "252x196", "--weights", str(weights("depth_anything_v2_vits"))])
    assert code == 0
    printed = Path(capsys.readouterr().out.strip())
    assert printed == _entry(store_home, "depth_anything_v2_vits", "onnxruntime")
    assert (printed / "manifest.json").is_file()


def test_openvino_keeps_its_compiled_graph_and_never_trusts_a_damaged_one(store_home, weights, monkeypatch):
    _needs("openvino")
    import openvino as ov

    name = "depth_anything_v2_vits"
    for entry in (store_home / "exported" / name).glob("*-openvino-*"):
        shutil.rmtree(entry)  # built here, so that its first use is seen whole
    compiles = []
    real_compile = ov.Core.compile_model
    monkeypatch.setattr(ov.Core, "compile_model", lambda self, *a: compiles.append(a) or real_compile(self, *a))
    x = np.random.default_rng(2).standard_normal((1, 3, 196, 252)).astype(np.float32)
    first = create_depth_model(name, weights=weights(name), device="cpu", runtime="openvino").runner(x).numpy()
    assert len(compiles) == 1  # the verification's compile; the entry's session imports what it compiled
    entry = _entry(store_home, name, "openvino")
    (blob,) = entry.glob("compiled-*.blob")
    record = json.loads(blob.with_suffix(".json").read_text())
    assert record["sha256"] == export_mod.store.sha256_file(blob)

    again = create_depth_model(name, weights=weights(name), device="cpu", runtime="openvino")
    np.testing.assert_array_equal(again.runner(x).numpy(), first)
    assert len(compiles) == 1  # imported from the kept blob

    data = bytearray(blob.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 4096] = bytes(4096)  # OpenVINO itself would import this and compute garbage
    blob.write_bytes(bytes(data))
    rebuilt = create_depth_model(name, weights=weights(name), device="cpu", runtime="openvino")
    np.testing.assert_allclose(rebuilt.runner(x).numpy(), first, rtol=0, atol=1e-5 * np.abs(first).max())
    assert len(compiles) == 2  # compiled again from the verified graph, and the blob rewritten
    assert json.loads(blob.with_suffix(".json").read_text())["sha256"] == export_mod.store.sha256_file(blob)


def test_openvino_precision_is_read_by_the_types_short_name():
    _needs("openvino")
    import openvino as ov

    from vidbokeh.depth.sessions import effective_precision
    from vidbokeh.errors import ModelError

    assert [effective_precision(t) for t in (ov.Type.f32, ov.Type.bf16, ov.Type.f16)] == ["fp32", "bf16", "fp16"]
    with pytest.raises(ModelError, match="i8"):
        effective_precision(ov.Type.i8)
