"""Image input/output: formats, bit depths, colour models, EXIF/ICC, errors, atomic writes."""
from __future__ import annotations

import errno
import io
import os
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageCms, ImageOps

from vidbokeh.errors import InputError, InputNotFoundError, OutputError
from vidbokeh.media import atomic, image_containers, image_types, images
from vidbokeh.media.images import expand_inputs, load_image, save_image

SRGB_ICC = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def asymmetric_rgb(width: int = 12, height: int = 8) -> np.ndarray:
    """Every pixel different, so any flip/rotation mistake shows."""
    ys, xs = np.mgrid[0:height, 0:width]
    return np.dstack([xs * 20 % 256, ys * 30 % 256, (xs + ys * width) % 256]).astype(np.uint8)


def exif_with(orientation: int | None = None, make: str = "vidbokeh-test") -> bytes:
    exif = Image.Exif()
    exif[0x010F] = make  # Make
    if orientation is not None:
        exif[0x0112] = orientation
    return exif.tobytes()


def no_temp_left(folder: Path) -> bool:
    return not any(".vidbokeh-partial" in p.name for p in folder.iterdir())


# ----------------------------------------------------------------------------- reading


def test_jpeg_round_trip_keeps_size_format_exif_and_icc(tmp_path):
    src = tmp_path / "photo.jpg"
    Image.fromarray(asymmetric_rgb(40, 30)).save(src, quality=95, exif=exif_with(), icc_profile=SRGB_ICC)
    img = load_image(src)
    assert img.format == "JPEG" and img.size == (40, 30) and img.bit_depth == 8 and img.color == "rgb"
    out = save_image(tmp_path / "photo_bokeh.jpg", img.rgb, img)
    with Image.open(out) as back:
        assert back.format == "JPEG" and back.size == (40, 30)
        assert back.getexif()[0x010F] == "vidbokeh-test"
        assert back.info["icc_profile"] == SRGB_ICC
    assert no_temp_left(tmp_path)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_applied_and_reset(tmp_path, orientation):
    src = tmp_path / f"o{orientation}.png"
    Image.fromarray(asymmetric_rgb()).save(src, exif=exif_with(orientation))
    with Image.open(src) as raw:
        expected = np.asarray(ImageOps.exif_transpose(raw).convert("RGB"))
    img = load_image(src)
    assert img.orientation == orientation
    np.testing.assert_array_equal(img.rgb, expected)
    out = save_image(tmp_path / f"o{orientation}_out.png", img.rgb, img)
    with Image.open(out) as back:
        assert back.getexif().get(0x0112, 1) == 1  # pixels are upright now: no double rotation
        assert back.getexif()[0x010F] == "vidbokeh-test"
        np.testing.assert_array_equal(np.asarray(back.convert("RGB")), expected)


def test_grey_stays_grey(tmp_path):
    src = tmp_path / "grey.png"
    grey = asymmetric_rgb()[..., 2]
    Image.fromarray(grey).save(src)
    img = load_image(src)
    assert img.color == "grey" and img.rgb.shape == (8, 12, 3)
    assert np.array_equal(img.rgb[..., 0], grey) and np.array_equal(img.rgb[..., 1], grey)
    out = save_image(tmp_path / "grey_out.png", img.rgb, img)
    with Image.open(out) as back:
        assert back.mode == "L"
        np.testing.assert_array_equal(np.asarray(back), grey)


def test_16bit_grey_kept_exactly(tmp_path):
    src = tmp_path / "g16.png"
    grey16 = (np.arange(96, dtype=np.uint32).reshape(8, 12) * 673 % 65536).astype(np.uint16)
    Image.fromarray(grey16).save(src)
    img = load_image(src)
    assert img.bit_depth == 16 and img.color == "grey" and img.rgb.dtype == np.uint8
    out = save_image(tmp_path / "g16_out.png", img.rgb, img)
    with Image.open(out) as back:
        assert back.mode.startswith("I")
        np.testing.assert_array_equal(np.asarray(back).astype(np.uint16), grey16)


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_16bit_rgb_unchanged_pixels_keep_16_bits(tmp_path, suffix):
    rgb16 = (np.random.default_rng(1).integers(0, 65536, (8, 12, 3))).astype(np.uint16)
    src = tmp_path / f"c16{suffix}"
    cv2.imwrite(str(src), cv2.cvtColor(rgb16, cv2.COLOR_RGB2BGR))
    img = load_image(src)
    assert img.bit_depth == 16 and img.rgb16 is not None
    np.testing.assert_array_equal(img.rgb16, rgb16)
    edited = img.rgb.copy()
    edited[0, 0] = (1, 2, 3)  # the "effect" changed one pixel
    out = save_image(tmp_path / f"c16_out{suffix}", edited, img)
    back = cv2.cvtColor(cv2.imread(str(out), cv2.IMREAD_UNCHANGED), cv2.COLOR_BGR2RGB)
    assert back.dtype == np.uint16
    np.testing.assert_array_equal(back[1:], rgb16[1:])  # untouched: bit-exact 16-bit
    np.testing.assert_array_equal(back[0, 0], np.array([1, 2, 3]) * 257)  # changed: 8-bit widened


def test_16bit_png_keeps_icc_and_exif(tmp_path):
    rgb16 = (np.random.default_rng(2).integers(0, 65536, (6, 5, 3))).astype(np.uint16)
    plain = tmp_path / "plain16.png"
    cv2.imwrite(str(plain), cv2.cvtColor(rgb16, cv2.COLOR_RGB2BGR))
    # add metadata chunks to the 16-bit PNG with our own chunk writer, then read them back via Pillow
    src = tmp_path / "meta16.png"
    src.write_bytes(image_containers.png_with_metadata(plain.read_bytes(), exif_with(6), SRGB_ICC))
    img = load_image(src)
    assert img.bit_depth == 16 and img.orientation == 6 and img.icc_profile == SRGB_ICC
    np.testing.assert_array_equal(img.rgb16, np.rot90(rgb16, -1))
    out = save_image(tmp_path / "meta16_out.png", img.rgb, img)
    with Image.open(out) as back:
        assert back.info.get("icc_profile") == SRGB_ICC
        assert back.getexif().get(0x0112) == 1 and back.getexif()[0x010F] == "vidbokeh-test"


@pytest.mark.parametrize("alpha", [False, True])
def test_16bit_tiff_keeps_icc_exif_and_alpha(tmp_path, alpha):
    rng = np.random.default_rng(3)
    pixels = rng.integers(0, 65536, (9, 7, 4 if alpha else 3)).astype(np.uint16)
    exif = Image.Exif()
    exif[0x010F] = "vidbokeh-test"
    exif.get_ifd(0x8769)[0x829A] = (1, 250)  # ExposureTime, in the Exif sub-directory
    like = images.LoadedImage(
        path=tmp_path / "virtual.tif", rgb=image_types.to_uint8(pixels[..., :3]),
        alpha=image_types.to_uint8(pixels[..., 3]) if alpha else None, bit_depth=16, color="rgb",
        mode="RGBA" if alpha else "RGB", format="TIFF", exif=exif.tobytes(), icc_profile=SRGB_ICC,
        rgb16=pixels[..., :3], alpha16=pixels[..., 3] if alpha else None,
    )
    out = save_image(tmp_path / "out16.tif", like.rgb, like)
    loaded = load_image(out)
    assert loaded.bit_depth == 16 and loaded.icc_profile == SRGB_ICC
    np.testing.assert_array_equal(loaded.rgb16, pixels[..., :3])
    if alpha:
        np.testing.assert_array_equal(loaded.alpha16, pixels[..., 3])
    with Image.open(out) as back:
        assert back.getexif()[0x010F] == "vidbokeh-test"
        exposure = back.getexif().get_ifd(0x8769)[0x829A]
        assert (exposure[0] / exposure[1] if isinstance(exposure, tuple) else float(exposure)) == 1 / 250


@pytest.mark.parametrize("mode", ["RGB", "L", "RGBA"])
def test_8bit_tiff_from_a_camera_jpeg_keeps_its_exif_and_gps_directories(tmp_path, mode):
    """A camera JPEG's EXIF holds EXIF and GPS sub-directories; Pillow's libtiff encoder refuses them, and
    the TIFF written from such a photo failed. Pixels, ICC and every directory come through."""
    exif = Image.Exif()
    exif[0x010F] = "vidbokeh-test"
    exif.get_ifd(0x8769)[0x829A] = (1, 250)  # ExposureTime
    exif.get_ifd(0x8769)[0x9003] = "2026:12:03 10:00:00"  # DateTimeOriginal
    exif.get_ifd(0x8825)[0x0001] = "N"  # GPSLatitudeRef
    src = tmp_path / ("camera.png" if mode == "RGBA" else "camera.jpg")
    rgb = asymmetric_rgb(24, 16)
    picture = Image.fromarray(rgb).convert(mode) if mode != "RGBA" else Image.fromarray(
        np.dstack([rgb, np.full(rgb.shape[:2], 200, np.uint8)]))
    picture.save(src, exif=exif.tobytes(), icc_profile=SRGB_ICC)
    loaded = load_image(src)
    out = save_image(tmp_path / "out.tif", loaded.rgb, loaded)
    back_loaded = load_image(out)
    np.testing.assert_array_equal(back_loaded.rgb, loaded.rgb)
    assert back_loaded.is_grey == (mode == "L") and (back_loaded.alpha is not None) == (mode == "RGBA")
    assert back_loaded.icc_profile == SRGB_ICC
    with Image.open(out) as back:
        tags = back.getexif()
        assert tags[0x010F] == "vidbokeh-test"
        assert tags.get_ifd(0x8769)[0x9003] == "2026:12:03 10:00:00"
        assert tags.get_ifd(0x8825)[0x0001] == "N"
    assert cv2.imread(str(out)) is not None  # another reader agrees it is a TIFF


@pytest.mark.parametrize("suffix", [".png", ".webp", ".tif"])
def test_rgba_alpha_kept(tmp_path, suffix):
    rgba = np.dstack([asymmetric_rgb(), np.linspace(0, 255, 96).reshape(8, 12).astype(np.uint8)])
    src = tmp_path / f"a{suffix}"
    kwargs = {"lossless": True} if suffix == ".webp" else {}
    Image.fromarray(rgba).save(src, **kwargs)
    img = load_image(src)
    assert img.alpha is not None
    np.testing.assert_array_equal(img.alpha, rgba[..., 3])
    out = save_image(tmp_path / f"a_out{suffix}", img.rgb, img)
    with Image.open(out) as back:
        assert back.mode == "RGBA"
        if suffix != ".webp":  # lossy WebP output: alpha is kept but may round
            np.testing.assert_array_equal(np.asarray(back)[..., 3], rgba[..., 3])


def test_rgba_to_jpeg_drops_alpha_not_the_image(tmp_path):
    src = tmp_path / "a.png"
    Image.fromarray(np.dstack([asymmetric_rgb(), np.full((8, 12), 128, np.uint8)])).save(src)
    img = load_image(src)
    out = save_image(tmp_path / "a.jpg", img.rgb, img)
    with Image.open(out) as back:
        assert back.format == "JPEG" and back.mode == "RGB" and back.size == (12, 8)


def test_cmyk_is_converted_and_written_rgb(tmp_path):
    src = tmp_path / "cmyk.jpg"
    Image.fromarray(asymmetric_rgb(16, 16)).convert("CMYK").save(src, quality=95)
    img = load_image(src)
    assert img.color == "cmyk" and img.mode == "CMYK" and img.rgb.shape == (16, 16, 3)
    out = save_image(tmp_path / "cmyk_out.jpg", img.rgb, img)
    with Image.open(out) as back:
        assert back.mode == "RGB"


@pytest.mark.parametrize("size", [(1, 1), (7, 5)])
def test_tiny_images(tmp_path, size):
    src = tmp_path / f"tiny{size[0]}x{size[1]}.png"
    Image.fromarray(asymmetric_rgb(*size)).save(src)
    img = load_image(src)
    assert img.size == size
    out = save_image(tmp_path / "tiny_out.jpg", img.rgb, img)
    with Image.open(out) as back:
        assert back.size == size


def test_output_format_follows_extension(tmp_path):
    src = tmp_path / "in.jpg"
    Image.fromarray(asymmetric_rgb()).save(src)
    img = load_image(src)
    for suffix, fmt in [(".png", "PNG"), (".webp", "WEBP"), (".tiff", "TIFF")]:
        with Image.open(save_image(tmp_path / f"out{suffix}", img.rgb, img)) as back:
            assert back.format == fmt


def test_float_and_uint16_pixels_accepted(tmp_path):
    src = tmp_path / "in.png"
    Image.fromarray(asymmetric_rgb()).save(src)
    img = load_image(src)
    out = save_image(tmp_path / "f.png", img.rgb.astype(np.float32) / 255.0, img)
    np.testing.assert_array_equal(load_image(out).rgb, img.rgb)


def _png_header_only(path: Path, width: int, height: int) -> Path:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))
    return path


@pytest.mark.parametrize("width,height", [(13000, 12000), (40000, 40000)])
def test_decompression_bombs_refused(tmp_path, width, height):
    src = _png_header_only(tmp_path / "bomb.png", width, height)
    with pytest.raises(InputError, match="too large") as info:
        load_image(src)
    assert "bomb.png" in str(info.value) and "\n" not in str(info.value)


def test_96_megapixel_photo_is_accepted(tmp_path):
    # 12000x8000 is above Pillow's default bomb warning (89 MP) but a real camera size
    src = tmp_path / "big.jpg"
    Image.new("L", (12000, 8000), 90).save(src, quality=50)
    img = load_image(src)
    assert img.size == (12000, 8000) and img.rgb[4000, 6000, 0] == 90


def _text_as(path: Path) -> Path:
    path.write_text("this is not an image\n")
    return path


def _truncated_jpeg(path: Path) -> Path:
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(buf, "JPEG")
    path.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 3])
    return path


@pytest.mark.parametrize(
    "make,error",
    [
        (lambda d: d / "missing.jpg", InputNotFoundError),
        (lambda d: (d / "folder.jpg").mkdir() or d / "folder.jpg", InputError),
        (lambda d: (d / "empty.jpg").write_bytes(b"") and None or d / "empty.jpg", InputError),
        (lambda d: _text_as(d / "text.jpg"), InputError),
        (lambda d: _truncated_jpeg(d / "cut.jpg"), InputError),
    ],
    ids=["missing", "folder", "empty", "not-an-image", "truncated"],
)
def test_bad_inputs_fail_with_one_line(tmp_path, make, error):
    path = make(tmp_path)
    with pytest.raises(error) as info:
        load_image(path)
    message = str(info.value)
    assert path.name in message and "\n" not in message
    assert info.value.exit_code == 3


# ----------------------------------------------------------------------------- writing


@pytest.fixture
def loaded(tmp_path):
    src = tmp_path / "in.jpg"
    Image.fromarray(asymmetric_rgb()).save(src)
    return load_image(src)


def test_output_equal_to_input_always_refused(tmp_path, loaded):
    before = loaded.path.read_bytes()
    for overwrite in (False, True):
        with pytest.raises(OutputError, match="same file as the input"):
            save_image(loaded.path, loaded.rgb, loaded, overwrite=overwrite)
    assert loaded.path.read_bytes() == before


def test_existing_output_needs_overwrite(tmp_path, loaded):
    out = tmp_path / "out.jpg"
    out.write_bytes(b"keep me")
    with pytest.raises(OutputError, match="already exists"):
        save_image(out, loaded.rgb, loaded)
    assert out.read_bytes() == b"keep me"
    save_image(out, loaded.rgb, loaded, overwrite=True)
    assert load_image(out).size == loaded.size


def test_missing_destination_folder(tmp_path, loaded):
    with pytest.raises(OutputError, match="does not exist"):
        save_image(tmp_path / "nope" / "out.jpg", loaded.rgb, loaded)


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root ignores permissions")
def test_read_only_destination_folder(tmp_path, loaded):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        with pytest.raises(OutputError, match="not writable"):
            save_image(ro / "out.jpg", loaded.rgb, loaded)
    finally:
        ro.chmod(0o700)


def test_read_only_destination_as_seen_by_the_os(tmp_path, loaded, monkeypatch):
    # runs as root too (root ignores mode bits): the folder reports no write access
    ro = tmp_path / "ro"
    ro.mkdir()
    real_access = os.access
    monkeypatch.setattr(atomic.os, "access", lambda p, mode: False if Path(p) == ro else real_access(p, mode))
    with pytest.raises(OutputError, match="not writable"):
        save_image(ro / "out.jpg", loaded.rgb, loaded)
    assert list(ro.iterdir()) == []


def test_unsupported_extension(tmp_path, loaded):
    with pytest.raises(OutputError, match="unsupported output extension"):
        save_image(tmp_path / "out.gif", loaded.rgb, loaded)


def test_write_failure_leaves_nothing(tmp_path, loaded, monkeypatch):
    def full_disk(fd):  # the bytes went to the temporary file; the disk refuses to keep them
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic.os, "fsync", full_disk)
    with pytest.raises(OutputError, match="No space left"):
        save_image(tmp_path / "out.jpg", loaded.rgb, loaded)
    assert not (tmp_path / "out.jpg").exists()
    assert no_temp_left(tmp_path)


# ----------------------------------------------------------------------------- batches


def test_expand_inputs_sorted_deterministic(tmp_path):
    folder = tmp_path / "batch"
    folder.mkdir()
    for name in ["b.png", "a.JPG", "c.webp", "notes.txt", ".hidden.jpg", "d.tiff"]:
        (folder / name).write_bytes(b"x")
    (folder / "sub").mkdir()
    extra = tmp_path / "z.jpg"
    extra.write_bytes(b"x")
    found = expand_inputs([folder, extra, folder / "b.png"])
    assert [p.name for p in found] == ["a.JPG", "b.png", "c.webp", "d.tiff", "z.jpg"]
    with pytest.raises(InputNotFoundError):
        expand_inputs([tmp_path / "missing"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no images"):
        expand_inputs([tmp_path / "empty"])


# ----------------------------------------------------------------------------- in memory


@pytest.mark.parametrize("suffix", [".jpg", ".png", ".webp", ".tif"])
def test_bytes_in_and_out_match_the_file_path(tmp_path, suffix):
    src = tmp_path / f"photo{suffix}"
    Image.fromarray(asymmetric_rgb()).save(src, exif=exif_with(6), icc_profile=SRGB_ICC)
    from_file, from_bytes = load_image(src), images.read_image(src.read_bytes())
    assert from_bytes.path is None and from_file.path == src
    np.testing.assert_array_equal(from_bytes.rgb, from_file.rgb)
    assert (from_bytes.format, from_bytes.exif, from_bytes.icc_profile, from_bytes.orientation) == \
        (from_file.format, from_file.exif, from_file.icc_profile, 6)
    edited = from_file.rgb.copy()
    edited[2:5] //= 3
    written = images.write_image(tmp_path / f"out{suffix}", edited, from_file)
    encoded = images.encode_image(edited, suffix.lstrip("."), like=from_bytes)
    assert encoded == written.read_bytes()  # one encoder: the bytes a web page gets are the file's
    back = images.read_image(encoded)
    assert back.size == from_file.size and back.exif == from_file.exif and back.icc_profile == SRGB_ICC


def test_encode_plain_pixels_and_a_whole_loaded_image():
    rgb = asymmetric_rgb()
    png = images.encode_image(rgb, "PNG")
    np.testing.assert_array_equal(images.read_image(png).rgb, rgb)  # lossless, no metadata needed
    deep = rgb.astype(np.uint16) * 257 + 3
    back = images.read_image(images.encode_image(deep, "tiff"))
    assert back.bit_depth == 16
    np.testing.assert_array_equal(back.rgb16, deep)
    loaded = images.read_image(png)
    assert images.encode_image(loaded, ".png") == images.encode_image(loaded.rgb, "png", like=loaded)


def test_bad_bytes_and_formats_are_one_line_errors():
    with pytest.raises(InputError, match=r"^upload\.jpg: not an image"):
        images.read_image(b"definitely not a picture", name="upload.jpg")
    with pytest.raises(InputError, match=r"^image data: empty file"):
        images.read_image(b"")
    with pytest.raises(OutputError, match="unsupported image format 'gif'"):
        images.encode_image(asymmetric_rgb(), "gif")
