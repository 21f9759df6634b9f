"""Decode a still image, from a file or from bytes, into a `LoadedImage`.

Processing always happens on `LoadedImage.rgb` (uint8 RGB, EXIF orientation applied). 16-bit inputs
also keep their full-precision pixels in `rgb16`. Pillow reads 16-bit RGB(A) PNG/TIFF as 8-bit, so
those are decoded with OpenCV.
"""
from __future__ import annotations

import io
import os
import struct
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageCms, UnidentifiedImageError

from vidbokeh.errors import InputError, InputNotFoundError
from vidbokeh.media.image_types import (
    MAX_IMAGE_PIXELS,
    SIXTEEN_BIT_FORMATS,
    SUFFIX_BY_FORMAT,
    TIFF_LAYOUT_TAGS,
    LoadedImage,
    to_uint8,
)

_EXIF_ORIENTATION = 0x0112
#: How an image given as bytes is named in messages, unless the caller names it.
BYTES_NAME = "image data"

ImageSource = str | os.PathLike[str] | bytes | bytearray | memoryview


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
    if img.format == "TIFF":  # a TIFF's first directory is its own layout, not metadata to carry over
        for tag in TIFF_LAYOUT_TAGS - {0x8769}:  # the EXIF sub-directory is metadata
            exif.pop(tag, None)
    if len(exif) == 0 and not exif.get_ifd(0x8769):
        return None, orientation
    if _EXIF_ORIENTATION in exif:
        exif[_EXIF_ORIENTATION] = 1
    try:
        return exif.tobytes(), orientation
    except Exception:
        return None, orientation



def _read_bytes(path: Path) -> bytes:
    if not path.exists():
        raise InputNotFoundError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a folder, expected an image file")
    try:
        return path.read_bytes()
    except PermissionError as exc:
        raise InputError(f"{path}: permission denied") from exc
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from exc


def _open(name: str, data: bytes) -> Image.Image:
    if not data:
        raise InputError(f"{name}: empty file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:
        raise InputError(f"{name}: image too large ({exc}); limit is {MAX_IMAGE_PIXELS} pixels") from exc
    except UnidentifiedImageError as exc:
        raise InputError(f"{name}: not an image (or a format not supported)") from exc
    except OSError as exc:
        raise InputError(f"{name}: cannot read: {exc}") from exc
    width, height = img.size
    if width * height > MAX_IMAGE_PIXELS:
        img.close()
        raise InputError(
            f"{name}: image too large ({width}x{height} = {width * height / 1e6:.0f} MP; "
            f"limit {MAX_IMAGE_PIXELS / 1e6:.0f} MP)"
        )
    if img.format not in SUFFIX_BY_FORMAT:
        fmt = img.format
        img.close()
        raise InputError(f"{name}: unsupported image format {fmt} (JPEG, PNG, WebP, TIFF)")
    return img


def _read_16bit_colour(name: str, data: bytes) -> np.ndarray:
    import cv2

    arr = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)  # no EXIF orientation
    if arr is None or arr.dtype != np.uint16 or arr.ndim != 3:
        raise InputError(f"{name}: cannot decode 16-bit image data")
    if arr.shape[2] == 4:
        return cv2.cvtColor(arr, cv2.COLOR_BGRA2RGBA)
    return cv2.cvtColor(arr, cv2.COLOR_BGR2RGB)


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



def display_size(path: str | os.PathLike[str]) -> tuple[int, int] | None:
    """(width, height) of an image file as shown (EXIF orientation applied), read from its header only;
    None when the header cannot be read (decoding the file says why)."""
    try:
        with Image.open(path) as img:
            width, height = img.size
            _, orientation = _exif_of(img)
    except Exception:  # noqa: BLE001 - any unreadable header: read_image reports it properly
        return None
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)


def read_image(source: ImageSource, *, name: str | None = None) -> LoadedImage:
    """Decode an image file (a path) or encoded image bytes for processing.

    `name` names bytes in messages (default "image data"); the result's `path` is the file's, or None
    for bytes. Raises InputNotFoundError / InputError (one line).
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        path, data = None, bytes(source)
        label = name or BYTES_NAME
    else:
        path = Path(source)
        label = name or str(path)
        data = _read_bytes(path)
    img = _open(label, data)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return _decode(path, label, data, img)
    except (InputError, InputNotFoundError):
        raise
    except MemoryError as exc:
        raise InputError(f"{label}: not enough memory to decode this image") from exc
    except (OSError, ValueError, SyntaxError, struct.error, EOFError) as exc:
        raise InputError(f"{label}: corrupt or truncated image ({exc})") from exc
    finally:
        img.close()


def _decode(path: Path | None, label: str, data: bytes, img: Image.Image) -> LoadedImage:
    fmt = str(img.format)
    mode = img.mode
    sixteen_bit_colour = _is_16bit_colour(img)  # before anything loads the pixels (tile info)
    exif, orientation = _exif_of(img)
    icc = img.info.get("icc_profile") or None
    compression = img.info.get("compression") if fmt == "TIFF" else None
    rgb16 = alpha16 = None
    alpha = None

    if sixteen_bit_colour:
        arr16 = _read_16bit_colour(label, data)
        bit_depth, color = 16, "rgb"
        if arr16.shape[2] == 4:
            alpha16 = arr16[..., 3]
            arr16 = arr16[..., :3]
            mode = "RGBA"
        rgb16 = arr16
        rgb = to_uint8(arr16)
        alpha = to_uint8(alpha16) if alpha16 is not None else None
    elif mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        grey = np.asarray(img)
        if mode == "I":  # 32-bit int greyscale: PNG/TIFF 16-bit grey sometimes lands here
            grey = np.clip(grey, 0, 65535)
        grey16 = grey.astype(np.uint16)
        bit_depth, color = 16, "grey"
        rgb16 = np.repeat(grey16[..., None], 3, axis=2)
        rgb = to_uint8(rgb16)
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
