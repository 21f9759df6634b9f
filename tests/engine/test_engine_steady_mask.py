"""Video's protection mask held steady where the picture holds still, in a session (stages/steady_mask.py).

The labelled breakdance clip (../shared/samples/videos: a crowd stands still behind the dancer, the camera is
nearly still) through VideoSession with default settings (selfie: no depth weights), against the same session
with ``VideoProfile(steady_mask=1.0)`` (each frame's mask as it is made)."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from vidbokeh.engine import EffectSettings, load_models
from vidbokeh.engine.settings import VideoProfile
from vidbokeh.engine.video import VideoSession
from vidbokeh.flicker import FlickerMeter

FRAMES = 36


@pytest.fixture(scope="module")
def runs(samples_dir: Path):
    import av

    videos = samples_dir / "videos"
    with av.open(str(videos / "davis2016_breakdance.mp4")) as container:
        frames = [f.to_ndarray(format="rgb24") for _, f in zip(range(FRAMES), container.decode(video=0))]
    labels = [cv2.imread(str(videos / "davis2016_breakdance_masks" / f"{i:05d}.png"), cv2.IMREAD_GRAYSCALE) > 127
              for i in range(len(frames))]
    out = {}
    for follow in (0.3, 1.0):
        meter, protects = FlickerMeter(), []
        settings = EffectSettings(approach="selfie", video_profile=VideoProfile(steady_mask=follow))
        with load_models(settings, "video", progress=False) as models, VideoSession(models) as session:
            for i, rgb in enumerate(frames):
                result = session.process(rgb, i / 24.0)
                meter.add(rgb, result.output)
                protects.append(result.protect)
        out[follow] = (meter.ratio, protects)
    return frames, labels, out


@pytest.mark.slow
def test_the_mask_changes_less_where_the_picture_holds_still(runs) -> None:
    frames, _, out = runs

    def change_where_still(protects):
        moves = []
        for i in range(1, len(frames)):
            a = cv2.cvtColor(frames[i - 1], cv2.COLOR_RGB2GRAY)
            b = cv2.cvtColor(frames[i], cv2.COLOR_RGB2GRAY)
            still = cv2.absdiff(a, b) <= 2
            moves.append(float(np.abs(protects[i] - protects[i - 1])[still].mean()))
        return float(np.mean(moves))

    steady, made = change_where_still(out[0.3][1]), change_where_still(out[1.0][1])
    print(f"the mask's change a frame where the picture holds still: {steady:.4f} steady, {made:.4f} as made")
    assert steady < 0.75 * made, (steady, made)


@pytest.mark.slow
def test_the_output_flickers_less_and_the_dancer_stays_sharp(runs) -> None:
    _, labels, out = runs
    (steady, steady_masks), (made, made_masks) = out[0.3], out[1.0]
    assert steady < made, (steady, made)
    kept = [float(p[label].mean()) for p, label in zip(steady_masks, labels)]
    kept_made = [float(p[label].mean()) for p, label in zip(made_masks, labels)]
    print(f"flicker {steady:.3f} steady, {made:.3f} as made; the dancer kept {np.median(kept):.3f} / "
          f"{np.median(kept_made):.3f}")
    assert np.median(kept) > np.median(kept_made) - 0.02, (np.median(kept), np.median(kept_made))
