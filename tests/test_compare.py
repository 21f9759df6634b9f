"""Comparison mode: depth metrics, agreement, inputs, and a full run over shared stills."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from vidbokeh.compare import agreement
from vidbokeh.compare.depth_metrics import depth_figures, load_depth_png
from vidbokeh.compare.inputs import resolve_inputs
from vidbokeh.compare.publish import check_out_dir
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
