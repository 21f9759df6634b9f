"""Batch mode on a real local Ray instance (127.0.0.1, 2 CPUs), started once for the module."""
from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from batch_helpers import PHOTOS, assert_video_like_source, leftovers, make_tree, manifest_lines, psnr
from vidbokeh.batch import BatchSettings, SegmentPlan, run_batch
from vidbokeh.batch.runner import WORK_FOLDER
from vidbokeh.engine import EffectSettings

SELFIE = EffectSettings(approach="selfie")


@pytest.fixture(scope="module")
def ray_instance():
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # bind to 127.0.0.1 (see ray_engine.py)
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'vidbokeh[ray]')")
    ray.init(address="local", num_cpus=2, include_dashboard=False, object_store_memory=96 * 1024**2,
             log_to_driver=False)
    try:
        assert ray.util.get_node_ip_address() == "127.0.0.1"
        yield ray
    finally:
        ray.shutdown()


def _ray(workers: int = 2) -> BatchSettings:
    return BatchSettings(engine="ray", workers=workers, segments=SegmentPlan(segment_seconds=2.0))


def test_ray_outputs_equal_the_local_engines_and_a_rerun_skips_everything(ray_instance, tmp_path, samples_dir):
    import av

    src = make_tree(tmp_path / "in", samples_dir)
    local = run_batch([src], tmp_path / "local", SELFIE, BatchSettings(segments=SegmentPlan(segment_seconds=2.0)))
    remote = run_batch([src], tmp_path / "ray", SELFIE, _ray())
    assert local.count("done") == remote.count("done") == 3
    assert remote.workers == 2
    for name in PHOTOS:
        out = Path("photos") / name.replace(".jpg", "_bokeh.jpg")
        with av.open(str(tmp_path / "local" / out)) as a, av.open(str(tmp_path / "ray" / out)) as b:
            assert psnr(next(a.decode(video=0)).to_ndarray(format="rgb24"),
                        next(b.decode(video=0)).to_ndarray(format="rgb24")) >= 40
    assert_video_like_source(tmp_path / "ray" / "clip_bokeh.mp4", src / "clip.mp4")
    assert_video_like_source(tmp_path / "local" / "clip_bokeh.mp4", src / "clip.mp4")
    entries = manifest_lines(tmp_path / "ray")
    assert {e["engine"] for e in entries} == {"ray"} and all(e["status"] == "done" for e in entries)
    assert leftovers(tmp_path / "ray") == []

    again = run_batch([src], tmp_path / "ray", SELFIE, _ray())
    assert again.count("skipped") == 3 and again.frames == 0


def test_a_worker_killed_mid_item_loses_nothing(ray_instance, tmp_path, samples_dir):
    src = make_tree(tmp_path / "in", samples_dir, seconds=6.0, size=(160, 120))
    out = tmp_path / "out"
    running = out / WORK_FOLDER / "running"
    box: dict = {}

    def batch() -> None:
        try:
            box["report"] = run_batch([src], out, SELFIE, _ray())
        except BaseException as exc:  # carried to the test's thread
            box["error"] = exc

    thread = threading.Thread(target=batch, name="batch")
    thread.start()
    victim = None
    deadline = time.monotonic() + 240
    while victim is None and thread.is_alive() and time.monotonic() < deadline:
        for marker in sorted(running.glob("0-*.json")) if running.is_dir() else []:  # a segment of clip.mp4
            try:
                victim = json.loads(marker.read_text())
            except (OSError, ValueError):  # being written or just removed
                continue
            os.kill(victim["pid"], signal.SIGKILL)
            # the marker is removed when the unit ends; a dead worker cannot remove it: mid-item
            assert marker.exists()
            break
        time.sleep(0.02)  # polling interval of the wait for a worker to start a segment
    thread.join(timeout=300)
    assert not thread.is_alive()
    assert "error" not in box, box.get("error")
    assert victim is not None, "no worker was seen on a segment"
    report = box["report"]
    assert report.exit_code == 0 and report.count("done") == 3
    assert_video_like_source(out / "clip_bokeh.mp4", src / "clip.mp4")
    video = next(e for e in manifest_lines(out) if e["kind"] == "video")
    assert video["frames"] == 180 and video["segments"] == 3
    assert f"{victim['host']}:{victim['pid']}" not in video["workers"]  # the killed unit was redone elsewhere
    assert leftovers(out) == []
