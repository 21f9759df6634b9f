"""Temporal smoothing through the real video path: flicker on a static-camera clip (issue 4).

Flicker = mean absolute frame-to-frame change of the output over that of the input. The depth model runs on
synthetic weights (its maps are not meaningful depth, but they do change from frame to frame like a real
model's, which is what smoothing must absorb)."""
from __future__ import annotations

import av
import pytest

from vidbokeh.engine import EffectSettings, VideoSession, load_models
from vidbokeh.flicker import FlickerMeter


@pytest.fixture(scope="module")
def frames(samples_dir):
    with av.open(str(samples_dir / "videos" / "intel_asl_book.mkv")) as c:
        return [f.to_ndarray(format="rgb24")[::2, ::2].copy() for _, f in zip(range(24), c.decode(video=0))]


def _flicker(frames, weights, smoothing, backend="opencv"):
    meter = FlickerMeter()
    settings = EffectSettings(approach="depth_anything", weights=weights, smoothing=smoothing, depth_size=112,
                              frame_backend=backend, device="cpu")
    with load_models(settings, "video") as models:
        session = VideoSession(models)
        for i, frame in enumerate(frames):
            meter.add(frame, session.process(frame, i / 30).output)
    return meter.ratio


@pytest.mark.parametrize("backend", ["opencv", "torch"])  # torch: the smoother on the device path's tensors
def test_smoothing_keeps_flicker_at_or_below_the_input_and_well_under_unsmoothed(frames, synthetic_weights, backend):
    weights = synthetic_weights("dav2_vits")
    raw = _flicker(frames, weights, 0.0, backend)
    smoothed = _flicker(frames, weights, None, backend)
    print(f"{backend}: flicker {smoothed:.3f} smoothed, {raw:.3f} raw")
    assert smoothed <= 1.0
    assert smoothed < 0.9 * raw, (smoothed, raw)
