"""Still images in and out: JPEG, PNG, WebP, TIFF; 8/16-bit, grey, RGBA, CMYK; EXIF and ICC kept.

The public face of the image modules; each job lives in its own module:

- `image_types`: `LoadedImage` and the format tables;
- `image_decode`: `read_image(path | bytes) -> LoadedImage`;
- `image_encode`: `encode_image(pixels, fmt, like=original) -> bytes`, the one encoder;
- `image_containers`: PNG metadata chunks and the 16-bit TIFF writer;
- here: `write_image` (the encoder's bytes written atomically) and `expand_inputs` (batches).

`write_image(path, ...)` writes exactly the bytes `encode_image` returns for the same arguments.
"""
from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from vidbokeh.errors import InputError, InputNotFoundError, OutputError
from vidbokeh.media.atomic import check_output_path, write_bytes_atomically
from vidbokeh.media.image_decode import ImageSource, apply_orientation, read_image
from vidbokeh.media.image_encode import encode_image, format_name, output_format_for
from vidbokeh.media.image_types import (
    ALPHA_FORMATS,
    FORMAT_BY_SUFFIX,
    IMAGE_SUFFIXES,
    MAX_IMAGE_PIXELS,
    SIXTEEN_BIT_FORMATS,
    SUFFIX_BY_FORMAT,
    LoadedImage,
)

__all__ = [
    "ALPHA_FORMATS", "FORMAT_BY_SUFFIX", "IMAGE_SUFFIXES", "MAX_IMAGE_PIXELS", "SIXTEEN_BIT_FORMATS",
    "SUFFIX_BY_FORMAT", "ImageSource", "LoadedImage", "apply_orientation", "encode_image", "expand_inputs",
    "format_name", "load_image", "output_format_for", "read_image", "save_image", "write_image",
]


def write_image(
    path: str | os.PathLike[str],
    rgb: np.ndarray,
    like: LoadedImage | None = None,
    *,
    overwrite: bool = False,
    quality: int = 95,
    keep_16bit: bool = True,
) -> Path:
    """Write `rgb` (HxWx3; uint8, uint16 or float in [0, 1]) like the image it came from (`encode_image`).

    The format follows the output extension (none: the original's). Written atomically; the input is
    never overwritten. Raises OutputError (one line).
    """
    out = Path(path)
    fmt = output_format_for(out, like)
    check_output_path(out, inputs=[like.path] if like is not None and like.path is not None else [],
                      overwrite=overwrite)
    try:
        data = encode_image(rgb, fmt, like, quality=quality, keep_16bit=keep_16bit)
    except OutputError as exc:
        raise OutputError(f"{out}: {exc}") from exc
    return write_bytes_atomically(out, data, overwrite=overwrite)


#: The names this module had before in-memory I/O; the same functions.
load_image = read_image
save_image = write_image


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
