"""Byte-level container writers Pillow lacks: PNG metadata chunks, and TIFF with ICC and a whole EXIF
(16-bit colour, which Pillow cannot write, and any TIFF whose EXIF has sub-directories, which its libtiff
encoder refuses)."""
from __future__ import annotations

import struct
import zlib

import numpy as np
from PIL import Image, TiffImagePlugin

from vidbokeh.media.image_types import TIFF_LAYOUT_TAGS


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_with_metadata(png: bytes, exif: bytes | None, icc: bytes | None) -> bytes:
    """Insert iCCP and eXIf chunks after IHDR of an encoded PNG."""
    extra = b""
    if icc:
        extra += png_chunk(b"iCCP", b"ICC profile\x00\x00" + zlib.compress(icc))
    if exif:
        raw = exif[6:] if exif.startswith(b"Exif\x00\x00") else exif
        extra += png_chunk(b"eXIf", raw)
    if not extra:
        return png
    ihdr_end = 8 + 8 + 13 + 4  # signature + (length, type) + IHDR data + CRC
    return png[:ihdr_end] + extra + png[ihdr_end:]


_EXIF_SUBDIRECTORIES = (0x8769, 0x8825)  # the EXIF and GPS directories, written nested as they came


def tiff_bytes(pixels: np.ndarray, exif: bytes | None, icc: bytes | None) -> bytes:
    """A TIFF (deflate, horizontal predictor) of HxW, HxWx1..4 uint8 or uint16 pixels (grey, grey+alpha,
    RGB, RGBA) carrying the ICC profile and every EXIF tag, its EXIF and GPS directories included."""
    if pixels.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"TIFF samples must be uint8 or uint16, got {pixels.dtype}")
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    height, width, channels = pixels.shape
    if not 1 <= channels <= 4:
        raise ValueError(f"TIFF pixels must have 1 to 4 channels, got {channels}")
    samples = np.ascontiguousarray(pixels, dtype=pixels.dtype.newbyteorder("<"))
    bits = samples.dtype.itemsize * 8
    predicted = samples.copy()
    predicted[:, 1:] -= samples[:, :-1]  # TIFF predictor 2, modulo 2**bits
    rows = max(1, 262_144 // (width * channels * samples.dtype.itemsize))
    strips = [zlib.compress(predicted[top:top + rows].tobytes(), 6) for top in range(0, height, rows)]
    offsets = tuple(int(x) for x in np.cumsum([0] + [len(b) for b in strips[:-1]]))
    ifd = TiffImagePlugin.ImageFileDirectory_v2(prefix=b"II")
    if exif:
        parsed = Image.Exif()
        parsed.load(exif)
        for tag, value in parsed.items():
            if tag not in TIFF_LAYOUT_TAGS:
                ifd[tag] = value
        for tag in _EXIF_SUBDIRECTORIES:
            sub = parsed.get_ifd(tag)
            if sub:
                ifd[tag] = dict(sub)
    colour = channels >= 3
    ifd[256], ifd[257] = width, height
    ifd[258] = (bits,) * channels
    ifd[259] = 8  # Adobe deflate
    ifd[262] = 2 if colour else 1  # RGB, or grey with black at zero
    ifd[277] = channels
    ifd[278] = rows
    ifd[284] = 1  # chunky
    ifd[317] = 2  # horizontal differencing
    ifd[339] = (1,) * channels  # unsigned integers
    if channels in (2, 4):
        ifd[338] = 2  # unassociated alpha
    ifd[273] = offsets  # relative: Pillow moves them past the directory
    ifd[279] = tuple(len(b) for b in strips)
    if icc:
        ifd[34675] = icc
    return b"II*\x00" + struct.pack("<I", 8) + ifd.tobytes(8) + b"".join(strips)
