"""vidbokeh.depth.registry: the torch-free table of variants, checked record by record against the
networks it names; the package has no import cycle; listing models and `auto` never import torch."""
from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

from vidbokeh.depth.registry import (
    DEFAULT_MODELS,
    UPSAMPLE_RULES,
    VARIANTS,
    family_of,
    get_variant,
    list_depth_models,
    resolve,
)
from vidbokeh.errors import UsageError

PACKAGE = Path(__file__).resolve().parents[2] / "vidbokeh"


@pytest.mark.parametrize("name", list_depth_models())
def test_every_record_names_a_network_of_its_size(name: str) -> None:
    from vidbokeh.depth.loading import build_net

    v = get_variant(name)
    assert v.name == name and v.url.startswith("https://") and v.license and v.filename in v.url
    assert v.upsample in UPSAMPLE_RULES and family_of(name) == v.family
    assert callable(resolve(v.builder)) and callable(resolve(v.remap))
    net = build_net(v, "meta")  # shape-only: allocates nothing
    assert sum(p.numel() for p in net.parameters()) == v.params


def test_defaults_and_licences() -> None:
    assert {family_of(m) for m in DEFAULT_MODELS.values()} == set(DEFAULT_MODELS)
    assert get_variant("depth_anything_v2_vits").license == "Apache-2.0"
    assert get_variant("depth_anything_v2_vitb").license == "CC-BY-NC-4.0"
    assert get_variant("depth_anything_v2_vits").upsample == "bilinear_align_corners"
    assert get_variant("depth_anything_v1_vits").upsample == "bilinear"
    with pytest.raises(UsageError, match="unknown depth model"):
        get_variant("midas_nonexistent")
    assert sorted(VARIANTS) == list_depth_models()


def _runtime_imports(path: Path) -> set[str]:
    """Modules of vidbokeh.depth that ``path`` imports when run (TYPE_CHECKING blocks excluded)."""
    tree = ast.parse(path.read_text())
    skipped = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If)
               and getattr(node.test, "id", getattr(node.test, "attr", "")) == "TYPE_CHECKING"
               for n in ast.walk(node)}
    found = set()
    for node in ast.walk(tree):
        if id(node) in skipped or not isinstance(node, ast.ImportFrom) or node.level != 1:
            continue
        if node.module:
            found.add(node.module.split(".")[0])
        else:
            found.update(alias.name for alias in node.names)
    return found


def test_no_import_cycle_and_the_registry_imports_no_family() -> None:
    folder = PACKAGE / "depth"
    graph = {p.stem: _runtime_imports(p) & {q.stem for q in folder.glob("*.py")} for p in folder.glob("*.py")}
    assert graph["registry"] == set()
    assert "__init__" not in set().union(*graph.values())

    def visit(node: str, path: tuple[str, ...]) -> None:
        for nxt in graph.get(node, ()):
            assert nxt not in path, "import cycle: " + " -> ".join((*path, nxt))
            visit(nxt, (*path, nxt))

    for start in graph:
        visit(start, (start,))


def _python(code: str, tmp_path: Path) -> str:
    env = {**os.environ, "VIDBOKEH_HOME": str(tmp_path), "VIDBOKEH_OFFLINE": "1",
           "PYTHONPATH": str(PACKAGE.parent) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_models_list_does_not_import_torch(tmp_path: Path) -> None:
    out = _python(
        "import sys\n"
        "from vidbokeh.cli import main\n"
        "try:\n    code = main(['models', 'list'])\nexcept SystemExit as exc:\n    code = exc.code\n"
        "print('TORCH' if 'torch' in sys.modules else 'NO-TORCH', code)\n",
        tmp_path,
    )
    assert "depth_anything_v2_vits" in out and "CC-BY-NC-4.0" in out
    assert out.strip().splitlines()[-1] == "NO-TORCH 0"


def test_auto_approach_is_decided_without_torch(tmp_path: Path) -> None:
    stored = tmp_path / get_variant(DEFAULT_MODELS["depth_anything"]).filename
    code = (
        "import sys\n"
        "from vidbokeh.depth import catalog\n"
        "from vidbokeh.depth.registry import DEFAULT_MODELS\n"
        "print(catalog.is_cached(DEFAULT_MODELS['depth_anything']), 'torch' in sys.modules)\n"
    )
    assert _python(code, tmp_path).split() == ["False", "False"]
    stored.write_bytes(b"weights put here by hand")
    assert _python(code, tmp_path).split() == ["True", "False"]
