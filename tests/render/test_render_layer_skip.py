"""The layered render skips the layers no pixel can reach (render/composite.py ``_first_layer``) and loses nothing.

A hybrid frame's background blurs at least by a floor, so the layers below it are empty: their pyramid
bookkeeping is skipped. The output must be bit-for-bit the output of drawing every layer, on a real clip frame
with its labelled subject as the protection mask, on both array backends. And the layers drawn at reduced size
stay close to every layer drawn at full size on that frame.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

import vidbokeh.render.composite as composite
from vidbokeh.render.ops import get_ops
from vidbokeh.stages.bokeh import BokehSettings, render_bokeh


@pytest.fixture(scope="module")
def hybrid_frame(samples_dir: Path):
    import av

    videos = samples_dir / "videos"
    with av.open(str(videos / "davis2016_breakdance.mp4")) as container:
        rgb = next(container.decode(video=0)).to_ndarray(format="rgb24")
    label = cv2.imread(str(videos / "davis2016_breakdance_masks" / "00000.png"), cv2.IMREAD_GRAYSCALE)
    protect = cv2.GaussianBlur((label > 127).astype(np.float32), (0, 0), 3.0)
    h, w = protect.shape
    depth_blur = np.linspace(4.0, 20.0, h, dtype=np.float32)[:, None] * np.ones((1, w), np.float32)
    coc = np.maximum(depth_blur, 18.0 * (1.0 - protect))  # hybrid: the background floor (engine/frame.py)
    return rgb, coc, protect


@pytest.mark.parametrize("backend", ["opencv", "torch"])
def test_skipping_empty_layers_changes_no_pixel(hybrid_frame, backend: str, monkeypatch) -> None:
    rgb, coc, protect = hybrid_frame
    settings = BokehSettings(layer_step=1.5, layer_ratio=1.6)  # video's spacing
    ops = get_ops(backend, "cpu")
    skipped = render_bokeh(rgb, coc, protect, settings, ops=ops)
    first = composite._first_layer(ops, 0.0, ops.upload(coc), ops.upload((protect < 0.5).astype(np.float32)),
                                   *composite.plan_layers(float(coc.max()), settings)[1:], settings)
    assert first > 1  # the floor (9 px where protect < 0.5) leaves the first layers empty
    monkeypatch.setattr(composite, "_first_layer", lambda *args: 1)
    every = render_bokeh(rgb, coc, protect, settings, ops=ops)
    assert np.array_equal(skipped, every)
    assert np.array_equal(skipped[protect == 1.0], rgb[protect == 1.0])


def test_a_foreground_keeps_every_layer(hybrid_frame) -> None:
    rgb, coc, protect = hybrid_frame
    ops = get_ops("opencv", "cpu")
    signed = coc.copy()
    signed[:40] = -6.0  # something in front of the focus plane: its layers start at the first
    assert composite._first_layer(ops, float(signed.min()), signed, np.ones_like(signed), 8.0, 6,
                                  BokehSettings()) == 1


def test_the_reduced_resolution_layers_match_full_resolution_on_a_real_frame(hybrid_frame) -> None:
    """Blurred layers are drawn at half size or coarser (render/plan.py); against every layer blurred at full size
    (``full_resolution``, the quality reference) the frame stays close, and protected pixels are the input's."""
    rgb, coc, protect = hybrid_frame
    video = BokehSettings(layer_step=1.5, layer_ratio=1.6)
    reduced = render_bokeh(rgb, coc, protect, video)
    full = render_bokeh(rgb, coc, protect, BokehSettings(layer_step=1.5, layer_ratio=1.6, full_resolution=True))
    mse = float(np.mean((reduced.astype(np.float32) - full.astype(np.float32)) ** 2))
    assert 10 * np.log10(255.0**2 / mse) >= 45.0  # 50.9 dB measured
    keep = protect == 1.0
    assert keep.sum() > 1000 and np.array_equal(reduced[keep], rgb[keep]) and np.array_equal(full[keep], rgb[keep])
