"""Encode pixels into image bytes like the image they came from: the one encoder behind every image output.

Keeps size, EXIF (orientation already applied, tag 1) and ICC; re-attaches alpha where the format
holds it; writes grey for a grey original and 16 bits for a 16-bit original into PNG/TIFF, where
pixels the effect left unchanged keep their full 16-bit value (the subject stays bit-exact) and
changed pixels carry 8-bit precision. 16-bit colour is written as PNG by OpenCV with iCCP/eXIf
chunks added, and as TIFF by `image_containers`.
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from vidbokeh.errors import OutputError
from vidbokeh.media.image_containers import png_with_metadata, tiff_bytes
from vidbokeh.media.image_types import (
    ALPHA_FORMATS,
    FORMAT_BY_SUFFIX,
    IMAGE_SUFFIXES,
    SIXTEEN_BIT_FORMATS,
    SUFFIX_BY_FORMAT,
    LoadedImage,
    to_uint8,
)


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


def format_name(fmt: str) -> str:
    """"JPEG"/"jpeg"/"jpg"/".jpg" -> "JPEG" (and likewise PNG, WEBP, TIFF); OutputError otherwise."""
    text = fmt.strip()
    name = FORMAT_BY_SUFFIX.get(text.lower() if text.startswith(".") else "." + text.lower())
    if name is None and text.upper() in SUFFIX_BY_FORMAT:
        name = text.upper()
    if name is None:
        raise OutputError(f"unsupported image format {fmt!r} (JPEG, PNG, WebP, TIFF)")
    return name


def _widen_to_16(rgb8: np.ndarray, like: LoadedImage) -> np.ndarray:
    """16-bit pixels: the original's where the effect left a pixel unchanged, else rgb8 * 257."""
    widened = rgb8.astype(np.uint16) * np.uint16(257)
    if like.rgb16 is not None and like.rgb16.shape == rgb8.shape:
        unchanged = np.all(rgb8 == like.rgb, axis=2)
        widened[unchanged] = like.rgb16[unchanged]
    return widened


def as_pixels(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """(uint8 rgb, uint16 rgb or None) from a uint8 / uint16 / float [0,1] HxW or HxWx3 array."""
    arr = np.asarray(rgb)
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(f"expected an HxWx3 image, got shape {arr.shape}")
    if arr.dtype == np.uint8:
        return arr, None
    if arr.dtype == np.uint16:
        return to_uint8(arr), arr
    if np.issubdtype(arr.dtype, np.floating):
        arr16 = np.clip(np.rint(arr.astype(np.float32) * 65535.0), 0, 65535).astype(np.uint16)
        return to_uint8(arr16), arr16
    raise ValueError(f"unsupported pixel dtype {arr.dtype}")


def _plain(rgb8: np.ndarray, rgb16: np.ndarray | None, fmt: str) -> LoadedImage:
    """What pixels with no original are written like: RGB, no metadata, 16-bit when given 16-bit."""
    return LoadedImage(path=None, rgb=rgb8, alpha=None, bit_depth=16 if rgb16 is not None else 8, color="rgb",
                       mode="RGB", format=fmt, exif=None, icc_profile=None, rgb16=rgb16)


def encode_image(
    image_or_pixels: LoadedImage | np.ndarray,
    fmt: str,
    like: LoadedImage | None = None,
    *,
    quality: int = 95,
    keep_16bit: bool = True,
) -> bytes:
    """Encode pixels (HxWx3 uint8, uint16 or float in [0, 1]; or a whole `LoadedImage`) as `fmt` bytes.

    `like` is the image the pixels came from (see the module docstring); without it the pixels are
    written as plain RGB. Raises OutputError (one line), ValueError for pixels of another size than `like`.
    """
    fmt = format_name(fmt)
    if isinstance(image_or_pixels, LoadedImage):
        like = like or image_or_pixels
        pixels: np.ndarray = image_or_pixels.rgb
    else:
        pixels = image_or_pixels
    rgb8, rgb16 = as_pixels(pixels)
    if like is None:
        like = _plain(rgb8, rgb16, fmt)
    if rgb8.shape[:2] != like.rgb.shape[:2]:
        raise ValueError(f"image size changed: {rgb8.shape[1]}x{rgb8.shape[0]} vs {like.size}")

    sixteen = keep_16bit and like.bit_depth == 16 and fmt in SIXTEEN_BIT_FORMATS
    if sixteen and rgb16 is None:
        rgb16 = _widen_to_16(rgb8, like)
    keep_alpha = like.alpha is not None and fmt in ALPHA_FORMATS
    if sixteen and not like.is_grey:
        alpha16 = None
        if keep_alpha:
            alpha16 = like.alpha16 if like.alpha16 is not None else like.alpha.astype(np.uint16) * 257
        return _encode_16bit_colour(fmt, rgb16, alpha16, like)
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
    if fmt == "TIFF" and like.exif:  # Pillow's libtiff encoder refuses EXIF with sub-directories
        return tiff_bytes(np.asarray(img), like.exif, like.icc_profile)
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
    buffer = io.BytesIO()
    try:
        img.save(buffer, format=fmt, **params)
    except (OSError, ValueError) as exc:
        raise OutputError(f"could not encode {fmt}: {exc}") from exc
    return buffer.getvalue()


def _encode_16bit_colour(fmt: str, rgb16: np.ndarray, alpha16: np.ndarray | None, like: LoadedImage) -> bytes:
    pixels = rgb16 if alpha16 is None else np.dstack([rgb16, alpha16])
    if fmt == "TIFF":
        return tiff_bytes(pixels, like.exif, like.icc_profile)
    import cv2

    bgr = cv2.cvtColor(pixels, cv2.COLOR_RGBA2BGRA if alpha16 is not None else cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".png", bgr)
    if not ok:
        raise OutputError(f"could not encode 16-bit {fmt}")
    return png_with_metadata(buf.tobytes(), like.exif, like.icc_profile)
