"""Batch mode on the local engine: discovery, manifest, keyframe segments and their join, reruns, failures."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from batch_helpers import assert_video_like_source, leftovers, make_tree, manifest_lines
from media_factory import audio_packets, decoded_video, make_clip
from vidbokeh.batch import BatchSettings, SegmentPlan, run_batch
from vidbokeh.batch.inputs import discover
from vidbokeh.batch.join import join_segments
from vidbokeh.batch.manifest import Entry, Manifest
from vidbokeh.batch.runner import resolved
from vidbokeh.batch.segments import plan_segments, scan
from vidbokeh.batch.units import Unit, WorkerJob
from vidbokeh.batch.worker import Worker
from vidbokeh.engine import EffectSettings
from vidbokeh.errors import InputError, InputNotFoundError

SELFIE = EffectSettings(approach="selfie")
TWO_SECONDS = BatchSettings(segments=SegmentPlan(segment_seconds=2.0))


def _touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    return path


# ------------------------------------------------------------------------------------------ inputs


def test_discovery_mirrors_the_tree_and_skips_our_own_files(tmp_path):
    shoot = tmp_path / "shoot"
    for rel in ("a/x.jpg", "b/x.jpg", "b/deep/clip.MOV", "x.png", "x_bokeh.png", "notes.txt", ".hidden/y.jpg",
                "a/.x.vidbokeh-partial-1234.jpg", "out/z_bokeh.jpg"):
        _touch(shoot / rel)
    items = discover([shoot], shoot / "out")
    got = {(i.relative, i.output.relative_to((shoot / "out").resolve()).as_posix(), i.kind) for i in items}
    assert got == {("a/x.jpg", "a/x_bokeh.jpg", "photo"), ("b/x.jpg", "b/x_bokeh.jpg", "photo"),
                   ("b/deep/clip.MOV", "b/deep/clip_bokeh.MOV", "video"), ("x.png", "x_bokeh.png", "photo")}
    # two folders side by side keep their names; a glob roots at its fixed part; duplicates count once
    items = discover([shoot / "a", shoot / "b", str(shoot / "*" / "*.jpg")], shoot / "out")
    assert [i.relative for i in items] == ["a/x.jpg", "b/x.jpg", "b/deep/clip.MOV"]
    assert len({i.output for i in items}) == len(items)


def test_discovery_errors_are_one_line(tmp_path):
    with pytest.raises(InputNotFoundError, match="no such file"):
        discover([tmp_path / "missing"], tmp_path / "out")
    with pytest.raises(InputNotFoundError, match="matches no file"):
        discover([str(tmp_path / "*.jpg")], tmp_path / "out")
    _touch(tmp_path / "empty" / "readme.txt")
    with pytest.raises(InputError, match="no photos or videos"):
        discover([tmp_path / "empty"], tmp_path / "out")


# ------------------------------------------------------------------------------------------ manifest


def test_manifest_keeps_the_latest_line_and_skips_a_torn_one(tmp_path):
    out_file = _touch(tmp_path / "a_bokeh.jpg")
    manifest = Manifest(tmp_path)
    manifest.append(Entry(input="a.jpg", output="a_bokeh.jpg", kind="photo", status="failed", settings_key="k1",
                          error="bad"))
    manifest.append(Entry(input="a.jpg", output="a_bokeh.jpg", kind="photo", status="done", settings_key="k1"))
    with open(tmp_path / "manifest.jsonl", "a") as fh:
        fh.write('{"input": "b.jpg", "outp')  # a run killed mid-line
    again = Manifest(tmp_path)
    assert again.torn_lines == 1
    assert again.is_done("a.jpg", "k1", out_file)
    assert not again.is_done("a.jpg", "k2", out_file)  # other settings: redo
    out_file.unlink()
    assert not again.is_done("a.jpg", "k1", out_file)  # output gone: redo
    assert not again.is_done("b.jpg", "k1", out_file)


# ------------------------------------------------------------------------------------------ segments


def test_segments_start_on_keyframes_and_warm_up_on_the_second_before(tmp_path):
    clip = make_clip(tmp_path / "c.mp4", frames=180, fps=30, gop=30, audio=False)  # 6 s, keyframe every 1 s
    found = scan(clip)
    assert found.frames == 180 and len(found.keyframes) == 6
    segments = plan_segments(found, SegmentPlan(segment_seconds=2.0, warmup_seconds=1.0))
    assert [s.frames for s in segments] == [60, 60, 60]
    assert [s.start_pts for s in segments[1:]] == [found.pts[60], found.pts[120]]
    assert all(s.start_pts in found.keyframes for s in segments[1:])
    assert segments[0].warmup_pts is None and [s.warmup_frames for s in segments[1:]] == [30, 30]
    assert [s.warmup_pts for s in segments[1:]] == [found.pts[30], found.pts[90]]
    assert len(plan_segments(found, SegmentPlan(segment_seconds=60.0))) == 1


def _decoded(path: Path) -> list[np.ndarray]:
    import av

    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def test_a_segment_join_is_frame_exact(tmp_path):
    clip = make_clip(tmp_path / "c.mp4", width=96, height=64, frames=120, fps=30, gop=30)
    found = scan(clip)
    segments = plan_segments(found, SegmentPlan(segment_seconds=2.0))
    assert len(segments) == 2
    job = WorkerJob(photo=resolved(SELFIE, video=False), video=resolved(SELFIE, video=True))
    parts = [tmp_path / f"part{seg.index}.mp4" for seg in segments]
    with Worker(job) as worker:
        for seg in reversed(segments):  # any order: a worker takes whatever unit it is sent
            result = worker.run(Unit(id=f"0:{seg.index}", item=0, kind="segment", source=str(clip),
                                     output=str(parts[seg.index]), segment=seg, frames=seg.frames))
            assert result.status == "done", result.error
            assert result.frames == seg.frames
        assert worker.loads == 1  # models loaded once, a fresh session per segment
    joined = tmp_path / "joined.mp4"
    assert join_segments(parts, joined, clip) == 120
    frames = _decoded(joined)
    expected = _decoded(parts[0]) + _decoded(parts[1])
    assert len(frames) == len(expected) == 120
    assert all(np.array_equal(a, b) for a, b in zip(frames, expected))  # packets copied: bit-exact
    assert decoded_video(joined)[0] == list(found.pts)
    assert audio_packets(joined) == audio_packets(clip)


# ------------------------------------------------------------------------------------------ whole batches


def test_local_batch_writes_mirrored_outputs_and_a_rerun_skips_everything(tmp_path, samples_dir):
    src = make_tree(tmp_path / "in", samples_dir)
    out = tmp_path / "out"
    seen = []
    report = run_batch([src], out, SELFIE, TWO_SECONDS, on_progress=seen.append)
    assert report.exit_code == 0 and report.count("done") == 3
    assert seen[-1].items_done == 3 and seen[-1].frames_done == seen[-1].frames_total == 122
    assert_video_like_source(out / "clip_bokeh.mp4", src / "clip.mp4")
    for name in ("davis2016_breakdance_00000_bokeh.jpg", "davis2016_parkour_00040_bokeh.jpg"):
        assert (out / "photos" / name).stat().st_size > 0
    lines = manifest_lines(out)
    assert {ln["input"] for ln in lines} == {"clip.mp4", "photos/davis2016_breakdance_00000.jpg",
                                             "photos/davis2016_parkour_00040.jpg"}
    video = next(ln for ln in lines if ln["kind"] == "video")
    assert video["status"] == "done" and video["frames"] == 120 and video["segments"] == 2
    assert video["settings"]["EffectSettings"]["approach"] == "selfie" and video["timings"]
    seams = video["flicker"]
    assert seams["joins"] == 1 and 0 < seams["at_joins"] <= 1.5 * seams["around"]  # no visible seam
    assert leftovers(out) == []

    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*_bokeh.*")}
    again = run_batch([src], out, SELFIE, TWO_SECONDS)
    assert again.count("skipped") == 3 and again.frames == 0
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*_bokeh.*")} == stamps
    assert len(manifest_lines(out)) == 3

    # other settings: the photos are redone
    redo = run_batch([src / "photos"], out / "photos", EffectSettings(approach="selfie", max_blur=0.02), TWO_SECONDS)
    assert redo.count("done") == 2


def test_a_failing_item_is_recorded_and_the_rest_go_on(tmp_path, samples_dir):
    src = tmp_path / "in"
    src.mkdir()
    (src / "broken.jpg").write_bytes(b"not a jpeg at all")
    (src / "broken.mp4").write_bytes(b"\x00" * 1000)
    make_clip(src / "ok.mp4", frames=15, fps=30, gop=30)
    out = tmp_path / "out"
    report = run_batch([src], out, SELFIE, TWO_SECONDS)
    status = {o.item.relative: o.status for o in report.outcomes}
    assert status == {"broken.jpg": "failed", "broken.mp4": "failed", "ok.mp4": "done"}
    assert report.exit_code == 3  # bad input
    failed = [ln for ln in manifest_lines(out) if ln["status"] == "failed"]
    assert {ln["input"] for ln in failed} == {"broken.jpg", "broken.mp4"}
    for ln in failed:
        assert ln["error"].startswith(str(src / ln["input"])) and "\n" not in ln["error"]
    assert not (out / "broken_bokeh.jpg").exists() and not (out / "broken_bokeh.mp4").exists()
    assert leftovers(out) == []
    # a rerun retries the failures only
    again = run_batch([src], out, SELFIE, TWO_SECONDS)
    assert {o.item.relative: o.status for o in again.outcomes}["ok.mp4"] == "skipped"
    assert again.count("failed") == 2


def test_an_interrupted_batch_resumes_with_the_segments_it_had(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    make_clip(src / "c.mp4", width=64, height=48, frames=180, fps=30, gop=30)  # three 2-s segments
    out = tmp_path / "out"

    class Stop(Exception):
        pass

    def stop_after_one_segment(progress) -> None:
        if progress.frames_done:
            raise Stop  # as a Ctrl-C would, after the first segment came back

    with pytest.raises(Stop):
        run_batch([src], out, SELFIE, TWO_SECONDS, on_progress=stop_after_one_segment)
    assert not (out / "c_bokeh.mp4").exists()
    again = run_batch([src], out, SELFIE, TWO_SECONDS)
    assert again.count("done") == 1 and again.frames == 120  # only the two missing segments were made
    assert_video_like_source(out / "c_bokeh.mp4", src / "c.mp4")
    assert leftovers(out) == []


# ------------------------------------------------------------------------------------------ command line


def test_cli_batch_runs_and_says_what_it_did(tmp_path, samples_dir, capsys):
    from cli_helpers import cli

    src = make_tree(tmp_path / "in", samples_dir, seconds=1.0)
    code, err = cli(["batch", src / "photos", str(src / "*.mp4"), "--out", tmp_path / "out", "--approach", "selfie",
                     "--segment-seconds", "2"], capsys)
    assert code == 0, err
    assert "3 done, 0 skipped" in err and "manifest.jsonl" in err
    assert (tmp_path / "out" / "photos" / "davis2016_parkour_00040_bokeh.jpg").exists()
    assert_video_like_source(tmp_path / "out" / "clip_bokeh.mp4", src / "clip.mp4")


@pytest.mark.parametrize("args, code, message", [
    (["batch", "{tmp}/missing", "--out", "{tmp}/out"], 3, "no such file or folder"),
    (["batch", "{tmp}", "--out", "{tmp}/out", "--ray-address", "127.0.0.1:1"], 2, "--ray-address needs --engine ray"),
    (["batch", "{tmp}", "--out", "{tmp}/out", "--segment-seconds", "0"], 2, "expected a number > 0"),
])
def test_cli_batch_errors_are_one_line(tmp_path, capsys, args, code, message):
    from cli_helpers import cli, error_line

    got, err = cli([a.format(tmp=tmp_path) for a in args], capsys)
    assert got == code
    assert message in error_line(err)


def test_cli_batch_takes_a_preset_and_flags_override_it(tmp_path, samples_dir, capsys):
    from cli_helpers import cli

    preset = tmp_path / "soft.json"
    preset.write_text(json.dumps({"schema": 1, "name": "soft", "settings": {"approach": "selfie", "max_blur": 0.01,
                                                                            "strategy": "face_aware"}}))
    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(samples_dir / "portraits" / "images" / "davis2016_parkour_00040.jpg", src / "p.jpg")
    code, err = cli(["batch", src, "--out", tmp_path / "out", "--preset", preset, "--strategy", "portrait"], capsys)
    assert code == 0, err
    effect = manifest_lines(tmp_path / "out")[0]["settings"]["EffectSettings"]
    assert (effect["approach"], effect["max_blur"], effect["strategy"]) == ("selfie", 0.01, "portrait")
