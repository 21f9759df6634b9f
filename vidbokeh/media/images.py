"""Still images in and out: JPEG, PNG, WebP, TIFF; 8/16-bit, grey, RGBA, CMYK; EXIF and ICC kept.

Processing always happens on `LoadedImage.rgb` (uint8 RGB, EXIF orientation
applied). 16-bit inputs also keep their full-precision pixels in `rgb16`, and
`save_image` writes 16-bit output from them where the effect left a pixel
unchanged (the subject stays bit-exact); changed pixels carry 8-bit precision.

Pillow reads 16-bit RGB(A) PNG/TIFF as 8-bit, so those are decoded with OpenCV;
they are written as PNG by OpenCV with iCCP/eXIf chunks added, and as TIFF by a
small writer here (deflate + predictor, ICC and EXIF tags kept).
"""
from __future__ import annotations

import os
import struct
import warnings
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image, ImageCms, TiffImagePlugin, UnidentifiedImageError

from vidbokeh.errors import InputError, InputNotFoundError, OutputError
from vidbokeh.media.atomic import AtomicOutput, check_output_path

#: Largest image accepted (pixels). Pillow's default bomb limit (~89 MP) would refuse a
#: 12000x8000 (96 MP) photo; 150 MP still refuses decompression bombs.
MAX_IMAGE_PIXELS = 150_000_000

FORMAT_BY_SUFFIX = {
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".png": "PNG",
    ".webp": "WEBP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
}
IMAGE_SUFFIXES = frozenset(FORMAT_BY_SUFFIX)
SUFFIX_BY_FORMAT = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp", "TIFF": ".tif"}
#: Formats that can hold 16 bits per channel (as written here).
SIXTEEN_BIT_FORMATS = frozenset({"PNG", "TIFF"})
ALPHA_FORMATS = frozenset({"PNG", "WEBP", "TIFF"})

_EXIF_ORIENTATION = 0x0112

ColorKind = Literal["grey", "rgb", "cmyk"]


@dataclass(frozen=True, eq=False)
class LoadedImage:
    """A decoded image ready for processing, plus what is needed to write it back alike."""

    path: Path
    rgb: np.ndarray  # uint8 HxWx3, orientation applied
    alpha: np.ndarray | None  # uint8 HxW, or None
    bit_depth: int  # 8 or 16 (per channel, of the original)
    color: ColorKind  # the original's colour model
    mode: str  # Pillow mode of the original ("L", "I;16", "RGB", "RGBA", "CMYK", "P", ...)
    format: str  # "JPEG", "PNG", "WEBP", "TIFF"
    exif: bytes | None  # orientation tag reset to 1 (already applied)
    icc_profile: bytes | None  # None when a CMYK profile was consumed by the conversion
    orientation: int = 1  # EXIF orientation that was applied
    rgb16: np.ndarray | None = None  # uint16 HxWx3 for 16-bit originals
    alpha16: np.ndarray | None = None  # uint16 HxW for 16-bit originals with alpha
    tiff_compression: str | None = None

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) as displayed."""
        return int(self.rgb.shape[1]), int(self.rgb.shape[0])

    @property
    def is_grey(self) -> bool:
        return self.color == "grey"


# --------------------------------------------------------------------------- helpers


def apply_orientation(array: np.ndarray, orientation: int) -> np.ndarray:
    """Turn pixels stored with EXIF `orientation` (1..8) into display orientation."""
    if orientation == 2:
        out = array[:, ::-1]
    elif orientation == 3:
        out = array[::-1, ::-1]
    elif orientation == 4:
        out = array[::-1]
    elif orientation == 5:
        out = array.swapaxes(0, 1)
    elif orientation == 6:
        out = np.rot90(array, k=-1)
    elif orientation == 7:
        out = array[::-1, ::-1].swapaxes(0, 1)
    elif orientation == 8:
        out = np.rot90(array, k=1)
    else:
        out = array
    return np.ascontiguousarray(out)


def _rawmode(img: Image.Image) -> str:
    if not img.tile:
        return ""
    args = img.tile[0].args
    if isinstance(args, tuple):
        return str(args[0]) if args else ""
    return str(args or "")


def _is_16bit_colour(img: Image.Image) -> bool:
    return img.format in SIXTEEN_BIT_FORMATS and img.mode in ("RGB", "RGBA") and ";16" in _rawmode(img)


def _exif_of(img: Image.Image) -> tuple[bytes | None, int]:
    """EXIF bytes with orientation reset to 1, and the orientation found."""
    try:
        exif = img.getexif()
    except Exception:  # malformed EXIF must not make the photo unusable
        return None, 1
    orientation = int(exif.get(_EXIF_ORIENTATION, 1) or 1)
    if orientation not in range(1, 9):
        orientation = 1
    if len(exif) == 0 and not exif.get_ifd(0x8769):
        return None, orientation
    if _EXIF_ORIENTATION in exif:
        exif[_EXIF_ORIENTATION] = 1
    try:
        return exif.tobytes(), orientation
    except Exception:
        return None, orientation


def _open(path: Path) -> Image.Image:
    if not path.exists():
        raise InputNotFoundError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a folder, expected an image file")
    try:
        if path.stat().st_size == 0:
            raise InputError(f"{path}: empty file")
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(path)
    except Image.DecompressionBombError as exc:
        raise InputError(f"{path}: image too large ({exc}); limit is {MAX_IMAGE_PIXELS} pixels") from exc
    except UnidentifiedImageError as exc:
        raise InputError(f"{path}: not an image (or a format not supported)") from exc
    except PermissionError as exc:
        raise InputError(f"{path}: permission denied") from exc
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc}") from exc
    width, height = img.size
    if width * height > MAX_IMAGE_PIXELS:
        img.close()
        raise InputError(
            f"{path}: image too large ({width}x{height} = {width * height / 1e6:.0f} MP; "
            f"limit {MAX_IMAGE_PIXELS / 1e6:.0f} MP)"
        )
    if img.format not in SUFFIX_BY_FORMAT:
        fmt = img.format
        img.close()
        raise InputError(f"{path}: unsupported image format {fmt} (JPEG, PNG, WebP, TIFF)")
    return img


def _read_16bit_colour(path: Path) -> np.ndarray:
    import cv2

    data = np.fromfile(path, dtype=np.uint8)
    arr = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)  # does not apply EXIF orientation
    if arr is None or arr.dtype != np.uint16 or arr.ndim != 3:
        raise InputError(f"{path}: cannot decode 16-bit image data")
    if arr.shape[2] == 4:
        return cv2.cvtColor(arr, cv2.COLOR_BGRA2RGBA)
    return cv2.cvtColor(arr, cv2.COLOR_BGR2RGB)


def _to_uint8(arr16: np.ndarray) -> np.ndarray:
    # Rounded 16->8 bit (x / 257), exact inverse of the 8->16 bit widening (x * 257).
    return ((arr16.astype(np.uint32) + 128) // 257).astype(np.uint8)


def _cmyk_to_rgb(img: Image.Image) -> tuple[Image.Image, bytes | None]:
    """CMYK -> RGB through its ICC profile when it has one (then tagged sRGB), else naively."""
    icc = img.info.get("icc_profile")
    if icc:
        try:
            import io

            src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            dst = ImageCms.createProfile("sRGB")
            rgb = ImageCms.profileToProfile(img, src, dst, outputMode="RGB")
            return rgb, ImageCms.ImageCmsProfile(dst).tobytes()
        except Exception:
            pass
    return img.convert("RGB"), None


# --------------------------------------------------------------------------- load


def load_image(path: str | os.PathLike[str]) -> LoadedImage:
    """Decode an image for processing. Raises InputNotFoundError / InputError (one line)."""
    p = Path(path)
    img = _open(p)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return _decode(p, img)
    except (InputError, InputNotFoundError):
        raise
    except MemoryError as exc:
        raise InputError(f"{p}: not enough memory to decode this image") from exc
    except (OSError, ValueError, SyntaxError, struct.error, EOFError) as exc:
        raise InputError(f"{p}: corrupt or truncated image ({exc})") from exc
    finally:
        img.close()


def _decode(path: Path, img: Image.Image) -> LoadedImage:
    fmt = str(img.format)
    mode = img.mode
    sixteen_bit_colour = _is_16bit_colour(img)  # before anything loads the pixels (tile info)
    exif, orientation = _exif_of(img)
    icc = img.info.get("icc_profile") or None
    compression = img.info.get("compression") if fmt == "TIFF" else None
    rgb16 = alpha16 = None
    alpha = None

    if sixteen_bit_colour:
        arr16 = _read_16bit_colour(path)
        bit_depth, color = 16, "rgb"
        if arr16.shape[2] == 4:
            alpha16 = arr16[..., 3]
            arr16 = arr16[..., :3]
            mode = "RGBA"
        rgb16 = arr16
        rgb = _to_uint8(arr16)
        alpha = _to_uint8(alpha16) if alpha16 is not None else None
    elif mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        grey = np.asarray(img)
        if mode == "I":  # 32-bit int greyscale: PNG/TIFF 16-bit grey sometimes lands here
            grey = np.clip(grey, 0, 65535)
        grey16 = grey.astype(np.uint16)
        bit_depth, color = 16, "grey"
        rgb16 = np.repeat(grey16[..., None], 3, axis=2)
        rgb = _to_uint8(rgb16)
    elif mode == "F":
        grey = np.asarray(img, dtype=np.float32)
        lo, hi = float(np.nanmin(grey)), float(np.nanmax(grey))
        scale = 255.0 / (hi - lo) if hi > lo else 0.0
        g8 = np.clip((grey - lo) * scale + 0.5, 0, 255).astype(np.uint8)
        bit_depth, color = 8, "grey"
        rgb = np.repeat(g8[..., None], 3, axis=2)
    elif mode in ("1", "L", "LA", "La"):
        bit_depth, color = 8, "grey"
        if mode in ("LA", "La"):
            la = np.asarray(img.convert("LA"))
            alpha = np.ascontiguousarray(la[..., 1])
            g8 = la[..., 0]
        else:
            g8 = np.asarray(img.convert("L"))
        rgb = np.repeat(g8[..., None], 3, axis=2)
    elif mode == "CMYK":
        converted, icc = _cmyk_to_rgb(img)
        bit_depth, color = 8, "cmyk"
        rgb = np.asarray(converted.convert("RGB"))
    else:
        bit_depth, color = 8, "rgb"
        has_alpha = mode in ("RGBA", "RGBa", "PA") or (mode == "P" and "transparency" in img.info)
        if has_alpha:
            rgba = np.asarray(img.convert("RGBA"))
            rgb = rgba[..., :3]
            alpha = np.ascontiguousarray(rgba[..., 3])
        else:
            rgb = np.asarray(img.convert("RGB"))

    rgb = apply_orientation(np.asarray(rgb, dtype=np.uint8), orientation)
    if alpha is not None:
        alpha = apply_orientation(alpha, orientation)
    if rgb16 is not None:
        rgb16 = apply_orientation(rgb16, orientation)
    if alpha16 is not None:
        alpha16 = apply_orientation(alpha16, orientation)
    for arr in (rgb, alpha, rgb16, alpha16):
        if arr is not None:
            arr.setflags(write=False)
    return LoadedImage(
        path=path,
        rgb=rgb,
        alpha=alpha,
        bit_depth=bit_depth,
        color=color,
        mode=mode,
        format=fmt,
        exif=exif,
        icc_profile=icc,
        orientation=orientation,
        rgb16=rgb16,
        alpha16=alpha16,
        tiff_compression=compression if isinstance(compression, str) else None,
    )


# --------------------------------------------------------------------------- save


def output_format_for(path: Path, like: LoadedImage | None = None) -> str:
    """Image format chosen by the output extension (no extension: the input's format)."""
    suffix = path.suffix.lower()
    if not suffix and like is not None:
        return like.format
    fmt = FORMAT_BY_SUFFIX.get(suffix)
    if fmt is None:
        raise OutputError(
            f"{path}: unsupported output extension {suffix or '(none)'} "
            f"(use one of {', '.join(sorted(IMAGE_SUFFIXES))})"
        )
    return fmt


def _widen_to_16(rgb8: np.ndarray, like: LoadedImage) -> np.ndarray:
    """16-bit pixels: the original's where the effect left a pixel unchanged, else rgb8 * 257."""
    widened = rgb8.astype(np.uint16) * np.uint16(257)
    if like.rgb16 is not None and like.rgb16.shape == rgb8.shape:
        unchanged = np.all(rgb8 == like.rgb, axis=2)
        widened[unchanged] = like.rgb16[unchanged]
    return widened


def _as_pixels(rgb: np.ndarray, like: LoadedImage) -> tuple[np.ndarray, np.ndarray | None]:
    """(uint8 rgb, uint16 rgb or None) from a uint8 / uint16 / float [0,1] array."""
    arr = np.asarray(rgb)
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(f"expected an HxWx3 image, got shape {arr.shape}")
    if arr.dtype == np.uint8:
        return arr, None
    if arr.dtype == np.uint16:
        return _to_uint8(arr), arr
    if np.issubdtype(arr.dtype, np.floating):
        arr16 = np.clip(np.rint(arr.astype(np.float32) * 65535.0), 0, 65535).astype(np.uint16)
        return _to_uint8(arr16), arr16
    raise ValueError(f"unsupported pixel dtype {arr.dtype}")


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _png_with_metadata(png: bytes, exif: bytes | None, icc: bytes | None) -> bytes:
    """Insert iCCP and eXIf chunks after IHDR of an encoded PNG."""
    extra = b""
    if icc:
        extra += _png_chunk(b"iCCP", b"ICC profile\x00\x00" + zlib.compress(icc))
    if exif:
        raw = exif[6:] if exif.startswith(b"Exif\x00\x00") else exif
        extra += _png_chunk(b"eXIf", raw)
    if not extra:
        return png
    ihdr_end = 8 + 8 + 13 + 4  # signature + (length, type) + IHDR data + CRC
    return png[:ihdr_end] + extra + png[ihdr_end:]


#: TIFF tags that describe the pixel layout: never copied from EXIF into a TIFF we write.
_TIFF_LAYOUT_TAGS = frozenset({254, 255, 256, 257, 258, 259, 262, 266, 273, 277, 278, 279, 280, 281, 284,
                               317, 320, 330, 338, 339, 513, 514, 34665, 34675, 34853, 40965})


def _tiff16_bytes(pixels: np.ndarray, exif: bytes | None, icc: bytes | None) -> bytes:
    """A 16-bit RGB/RGBA TIFF (deflate, horizontal predictor) carrying ICC and EXIF tags."""
    height, width, channels = pixels.shape
    samples = np.ascontiguousarray(pixels, dtype="<u2")
    predicted = samples.copy()
    predicted[:, 1:] -= samples[:, :-1]  # TIFF predictor 2, modulo 2**16
    rows = max(1, 262_144 // (width * channels * 2))
    strips = [zlib.compress(predicted[top:top + rows].tobytes(), 6) for top in range(0, height, rows)]
    offsets = tuple(int(x) for x in np.cumsum([0] + [len(b) for b in strips[:-1]]))
    ifd = TiffImagePlugin.ImageFileDirectory_v2(prefix=b"II")
    if exif:
        parsed = Image.Exif()
        parsed.load(exif)
        for tag, value in parsed.items():
            if tag not in _TIFF_LAYOUT_TAGS:
                ifd[tag] = value
        sub = parsed.get_ifd(0x8769)
        if sub:
            ifd[0x8769] = dict(sub)
    ifd[256], ifd[257] = width, height
    ifd[258] = (16,) * channels
    ifd[259] = 8  # Adobe deflate
    ifd[262] = 2  # RGB
    ifd[277] = channels
    ifd[278] = rows
    ifd[284] = 1  # chunky
    ifd[317] = 2  # horizontal differencing
    ifd[339] = (1,) * channels  # unsigned integers
    if channels == 4:
        ifd[338] = 2  # unassociated alpha
    ifd[273] = offsets  # relative: Pillow moves them past the directory
    ifd[279] = tuple(len(b) for b in strips)
    if icc:
        ifd[34675] = icc
    return b"II*\x00" + struct.pack("<I", 8) + ifd.tobytes(8) + b"".join(strips)


def _write_16bit(temp: Path, fmt: str, rgb16: np.ndarray, alpha16: np.ndarray | None,
                 like: LoadedImage) -> None:
    pixels = rgb16 if alpha16 is None else np.dstack([rgb16, alpha16])
    if fmt == "TIFF":
        data = _tiff16_bytes(pixels, like.exif, like.icc_profile)
    else:
        import cv2

        bgr = cv2.cvtColor(pixels, cv2.COLOR_RGBA2BGRA if alpha16 is not None else cv2.COLOR_RGB2BGR)
        ok, buf = cv2.imencode(".png", bgr)
        if not ok:
            raise OutputError(f"{temp}: could not encode 16-bit {fmt}")
        data = _png_with_metadata(buf.tobytes(), like.exif, like.icc_profile)
    with open(temp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def save_image(
    path: str | os.PathLike[str],
    rgb: np.ndarray,
    like: LoadedImage,
    *,
    overwrite: bool = False,
    quality: int = 95,
    keep_16bit: bool = True,
) -> Path:
    """Write `rgb` (HxWx3; uint8, uint16 or float in [0, 1]) like the image it came from.

    Keeps size, EXIF (orientation already applied, tag 1) and ICC; re-attaches
    alpha where the format holds it; writes grey for a grey original and 16 bits
    for a 16-bit original into PNG/TIFF. The format follows the output extension.
    Written atomically; the input is never overwritten. Raises OutputError.
    """
    out = Path(path)
    fmt = output_format_for(out, like)
    check_output_path(out, inputs=[like.path], overwrite=overwrite)
    rgb8, rgb16 = _as_pixels(rgb, like)
    if rgb8.shape[:2] != like.rgb.shape[:2]:
        raise ValueError(f"image size changed: {rgb8.shape[1]}x{rgb8.shape[0]} vs {like.size}")

    sixteen = keep_16bit and like.bit_depth == 16 and fmt in SIXTEEN_BIT_FORMATS
    if sixteen and rgb16 is None:
        rgb16 = _widen_to_16(rgb8, like)
    keep_alpha = like.alpha is not None and fmt in ALPHA_FORMATS

    try:
        with AtomicOutput(out, overwrite=overwrite) as temp:
            if sixteen and not like.is_grey:
                alpha16 = None
                if keep_alpha:
                    alpha16 = like.alpha16 if like.alpha16 is not None else like.alpha.astype(np.uint16) * 257
                _write_16bit(temp, fmt, rgb16, alpha16, like)
                return out
            if sixteen:  # 16-bit grey: Pillow writes I;16 PNG/TIFF
                grey16 = np.rint(rgb16.astype(np.float32).mean(axis=2)).astype(np.uint16)
                img = Image.fromarray(grey16)
            elif like.is_grey:
                grey = np.rint(rgb8.astype(np.float32).mean(axis=2)).astype(np.uint8)
                img = Image.fromarray(grey)
                if keep_alpha:
                    img = Image.merge("LA", [img, Image.fromarray(np.ascontiguousarray(like.alpha))])
            else:
                img = Image.fromarray(np.ascontiguousarray(rgb8))
                if keep_alpha:
                    img = Image.merge("RGBA", [*img.split(), Image.fromarray(np.ascontiguousarray(like.alpha))])
            params: dict[str, object] = {}
            if like.exif:
                params["exif"] = like.exif
            if like.icc_profile:
                params["icc_profile"] = like.icc_profile
            if fmt == "JPEG":
                params.update(quality=quality, optimize=True)
            elif fmt == "WEBP":
                params.update(quality=quality, method=4)
            elif fmt == "TIFF":
                params["compression"] = like.tiff_compression or "tiff_deflate"
                if params["compression"] in ("raw", "jpeg", "group3", "group4"):
                    params["compression"] = "tiff_deflate"
            img.save(temp, format=fmt, **params)
        return out
    except OutputError:
        raise
    except OSError as exc:
        raise OutputError(f"{out}: write failed: {exc.strerror or exc}") from exc


# --------------------------------------------------------------------------- batches


def expand_inputs(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Files as given, folders expanded to their images (by extension, sorted by name).

    Order is deterministic and duplicates are dropped. Raises InputNotFoundError for
    a missing path and InputError for a folder without images.
    """
    found: list[Path] = []
    seen: set[Path] = set()
    for entry in paths:
        p = Path(entry)
        if not p.exists():
            raise InputNotFoundError(f"{p}: no such file or folder")
        if p.is_dir():
            images = sorted(
                (c for c in p.iterdir() if c.is_file() and c.suffix.lower() in IMAGE_SUFFIXES
                 and not c.name.startswith(".")),
                key=lambda c: c.name,
            )
            if not images:
                raise InputError(f"{p}: folder holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
        else:
            images = [p]
        for image in images:
            key = image.resolve()
            if key not in seen:
                seen.add(key)
                found.append(image)
    return found
