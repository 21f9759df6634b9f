"""`vidbokeh compare` through the CLI (the comparison itself is tested in test_compare.py)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from vidbokeh.cli import run


def test_compare_cli_writes_reports_with_quality_figures(tmp_path: Path, samples_dir: Path, capsys):
    inputs = tmp_path / "in"
    inputs.mkdir()
    name = "davis2016_dance-twirl_00040"
    shutil.copy(samples_dir / "portraits" / "images" / f"{name}.jpg", inputs)
    out = tmp_path / "report"
    code = run(["compare", str(inputs), "--out", str(out), "--approaches", "selfie",
                "--masks", str(samples_dir / "portraits" / "masks"), "--max-blur", "0.02"])
    assert code == 0, capsys.readouterr().err
    printed = capsys.readouterr().out.split()
    assert str(out / "report.md") in printed and str(out / "report.html") in printed
    results = json.loads((out / "results.json").read_text())
    text = json.dumps(results)
    assert "sharp_iou" in text and name in text


def test_compare_cli_rejects_a_missing_weights_file(tmp_path: Path, capsys):
    code = run(["compare", str(tmp_path), "--out", str(tmp_path / "o"), "--approaches", "hybrid",
                "--weights", f"hybrid={tmp_path / 'nope.pth'}"])
    assert code == 4
    assert "nope.pth" in capsys.readouterr().err


def test_compare_cli_bad_pair_is_a_usage_error(tmp_path: Path, capsys):
    assert run(["compare", str(tmp_path), "--out", str(tmp_path / "o"), "--weights", "nonsense"]) == 2
