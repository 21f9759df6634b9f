"""Comparison mode: depth metrics, agreement, inputs, and a full run over shared stills."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from vidbokeh.comparison import agreement
from vidbokeh.comparison.depth_metrics import depth_figures, load_depth_png
from vidbokeh.comparison.inputs import resolve_inputs
from vidbokeh.comparison.publish import check_out_dir
from vidbokeh.errors import InputError, OutputError, UsageError


# ----------------------------------------------------------------------------- depth metrics

def _scene(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:60, 0:80]
    return (1.0 + 4.0 * yy / 60 + 0.5 * np.sin(xx / 7) + 0.1 * rng.random((60, 80))).astype(np.float32)


def test_affine_inverse_depth_scores_perfectly_and_ignores_missing_readings():
    gt = _scene()
    pred = (3.0 / gt + 0.7).astype(np.float32)  # exactly affine in inverse depth
    gt_with_holes = gt.copy()
    gt_with_holes[:10] = 0  # no reading: the prediction there must not matter
    pred[:10] = 1e6
    figures = depth_figures(pred, gt_with_holes)
    assert figures.abs_rel < 1e-5
    assert figures.delta1 == pytest.approx(1.0)
    assert figures.scale == pytest.approx(1 / 3, rel=1e-4)
    assert figures.shift == pytest.approx(-0.7 / 3, rel=1e-4)
    assert figures.valid_pixels == 50 * 80


def test_noise_and_wrong_structure_lower_the_figures():
    gt = _scene()
    clean = depth_figures(1.0 / gt, gt)
    rng = np.random.default_rng(1)
    noisy = depth_figures((1.0 / gt) * (1 + 0.4 * rng.standard_normal(gt.shape)).astype(np.float32), gt)
    flipped = depth_figures(gt, gt)  # depth instead of inverse depth: not affine in 1/gt
    assert noisy.abs_rel > clean.abs_rel + 0.05 and noisy.delta1 < 0.95
    assert flipped.abs_rel > clean.abs_rel + 0.02


def test_prediction_is_resized_to_the_ground_truth():
    gt = _scene()
    pred = cv2.resize(1.0 / gt, (40, 30), interpolation=cv2.INTER_AREA)
    assert depth_figures(pred, gt).delta1 > 0.99


def test_flat_baseline_is_beaten_by_a_real_map_but_not_by_noise():
    from vidbokeh.comparison.depth_metrics import constant_baseline

    gt = _scene()
    baseline = constant_baseline(gt)
    assert baseline.scale == 0.0 and baseline.abs_rel > 0.05
    assert depth_figures(1.0 / gt, gt).abs_rel < baseline.abs_rel
    noise = np.random.default_rng(5).random(gt.shape).astype(np.float32)
    assert depth_figures(noise, gt).abs_rel == pytest.approx(baseline.abs_rel, rel=0.1)


def test_no_valid_pixels_is_an_input_error():
    with pytest.raises(InputError):
        depth_figures(np.ones((4, 4), np.float32), np.zeros((4, 4), np.float32))


def test_tum_depth_png_is_read_in_metres(samples_dir):
    depth = load_depth_png(samples_dir / "depth" / "tum_open3d_depth.png", 5000)
    raw = cv2.imread(str(samples_dir / "depth" / "tum_open3d_depth.png"), cv2.IMREAD_UNCHANGED)
    assert depth.dtype == np.float32 and depth.shape == raw.shape
    assert np.allclose(depth, raw / 5000.0)
    assert 0.3 < np.median(depth[depth > 0]) < 10  # an office desk, in metres
    with pytest.raises(InputError):
        load_depth_png(samples_dir / "depth" / "tum_open3d_color.png", 5000)


# ----------------------------------------------------------------------------- agreement

def test_spearman_sees_ranks_not_values():
    a = _scene()
    assert agreement.spearman(a, np.exp(a)) == pytest.approx(1.0)
    assert agreement.spearman(a, -a) == pytest.approx(-1.0)
    assert abs(agreement.spearman(a, np.random.default_rng(3).random(a.shape))) < 0.1
    assert agreement.spearman(a, np.ones_like(a)) is None


def test_average_ranks_share_ties():
    assert agreement.average_ranks(np.array([5.0, 1.0, 5.0, 3.0])).tolist() == [2.5, 0.0, 2.5, 1.0]


def test_mask_iou():
    a = np.zeros((10, 10), np.float32)
    b = np.zeros((10, 10), np.float32)
    a[:, :6] = 1
    b[:, 4:] = 1
    assert agreement.mask_iou(a, b) == pytest.approx(20 / 100)
    assert agreement.mask_iou(np.zeros((4, 4)), np.zeros((4, 4))) is None


# ----------------------------------------------------------------------------- inputs and outputs

def test_ground_truth_in_the_same_folder_is_matched_not_compared(samples_dir):
    depth_dir = samples_dir / "depth"
    images = resolve_inputs([depth_dir], None, depth_dir)
    assert [i.key for i in images] == ["tum_open3d_color"]
    assert images[0].depth_path == depth_dir / "tum_open3d_depth.png"


def test_masks_match_by_stem_and_names_are_deterministic(samples_dir, tmp_path):
    portraits = samples_dir / "portraits"
    images = resolve_inputs([portraits / "images"], portraits / "masks", None)
    assert [i.key for i in images] == sorted(p.stem for p in (portraits / "images").iterdir())
    assert all(i.mask_path == portraits / "masks" / f"{i.key}.png" for i in images)
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "same.jpg").write_bytes(b"x")
    keys = [i.key for i in resolve_inputs([tmp_path / "a", tmp_path / "b"], None, None)]
    assert len(set(keys)) == 2 and keys == [i.key for i in resolve_inputs([tmp_path / "a", tmp_path / "b"], None, None)]


def test_missing_input_and_foreign_output_are_refused(tmp_path):
    from vidbokeh.errors import InputNotFoundError

    with pytest.raises(InputNotFoundError):
        resolve_inputs([tmp_path / "nope.jpg"], None, None)
    with pytest.raises(UsageError):
        resolve_inputs([], None, None)
    foreign = tmp_path / "home"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("precious")
    with pytest.raises(OutputError):
        check_out_dir(foreign, [])
    with pytest.raises(OutputError):
        check_out_dir(tmp_path, [tmp_path / "home" / "thesis.tex"])


# ----------------------------------------------------------------------------- a full comparison

CELL = 160  # grid cell width for the tests (small pictures, fast)


@pytest.fixture(scope="module")
def synthetic_dav2(tmp_path_factory, reference_dir) -> Path:
    """Depth-Anything V2 ViT-S weights from the shared synthetic rule, saved under the official names."""
    torch = pytest.importorskip("torch")
    sys.path.insert(0, str(reference_dir))
    try:
        from synth_weights import load_spec, synth_state_dict
    finally:
        sys.path.remove(str(reference_dir))
    state = synth_state_dict(load_spec(reference_dir / "dav2_vits" / "spec.json"))
    path = tmp_path_factory.mktemp("weights") / "depth_anything_v2_vits_synthetic.pth"
    torch.save({name: torch.from_numpy(value) for name, value in state.items()}, path)
    return path


@pytest.fixture(scope="module")
def stills(tmp_path_factory, samples_dir) -> Path:
    """Two labelled portraits and the TUM pair at half size, plus a corrupt JPEG."""
    root = tmp_path_factory.mktemp("stills")
    for name in ("images", "masks", "depth"):
        (root / name).mkdir()
    portraits = samples_dir / "portraits"
    for stem in ("davis2016_breakdance_00040", "davis2016_parkour_00000"):
        image = cv2.imread(str(portraits / "images" / f"{stem}.jpg"))
        mask = cv2.imread(str(portraits / "masks" / f"{stem}.png"), cv2.IMREAD_GRAYSCALE)
        size = (image.shape[1] // 2, image.shape[0] // 2)
        cv2.imwrite(str(root / "images" / f"{stem}.jpg"), cv2.resize(image, size, interpolation=cv2.INTER_AREA))
        cv2.imwrite(str(root / "masks" / f"{stem}.png"), cv2.resize(mask, size, interpolation=cv2.INTER_NEAREST))
    colour = cv2.imread(str(samples_dir / "depth" / "tum_open3d_color.png"))
    depth = cv2.imread(str(samples_dir / "depth" / "tum_open3d_depth.png"), cv2.IMREAD_UNCHANGED)
    half = (320, 240)
    cv2.imwrite(str(root / "depth" / "tum_open3d_color.png"), cv2.resize(colour, half, interpolation=cv2.INTER_AREA))
    cv2.imwrite(str(root / "depth" / "tum_open3d_depth.png"), cv2.resize(depth, half, interpolation=cv2.INTER_NEAREST))
    (root / "images" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not a JPEG")
    return root


def _settings(approaches, strategies=("portrait",), weights=None, notes=None):
    from vidbokeh.comparison import CompareSettings
    from vidbokeh.engine import EffectSettings

    return CompareSettings(
        approaches=tuple(approaches), weights=weights or {}, weights_notes=notes or {},
        strategies=tuple(strategies), depth_scale=5000.0, device="cpu", effect=EffectSettings(depth_size=182),
        grid_cell_width=CELL, html_thumbnail_width=400,
    )


def _compare(stills: Path, out_dir: Path, settings, log):
    from vidbokeh.comparison import compare

    return compare([stills / "images", stills / "depth"], out_dir, settings, masks_dir=stills / "masks",
                   depth_dir=stills / "depth", log=log)


@pytest.fixture(scope="module")
def report(tmp_path_factory, stills, synthetic_dav2):
    out_dir = tmp_path_factory.mktemp("report") / "cmp"
    depth = ("hybrid", "depth_anything")
    settings = _settings(("selfie", *depth), weights={a: synthetic_dav2 for a in depth},
                         notes={a: "synthetic" for a in depth})
    messages: list[str] = []
    result = _compare(stills, out_dir, settings, messages.append)
    return result, messages


GOOD = ("davis2016_breakdance_00040", "davis2016_parkour_00000", "tum_open3d_color")
RUNS = ("selfie-portrait", "hybrid-portrait", "depth_anything-portrait")


def test_every_image_gets_a_grid_and_every_run_a_result(report):
    result, _ = report
    out = result.out_dir
    assert [i.key for i in result.images] == ["broken", *GOOD[:2], "tum_open3d_color"]
    for key in GOOD:
        grid_picture = cv2.imread(str(out / "grids" / f"{key}.jpg"))
        source = next(i for i in result.images if i.key == key)
        assert grid_picture is not None and grid_picture.shape[1] >= 3 * CELL
        # the original's row and one row per run, each at least a picture high
        assert grid_picture.shape[0] >= 4 * round(source.height * CELL / source.width)
        for run in RUNS:
            alone = cv2.imread(str(out / "results" / f"{key}__{run}.jpg"))
            assert alone is not None and alone.shape[:2] == (source.height, source.width)
    assert not (out / "grids" / "broken.jpg").exists()
    assert sorted(p.name for p in out.iterdir()) == ["grids", "plots", "report.html", "report.md", "results",
                                                     "results.json"]
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # no staging left


def test_corrupt_image_fails_alone(report):
    result, messages = report
    for outcome in result.outcomes:
        assert outcome.ok == (outcome.image != "broken"), outcome
    assert all("broken.jpg" in o.error for o in result.failed)
    assert all(r.images_ok == 3 and r.images_failed == 1 for r in result.runs)
    assert any("broken.jpg" in m for m in messages)
    assert "FAILED" in result.report_md.read_text()


def test_figures_against_ground_truth(report):
    result, _ = report
    for run in RUNS:
        for key in GOOD[:2]:
            quality = result.outcome(key, run).quality
            assert set(quality) == {"fg_psnr", "bg_energy", "sharp_iou", "leak"}
            assert 0 <= quality["sharp_iou"] <= 1 and 0 <= quality["leak"] <= 1
        tum = result.outcome("tum_open3d_color", run)
        assert tum.quality is None
        if run.startswith("selfie"):
            assert tum.depth is None
        else:
            assert 0 <= tum.depth.abs_rel < 5 and 0 <= tum.depth.delta1 <= 1 and tum.depth.valid_pixels > 10000
    summaries = {r.run: r for r in result.runs}
    assert summaries["depth_anything-portrait"].depth_mean["delta1"] == pytest.approx(
        result.outcome("tum_open3d_color", "depth_anything-portrait").depth.delta1)
    tum = next(i for i in result.images if i.key == "tum_open3d_color")
    assert tum.depth_baseline is not None and tum.depth_baseline.scale == 0.0
    assert "(baseline: one flat depth)" in result.report_md.read_text()
    assert summaries["selfie-portrait"].num_params == 0
    assert summaries["depth_anything-portrait"].num_params > 20_000_000
    for summary in result.runs:
        assert summary.load_seconds > 0 and summary.median_seconds > 0
        assert summary.p90_seconds >= summary.median_seconds
        assert summary.stage_median_seconds and summary.peak_memory_bytes is not None
        assert summary.device
    pairs = {(a.image, a.run_a, a.run_b): a for a in result.agreement}
    both_depth = pairs[("tum_open3d_color", "hybrid-portrait", "depth_anything-portrait")]
    assert both_depth.depth_spearman == pytest.approx(1.0, abs=1e-6)  # same network, same weights
    assert pairs[("tum_open3d_color", "selfie-portrait", "hybrid-portrait")].depth_spearman is None
    assert all(a.mask_iou is None or 0 <= a.mask_iou <= 1 for a in result.agreement)


def test_reports_are_complete_and_say_synthetic(report):
    result, _ = report
    out = result.out_dir
    document = json.loads((out / "results.json").read_text())
    assert {"tool", "settings", "runs", "images", "outcomes", "agreement", "files", "warnings"} <= set(document)
    assert [r["run"] for r in document["runs"]] == list(RUNS)
    for run in document["runs"]:
        assert {"load_seconds", "median_seconds", "p90_seconds", "stage_median_seconds", "num_params",
                "peak_memory_bytes", "memory_method", "device", "quality_median", "depth_mean"} <= set(run)
    for plot in document["files"]["plots"]:
        assert (out / plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    markdown = result.report_md.read_text()
    page = result.report_html.read_text()
    for text in (markdown, page):
        assert "depth_anything-portrait [SYNTHETIC WEIGHTS]" in text
        assert "hybrid-portrait [SYNTHETIC WEIGHTS]" in text
        assert "selfie-portrait [SYNTHETIC" not in text
        assert str(Path(result.runs[1].weights)) in text
    assert markdown.count("| hybrid-portrait |") == 0  # every row naming it carries the note
    assert page.count("data:image/jpeg;base64,") == 3 and page.count("data:image/png;base64,") == 2
    assert '<table class="sortable">' in page and "<script>" in page
    assert "src=\"http" not in page and "grids/" not in page  # self-contained
    assert "](grids/tum_open3d_color.jpg)" in markdown
    from vidbokeh.comparison.plots import notes_line

    assert "SYNTHETIC" in notes_line(result.runs) and "selfie" not in notes_line(result.runs)


def test_rerun_replaces_the_whole_report(report, stills, tmp_path, monkeypatch):
    import shutil

    from vidbokeh.comparison import runner

    result, _ = report
    out_dir = tmp_path / "cmp"
    shutil.copytree(result.out_dir, out_dir)
    before = (out_dir / "results.json").read_text()

    def broken_writer(*args, **kwargs):
        raise OutputError("disk full")

    monkeypatch.setattr(runner, "write_reports", broken_writer)
    with pytest.raises(OutputError):
        _compare(stills, out_dir, _settings(["selfie"]), lambda m: None)
    assert (out_dir / "results.json").read_text() == before  # a failed rerun leaves the old report whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cmp"]
    monkeypatch.undo()

    rerun = _compare(stills, out_dir, _settings(["selfie"], ("portrait", "conservative")), lambda m: None)
    names = sorted(p.name for p in (out_dir / "results").iterdir())
    assert names == sorted(f"{k}__selfie-{s}.jpg" for k in GOOD for s in ("portrait", "conservative"))
    assert [r.run for r in rerun.runs] == ["selfie-portrait", "selfie-conservative"]
    assert all(r.images_ok == 3 and r.load_seconds > 0 for r in rerun.runs)
    assert "SYNTHETIC" not in (out_dir / "report.md").read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cmp"]
    original = {p.name for p in (result.out_dir / "results").iterdir() if "selfie-portrait" in p.name}
    assert original <= set(names)  # deterministic names


def test_grid_labels_carry_the_weights_note_and_failures():
    from vidbokeh.comparison import grid, image_probe, runner
    from vidbokeh.comparison.records import ApproachSpec, ImageInfo, ImageRun, RunSpec

    picture = np.full((30, 40, 3), 200, np.uint8)
    probe = image_probe.Probe(ImageInfo("x", Path("x.jpg"), 40, 30, None, None, None, Path("x.jpg")),
                              picture, None, None, None)
    plain = RunSpec(ApproachSpec("selfie"), "portrait")
    noted = RunSpec(ApproachSpec("depth_anything", weights_note="synthetic"), "portrait")
    outcomes = {("x", plain.name): ImageRun("x", plain.name, False, error="boom"),
                ("x", noted.name): ImageRun("x", noted.name, True, seconds=0.1)}
    pictures = {("x", noted.name): runner._Pictures(picture, picture, picture, None, np.zeros((30, 40)))}
    rows = runner._grid_rows(probe, [plain, noted], outcomes, pictures)
    assert rows[1][0].lines == ("selfie-portrait", "FAILED: boom") and rows[1][0].warn_line is None
    assert len(rows[2]) == 3
    assert all(c.lines[c.warn_line] == "[SYNTHETIC WEIGHTS]" for c in rows[2])
    composed = grid.compose_grid(rows, 64, 30)
    assert composed.shape[1] == 3 * (64 + 2) and composed.dtype == np.uint8
    band = 3 * grid.BAND_LINE + grid.PAD
    assert composed.shape[0] == 3 * (band + 30 + 2)


def test_bad_settings_are_usage_errors_before_any_work(samples_dir, tmp_path):
    from vidbokeh.comparison import compare

    image = samples_dir / "depth" / "tum_open3d_color.png"
    for kwargs in ({"approaches": ("selfie",), "weights": {"midas": tmp_path / "w.pth"}},
                   {"approaches": ("sepia",)},
                   {"approaches": ("selfie", "selfie")},
                   {"approaches": ("selfie",), "strategies": ("dreamy",)},
                   {"approaches": ("selfie",), "depth_scale": 0},
                   {"approaches": ("selfie",), "models": {"selfie": "depth_anything_v2_vits"}}):
        with pytest.raises(UsageError):
            compare([image], tmp_path / "out", **kwargs)
    assert not (tmp_path / "out").exists() and list(tmp_path.iterdir()) == []
