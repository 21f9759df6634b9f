"""What a batch works on: files, folders and glob patterns expanded into items, each with its output path.

Photos and videos are told apart by extension. Outputs mirror the input tree under the output folder:
every input's root (a folder itself, a file's folder, a pattern's fixed leading part) is placed relative
to the deepest folder the roots share, so ``shoot/a/x.jpg`` and ``shoot/b/x.jpg`` never collide. A photo
``x.jpg`` becomes ``x_bokeh.jpg`` (the name image mode gives it); a video keeps a container the encoder
writes (``.mp4``, ``.mkv``, ``.mov``, ``.webm``; any other becomes ``.mp4``).

Never picked up: anything inside the output folder, hidden files and folders (ours include every
temporary file), and image mode's outputs beside their original (``NAME_bokeh.*``, ``NAME_depth.png``...).
"""
from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Literal

from ..errors import InputError, InputNotFoundError, UsageError
from ..image_mode import OUTPUT_TAG, is_earlier_output
from ..media.encoders import VIDEO_SUFFIXES
from ..media.images import IMAGE_SUFFIXES

#: Video containers recognised in folders and patterns (what FFmpeg reads; the output keeps the
#: container when the encoder side writes it, else MP4).
VIDEO_INPUT_SUFFIXES = frozenset(VIDEO_SUFFIXES | {".m4v", ".avi", ".mts", ".m2ts", ".ts", ".mpg", ".mpeg",
                                                   ".wmv", ".flv", ".3gp"})
Kind = Literal["photo", "video"]


@dataclass(frozen=True)
class Item:
    """One input file of the batch and where its result goes."""

    source: Path  # absolute
    relative: str  # the input's path relative to the common root (POSIX separators): the manifest's key
    output: Path  # absolute
    kind: Kind


def kind_of(path: Path) -> Kind | None:
    suffix = path.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        return "photo"
    if suffix in VIDEO_INPUT_SUFFIXES:
        return "video"
    return None


def output_name(relative: Path, kind: Kind) -> Path:
    if kind == "photo":
        return relative.with_name(f"{relative.stem}{OUTPUT_TAG}{relative.suffix}")
    suffix = relative.suffix if relative.suffix.lower() in VIDEO_SUFFIXES else ".mp4"
    return relative.with_name(f"{relative.stem}{OUTPUT_TAG}{suffix}")


def _is_pattern(text: str) -> bool:
    return glob.has_magic(text)


def _pattern_root(pattern: str) -> Path:
    """The fixed leading folders of a glob pattern (``shoot/*/a*.jpg`` -> ``shoot``)."""
    parts = Path(pattern).parts
    fixed: list[str] = []
    for part in parts[:-1]:
        if _is_pattern(part):
            break
        fixed.append(part)
    return Path(*fixed).resolve() if fixed else Path.cwd()


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.relative_to(folder)
        return True
    except ValueError:
        return False


def _ours_or_hidden(path: Path, root: Path, out_dir: Path, stems: dict[Path, set[str]]) -> bool:
    if _inside(path, out_dir):
        return True
    rel = path.relative_to(root) if _inside(path, root) else Path(path.name)
    if any(part.startswith(".") for part in rel.parts):
        return True
    if path.parent not in stems:
        stems[path.parent] = {p.stem for p in path.parent.iterdir() if p.is_file()}
    return is_earlier_output(path, stems[path.parent])


def _walk(folder: Path) -> list[Path]:
    files: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        files += [Path(dirpath) / f for f in sorted(filenames)]
    return files


def discover(inputs: Iterable[str | os.PathLike[str]], out_dir: Path) -> list[Item]:
    """Expand ``inputs`` into items in a stable order (as given; folders and patterns sorted by name).

    A file given by name is taken whatever its extension (photo unless it names an image, so a video
    with an odd extension is still tried); folders and patterns keep only recognised photos and videos.
    Raises InputNotFoundError for a missing path or a pattern matching nothing, InputError when nothing
    at all is left, UsageError when the output folder is a file.
    """
    out_dir = Path(out_dir).resolve()
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"{out_dir}: --out must be a folder, not a file")
    groups: list[tuple[Path, list[Path], bool]] = []  # (root, files, named explicitly)
    for entry in inputs:
        text = os.fspath(entry)
        if _is_pattern(text):
            matches = sorted(Path(m).resolve() for m in glob.glob(text, recursive=True) if Path(m).is_file())
            if not matches and not glob.glob(text, recursive=True):
                raise InputNotFoundError(f"{text}: pattern matches no file")
            groups.append((_pattern_root(text), matches, False))
            continue
        path = Path(text)
        if not path.exists():
            raise InputNotFoundError(f"{path}: no such file or folder")
        path = path.resolve()
        if path.is_dir():
            groups.append((path, _walk(path), False))
        else:
            groups.append((path.parent, [path], True))
    if not groups:
        raise UsageError("batch: no inputs given")
    common = Path(os.path.commonpath([str(root) for root, _, _ in groups]))
    items: list[Item] = []
    seen: set[Path] = set()
    stems: dict[Path, set[str]] = {}  # folder -> the stems of its files
    for root, files, explicit in groups:
        for f in files:
            if f in seen:
                continue
            kind = kind_of(f)
            if kind is None:
                if not explicit:
                    continue
                kind = "video"  # named explicitly: let the video probe say what it is
            if not explicit and _ours_or_hidden(f, root, out_dir, stems):
                continue
            if explicit and _inside(f, out_dir):
                raise UsageError(f"{f}: is inside the output folder {out_dir}")
            seen.add(f)
            rel = f.relative_to(common)
            items.append(Item(source=f, relative=rel.as_posix(), output=out_dir / output_name(rel, kind), kind=kind))
    if not items:
        raise InputError("batch: no photos or videos found in the inputs "
                         f"({', '.join(sorted(IMAGE_SUFFIXES | VIDEO_INPUT_SUFFIXES))})")
    return items
