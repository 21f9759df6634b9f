"""What a decoded still image is (`LoadedImage`) and which formats this package reads and writes."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

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

#: TIFF tags that describe the pixel layout (and pointers to other directories): a TIFF's own, never
#: EXIF to carry over into another file.
TIFF_LAYOUT_TAGS = frozenset({254, 255, 256, 257, 258, 259, 262, 266, 273, 277, 278, 279, 280, 281, 284,
                              317, 320, 330, 338, 339, 513, 514, 34665, 34675, 34853, 40965})

ColorKind = Literal["grey", "rgb", "cmyk"]


@dataclass(frozen=True, eq=False)
class LoadedImage:
    """A decoded image ready for processing, plus what is needed to write it back alike."""

    path: Path | None  # None when decoded from bytes
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


def to_uint8(arr16: np.ndarray) -> np.ndarray:
    """Rounded 16->8 bit (x / 257), the exact inverse of the 8->16 bit widening (x * 257)."""
    return ((arr16.astype(np.uint32) + 128) // 257).astype(np.uint8)
