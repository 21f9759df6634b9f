"""Which stills to compare, their deterministic names, and their ground truth.

Folders are listed (not recursed) in sorted order. Ground truth is matched by
file stem: ``photo.jpg`` takes ``MASKS/photo.png`` and ``DEPTH/photo.png``; a
stem that names its kind (``scene_color``, ``scene-rgb``, ``scene_image``) also
matches ``scene_mask`` / ``scene_depth``. Files that serve as ground truth for
another input are not compared themselves (so one folder may hold both).
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputNotFoundError, UsageError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp")
GROUND_TRUTH_SUFFIXES = (".png", ".tif", ".tiff")
_KIND_TOKENS = ("color", "colour", "rgb", "image", "img")


@dataclass(frozen=True)
class InputImage:
    key: str  # unique, filesystem-safe, deterministic name used for every output of this image
    path: Path
    mask_path: Path | None = None
    depth_path: Path | None = None


def _is_image(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


def list_inputs(inputs: tuple[Path, ...] | list[Path]) -> list[Path]:
    """Files as given, folders expanded to their image files (sorted); duplicates dropped."""
    if not inputs:
        raise UsageError("compare needs at least one input file or folder")
    found: list[Path] = []
    for item in inputs:
        item = Path(item)
        if item.is_dir():
            found.extend(sorted((p for p in item.iterdir() if _is_image(p)), key=lambda p: p.name))
        elif item.exists():
            found.append(item)
        else:
            raise InputNotFoundError(f"input not found: {item}")
    unique: dict[Path, Path] = {}
    for path in found:
        unique.setdefault(path.resolve(), path)
    return list(unique.values())


def _stem_variants(stem: str, kind: str) -> list[str]:
    variants = [stem]
    for token in _KIND_TOKENS:
        pattern = re.compile(rf"(^|[_\-.]){token}($|[_\-.])", re.IGNORECASE)
        if pattern.search(stem):
            variants.append(pattern.sub(lambda m: f"{m.group(1)}{kind}{m.group(2)}", stem, count=1))
    return variants


def find_ground_truth(image: Path, folder: Path | None, kind: str) -> Path | None:
    """The ``kind`` ("mask" or "depth") file in ``folder`` matching ``image``'s stem, if any."""
    if folder is None:
        return None
    for stem in _stem_variants(image.stem, kind):
        for suffix in GROUND_TRUTH_SUFFIXES:
            candidate = folder / f"{stem}{suffix}"
            if candidate.is_file() and candidate.resolve() != image.resolve():
                return candidate
    return None


def _safe_key(stem: str) -> str:
    key = re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._") or "image"
    return key[:80]


def resolve_inputs(inputs, masks_dir: Path | None, depth_dir: Path | None) -> list[InputImage]:
    """The images to compare with their keys and matched ground truth, in a stable order."""
    for folder, flag in ((masks_dir, "masks"), (depth_dir, "depth")):
        if folder is not None and not Path(folder).is_dir():
            raise InputNotFoundError(f"{flag} folder not found: {folder}")
    paths = list_inputs(list(inputs))
    matched = [
        (p, find_ground_truth(p, masks_dir and Path(masks_dir), "mask"),
         find_ground_truth(p, depth_dir and Path(depth_dir), "depth"))
        for p in paths
    ]
    ground_truth = {gt.resolve() for _, m, d in matched for gt in (m, d) if gt is not None}
    kept = [entry for entry in matched if entry[0].resolve() not in ground_truth]
    if not kept:
        raise UsageError("no images to compare (every input is ground truth of another)")
    stems = [_safe_key(p.stem) for p, _, _ in kept]
    images = []
    for (path, mask, depth), stem in zip(kept, stems):
        key = stem
        if stems.count(stem) > 1:  # same stem from two folders: suffix a digest of the full path
            key = f"{stem}-{hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:6]}"
        images.append(InputImage(key=key, path=path, mask_path=mask, depth_path=depth))
    return images
