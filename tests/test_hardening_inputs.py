"""Hardening (issue 6): whatever input users throw at the CLI fails cleanly or is processed, never a traceback.

Every case goes through ``vidbokeh.cli.run`` in-process (``--approach selfie`` unless the case is about models):
bad inputs exit 3 (models 4) with exactly one ``vidbokeh: error:`` line naming the file; damaged videos are
processed up to every decodable frame with the loss reported and the surviving audio kept; odd images and
videos come out with their size, orientation, bit depth and timing intact.
"""
from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from PIL import Image

from media_factory import (
    audio_packets,
    corrupt_copy,
    decoded_video,
    make_audio_only,
    make_clip,
    make_zero_frame_video,
    truncate_copy,
)
from cli_helpers import cli, error_line
from vidbokeh.media.sources import FileSource

SELFIE = ["--approach", "selfie"]




def summary_line(err: str) -> str:
    lines = [ln for ln in err.replace("\r", "\n").splitlines() if ln.startswith("vidbokeh: ") and "frames" in ln
             and "frame/s" not in ln]
    assert lines, err
    return lines[-1]


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if "partial" in p.name)


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("inputs")
    clip_mkv = make_clip(d / "clip.mkv", width=64, height=48, frames=30)
    clip_mp4 = make_clip(d / "clip.mp4", width=64, height=48, frames=30)
    clip_fast = make_clip(d / "fast.mp4", width=64, height=48, frames=30, faststart=True)
    (d / "empty.mp4").write_bytes(b"")
    (d / "text.mp4").write_text("this is a text file, not a video\n" * 20)
    (d / "folder.mp4").mkdir()
    return {
        "clip_mkv": clip_mkv,
        "clip_mp4": clip_mp4,
        "missing": d / "no-such-file.mp4",
        "folder": d / "folder.mp4",
        "empty": d / "empty.mp4",
        "text": d / "text.mp4",
        "audio_only": make_audio_only(d / "audio.m4a"),
        "zero_frames": make_zero_frame_video(d / "zero.mkv"),
        "cut_mp4_no_index": truncate_copy(clip_mp4, d / "cut_noindex.mp4"),
        "cut_mkv": truncate_copy(clip_mkv, d / "cut.mkv"),
        "cut_mp4_faststart": truncate_copy(clip_fast, d / "cut_fast.mp4"),
        "corrupt_mkv": corrupt_copy(clip_mkv, d / "corrupt.mkv", seed=1),
        "corrupt_mp4": corrupt_copy(clip_mp4, d / "corrupt.mp4", seed=0),
    }


# ----------------------------------------------------------------------------- unusable video inputs


@pytest.mark.parametrize("case, words", [
    ("missing", "no such file"),
    ("folder", "folder"),
    ("empty", "empty"),
    ("text", "not a readable media file"),
    ("audio_only", "audio-only"),
    ("zero_frames", "no decodable video frames"),
    ("cut_mp4_no_index", "not a readable media file"),  # MP4 cut before its index: nothing can be read
])
def test_unusable_video_is_exit_3_with_one_line_naming_it(media, tmp_path, capsys, case, words):
    out = tmp_path / "out.mp4"
    code, err = cli(["file", media[case], out, *SELFIE], capsys)
    assert code == 3
    line = error_line(err)
    assert str(media[case]) in line and words in line
    assert list(tmp_path.iterdir()) == []  # nothing written, not even a temporary file


# ----------------------------------------------------------------------------- damaged but usable video


def _decodable(path: Path) -> tuple[int, int, int | None]:
    """(frames our source decodes, packets it saw failing, frames announced and not decoded)."""
    with FileSource(path) as source:
        n = sum(1 for _ in source)
        return n, source.skipped, source.missing


@pytest.mark.parametrize("case, total", [
    ("cut_mkv", 30), ("cut_mp4_faststart", 30), ("corrupt_mkv", 30), ("corrupt_mp4", 30),
])
def test_damaged_video_keeps_every_decodable_frame_reports_the_loss_and_keeps_audio(media, tmp_path, capsys,
                                                                                     case, total):
    src = media[case]
    out = tmp_path / "out.mp4"
    code, err = cli(["file", src, out, *SELFIE], capsys)
    assert code == 0, err
    assert "Traceback" not in err
    decodable, _, _ = _decodable(src)
    assert 5 <= decodable < total  # the damage really cost frames, and some survived
    pts, _, size = decoded_video(out)
    assert len(pts) == decodable and size == (64, 48)
    # the loss is counted and said: "N undecodable frames skipped" (about N when the container has no count)
    line = summary_line(err)
    match = re.search(r"(about )?(\d+) undecodable frames skipped", line)
    assert match, line
    lost = int(match.group(2))
    assert abs(lost - (total - decodable)) <= (1 if match.group(1) else 0), line
    # the audio that survives is kept, copied packet for packet from the damaged input: a real share of the
    # undamaged clip's packets, each one a packet of the input
    undamaged = media["clip_mkv" if src.suffix == ".mkv" else "clip_mp4"]
    kept, readable = audio_packets(out), {payload for _, payload in audio_packets(src)}
    assert len(kept) >= 0.3 * len(audio_packets(undamaged)) * decodable / total
    assert all(payload in readable for _, payload in kept)
    assert leftovers(tmp_path) == []


def test_cut_input_says_it_ends_early(media, tmp_path, capsys):
    code, err = cli(["file", media["cut_mkv"], tmp_path / "out.mkv", *SELFIE], capsys)
    assert code == 0
    assert "ends early" in summary_line(err)


# ----------------------------------------------------------------------------- unusual but valid video


def test_odd_sized_video_keeps_its_exact_size(tmp_path, capsys):
    src = make_clip(tmp_path / "odd.mp4", width=63, height=47, frames=6)
    code, err = cli(["file", src, tmp_path / "out.mp4", *SELFIE], capsys)
    assert code == 0, err
    pts, _, size = decoded_video(tmp_path / "out.mp4")
    assert size == (63, 47) and len(pts) == 6


def test_ten_bit_video_is_processed_and_stays_ten_bit(tmp_path, capsys):
    src = make_clip(tmp_path / "ten.mp4", pix_fmt="yuv420p10le", frames=6)
    code, err = cli(["file", src, tmp_path / "out.mp4", *SELFIE], capsys)
    assert code == 0, err
    with av.open(str(tmp_path / "out.mp4")) as c:
        frame = next(c.decode(video=0))
        assert "10" in frame.format.name
        assert c.streams.video[0].frames == 6


def test_variable_frame_rate_keeps_every_timestamp(tmp_path, capsys):
    pts = [0, 33, 70, 90, 140, 200, 210, 260, 300, 370, 380, 450]
    src = make_clip(tmp_path / "vfr.mp4", pts=pts, time_base=Fraction(1, 1000))
    code, err = cli(["file", src, tmp_path / "out.mp4", *SELFIE], capsys)
    assert code == 0, err
    out_pts, tb, _ = decoded_video(tmp_path / "out.mp4")
    assert [round(float(p * tb) * 1000) for p in out_pts] == pts
    assert "undecodable" not in summary_line(err)  # irregular timing is not damage


def test_phone_video_with_rotation_metadata_keeps_it(tmp_path, capsys):
    src = make_clip(tmp_path / "phone.mp4", width=64, height=48, frames=6, rotation=-90)
    code, err = cli(["file", src, tmp_path / "out.mp4", *SELFIE], capsys)
    assert code == 0, err
    with av.open(str(tmp_path / "out.mp4")) as c:
        frame = next(c.decode(video=0))
        assert (frame.width, frame.height) == (64, 48) and frame.rotation == -90


# ----------------------------------------------------------------------------- images


def _rgb(w: int, h: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:h, 0:w]
    base = np.stack([xs * 255 // max(w - 1, 1), ys * 255 // max(h - 1, 1), (xs + ys) % 256], -1)
    return np.clip(base + rng.integers(-20, 20, base.shape), 0, 255).astype(np.uint8)


def _save_exif_rotated(path: Path) -> None:
    im = Image.fromarray(_rgb(64, 48))
    exif = im.getexif()
    exif[0x0112] = 6  # rotate 90 CW to display
    im.save(path, exif=exif)


IMAGE_MAKERS = {
    "1x1.png": lambda p: Image.fromarray(_rgb(1, 1)).save(p),
    "7x5.jpg": lambda p: Image.fromarray(_rgb(7, 5)).save(p),
    "grey.png": lambda p: Image.fromarray(_rgb(64, 48)).convert("L").save(p),
    "grey16.png": lambda p: Image.fromarray((_rgb(64, 48)[..., 0].astype(np.uint16) * 257)).save(p),
    "rgb16.png": lambda p: cv2.imwrite(str(p), _rgb(64, 48).astype(np.uint16) * 257),
    "rgba.png": lambda p: Image.fromarray(np.dstack([_rgb(64, 48), np.full((48, 64), 200, np.uint8)]), "RGBA").save(p),
    "cmyk.jpg": lambda p: Image.fromarray(_rgb(64, 48)).convert("CMYK").save(p),
    "exif6.jpg": _save_exif_rotated,
}


@pytest.mark.parametrize("name", list(IMAGE_MAKERS))
def test_unusual_images_come_out_alike(tmp_path, capsys, name):
    src = tmp_path / name
    IMAGE_MAKERS[name](src)
    code, err = cli(["image", src, *SELFIE], capsys)
    assert code == 0, err
    out = src.with_name(f"{src.stem}_bokeh{src.suffix}")
    res = Image.open(out)
    shown = Image.open(src)
    if name == "exif6.jpg":
        assert res.size == (48, 64)  # rotation applied: the output is upright...
        assert res.getexif().get(0x0112, 1) == 1  # ...and not rotated a second time by viewers
    else:
        assert res.size == shown.size
    if name == "grey.png":
        assert res.mode == "L"
    if name == "grey16.png":
        assert res.mode.startswith("I")  # 16-bit grey stays 16-bit
    if name == "rgb16.png":
        assert cv2.imread(str(out), cv2.IMREAD_UNCHANGED).dtype == np.uint16
    if name == "rgba.png":
        assert res.mode == "RGBA" and np.all(np.asarray(res)[..., 3] == 200)  # alpha kept as it was


@pytest.mark.parametrize("case, words", [
    ("missing", "no such file"),
    ("empty", "empty"),
    ("text", "not an image"),
    ("empty_folder", "holds no images"),
])
def test_unusable_images_are_exit_3_with_one_line(tmp_path, capsys, case, words):
    paths = {"missing": tmp_path / "nope.jpg", "empty": tmp_path / "empty.jpg", "text": tmp_path / "text.jpg",
             "empty_folder": tmp_path / "folder"}
    paths["empty"].write_bytes(b"")
    paths["text"].write_text("hello")
    paths["empty_folder"].mkdir()
    code, err = cli(["image", paths[case], *SELFIE], capsys)
    assert code == 3
    line = error_line(err)
    assert str(paths[case]) in line and words in line


HUGE_PEAK_LIMIT_MB = 3500  # the decoded 96 MP image is 275 MB; a handful of full-size planes fit in this
# (processed at full size it peaked at 7.7 GB: the blur and the mask build float planes of 16 B/px)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")  # our own check of the result
def test_huge_image_memory_stays_bounded(tmp_path):
    src = tmp_path / "huge.jpg"
    img = np.zeros((8000, 12000, 3), np.uint8)
    img[..., 0] = (np.arange(12000) * 255 // 12000).astype(np.uint8)[None, :]
    img[..., 1] = (np.arange(8000) * 255 // 8000).astype(np.uint8)[:, None]
    cv2.circle(img, (6000, 4500), 2500, (200, 150, 120), -1)
    cv2.imwrite(str(src), img, [cv2.IMWRITE_JPEG_QUALITY, 80])
    del img
    child = ("import sys; from vidbokeh.cli import run; code = run(sys.argv[1:]); "
             "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0]; "
             "print(code, int(hwm.split()[1]) // 1024)")
    proc = subprocess.run([sys.executable, "-c", child, "image", str(src), *SELFIE], capture_output=True,
                          text=True, timeout=600)
    code, peak_mb = (int(v) for v in proc.stdout.split()[-2:])
    assert code == 0, proc.stderr[-2000:]
    result = Image.open(tmp_path / "huge_bokeh.jpg")
    assert result.size == (12000, 8000)
    assert peak_mb <= HUGE_PEAK_LIMIT_MB
    # the background was blurred at reduced size and still is blurred at full size
    corner = np.asarray(result.crop((0, 0, 1500, 1500)).convert("L"), np.float32)
    before = np.asarray(Image.open(src).crop((0, 0, 1500, 1500)).convert("L"), np.float32)
    assert np.abs(np.diff(corner, axis=1)).mean() <= np.abs(np.diff(before, axis=1)).mean() + 0.5


# ----------------------------------------------------------------------------- models


def _synth_state(reference_dir: Path, folder: str) -> dict:
    import torch

    spec = importlib.util.spec_from_file_location("synth_weights", reference_dir / "synth_weights.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("synth_weights", module)
    spec.loader.exec_module(module)
    state_spec = json.loads((reference_dir / folder / "spec.json").read_text())
    return {k: torch.from_numpy(np.array(v)) for k, v in module.synth_state_dict(state_spec).items()}


@pytest.fixture()
def real_segmenter() -> Path | None:
    """The MediaPipe segmenter in the real store (read before offline_home moves the store)."""
    from vidbokeh.stages.assets import SELFIE_SEGMENTER, cached_model

    return cached_model(SELFIE_SEGMENTER)


@pytest.fixture()
def offline_home(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("VIDBOKEH_HOME", str(home))
    monkeypatch.setenv("VIDBOKEH_OFFLINE", "1")
    return home


@pytest.fixture()
def still(tmp_path) -> Path:
    path = tmp_path / "still.png"
    Image.fromarray(_rgb(64, 48)).save(path)
    return path


def test_offline_with_nothing_cached_says_where_to_put_the_weights(offline_home, still, capsys):
    code, err = cli(["image", still, "--approach", "depth_anything"], capsys)
    assert code == 4
    line = error_line(err)
    assert "https://" in line and str(offline_home) in line and "--weights" in line
    assert not still.with_name("still_bokeh.png").exists()


def _says_what_to_do(line: str) -> bool:
    return any(w in line for w in ("models fetch", "--weights", "delete", "download"))


def test_corrupt_cached_depth_weights_are_a_model_error_saying_what_to_do(offline_home, still, capsys):
    from vidbokeh.depth import get_variant
    from vidbokeh.depth.catalog import remote_file
    from vidbokeh.store import store_path

    cached = store_path(remote_file(get_variant("depth_anything_v2_vits")))
    offline_home.mkdir()
    cached.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    code, err = cli(["image", still, "--approach", "depth_anything"], capsys)
    assert code == 4
    line = error_line(err)
    assert str(cached) in line and "corrupt" in line and _says_what_to_do(line)


def test_mediapipe_model_with_a_hash_mismatch_is_named_as_damaged(real_segmenter, offline_home, still, capsys):
    from vidbokeh.stages.assets import SELFIE_SEGMENTER
    from vidbokeh.store import store_path

    good = real_segmenter
    if good is None:
        pytest.skip("the MediaPipe segmenter is not cached on this machine")
    offline_home.mkdir()
    damaged = store_path(SELFIE_SEGMENTER.mirror)
    data = bytearray(good.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte: still a TFLite file, wrong hash
    damaged.write_bytes(bytes(data))
    code, err = cli(["image", still, *SELFIE], capsys)
    assert code == 4
    line = error_line(err)
    assert str(damaged) in line and ("SHA-256" in line or "damaged" in line or "corrupt" in line)
    assert _says_what_to_do(line) or "online" in line


@pytest.mark.parametrize("kind", ["truncated", "garbage"])
def test_corrupt_weights_file_given_with_weights_is_a_model_error(offline_home, still, reference_dir, tmp_path,
                                                                   capsys, kind):
    import torch

    good = tmp_path / "good.pth"
    torch.save(_synth_state(reference_dir, "dav2_vits"), good)
    bad = tmp_path / f"{kind}.pth"
    bad.write_bytes(good.read_bytes()[: good.stat().st_size // 2] if kind == "truncated" else b"<html>404</html>")
    code, err = cli(["image", still, "--approach", "depth_anything", "--weights", bad], capsys)
    assert code == 4
    line = error_line(err)
    assert str(bad) in line and "corrupt" in line and _says_what_to_do(line)


def test_weights_of_another_variant_name_the_variant(offline_home, still, reference_dir, tmp_path, capsys):
    import torch

    other = tmp_path / "vitb.pth"
    torch.save(_synth_state(reference_dir, "dav2_vitb"), other)
    code, err = cli(["image", still, "--approach", "depth_anything", "--model", "depth_anything_v2_vits",
                     "--weights", other], capsys)
    assert code == 4
    line = error_line(err)
    assert "depth_anything_v2_vits" in line and "--model depth_anything_v2_vitb" in line  # what to do


# ----------------------------------------------------------------------------- found by the fuzz test
# Broken audio track headers (no sample rate/channels, duplicated by a spliced MKV header; AAC without its
# decoder config after a flipped bit in a MOV's esds) made the muxer refuse the output: exit 5 'write failed'.


@pytest.mark.parametrize("suffix, other, kind, seed, out_suffix", [
    (".mkv", ".mp4", "splice", 174, ".mp4"),  # two extra AAC tracks with sample rate 0
    (".mov", ".mov", "bitflip", 32, ".mkv"),  # AAC with no extradata
])
def test_broken_audio_track_headers_do_not_sink_the_output(tmp_path, capsys, suffix, other, kind, seed, out_suffix):
    import random

    from test_fuzz import corrupt

    clip = make_clip(tmp_path / f"clip{suffix}", width=64, height=48, frames=10, gop=5)
    other_clip = make_clip(tmp_path / f"other{other}", width=64, height=48, frames=10, gop=5)
    src = tmp_path / f"damaged{suffix}"
    src.write_bytes(corrupt(clip.read_bytes(), other_clip.read_bytes(), kind, random.Random(f"{suffix}-{kind}-{seed}")))
    with av.open(str(src)) as c:
        audio = [st.codec_context for st in c.streams.audio]
        if not any(cc.sample_rate == 0 or not cc.extradata for cc in audio):
            pytest.skip("this encoder build did not reproduce the broken track header")
    out = tmp_path / f"out{out_suffix}"
    code, err = cli(["file", src, out, *SELFIE], capsys)
    assert code == 0, err
    assert len(decoded_video(out)[0]) >= 5


def test_names_with_spaces_and_accents_work(tmp_path, capsys):
    folder = tmp_path / "vidéos d'été"
    folder.mkdir()
    src = make_clip(folder / "my clip (1) – ünïcode.mp4", width=64, height=48, frames=5)
    out = folder / "résultat final.mkv"
    code, err = cli(["file", src, out, *SELFIE], capsys)
    assert code == 0, err
    assert len(decoded_video(out)[0]) == 5
