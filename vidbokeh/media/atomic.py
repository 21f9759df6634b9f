"""Atomic output: validate a destination, write beside it, rename when complete.

Every writer (images and videos) goes through here so that a half-written file
never appears under the final name and the input is never touched.
"""
from __future__ import annotations

import errno
import os
import secrets
from collections.abc import Iterable
from pathlib import Path

from vidbokeh.errors import OutputError

TEMP_MARKER = ".vidbokeh-partial"


def _same_file(a: Path, b: Path) -> bool:
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return a.resolve() == b.resolve()


def check_output_path(
    path: str | os.PathLike[str],
    *,
    inputs: Iterable[str | os.PathLike[str]] = (),
    overwrite: bool = False,
    suffixes: Iterable[str] | None = None,
) -> Path:
    """Return `path` as a Path if it can be written, else raise OutputError (one line).

    Refused: an unsupported extension (when `suffixes` is given), a path equal to
    any input (always, even with overwrite), an existing file without
    `overwrite`, a folder at the path, a missing or read-only destination folder.
    """
    out = Path(path)
    if suffixes is not None:
        allowed = {s.lower() for s in suffixes}
        if out.suffix.lower() not in allowed:
            shown = out.suffix or "(none)"
            raise OutputError(
                f"{out}: unsupported output extension {shown} (use one of {', '.join(sorted(allowed))})"
            )
    for source in inputs:
        if _same_file(out, Path(source)):
            raise OutputError(f"{out}: output is the same file as the input; refusing to overwrite the input")
    if out.is_dir():
        raise OutputError(f"{out}: is a folder, expected an output file path")
    folder = out.parent if str(out.parent) else Path(".")
    if not folder.is_dir():
        raise OutputError(f"{out}: destination folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"{out}: destination folder {folder} is not writable")
    if out.exists() and not overwrite:
        raise OutputError(f"{out}: already exists (use --overwrite to replace it)")
    return out


def temp_path_for(final: Path) -> Path:
    """A unique hidden sibling of `final` that keeps its extension (muxers pick by it)."""
    token = secrets.token_hex(4)
    return final.with_name(f".{final.stem}{TEMP_MARKER}-{token}{final.suffix}")


def remove_quietly(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    except OSError:
        pass


def commit_temp(temp: Path, final: Path, *, overwrite: bool) -> None:
    """Move a finished temp file onto its final name atomically.

    Without `overwrite` the final name is claimed with a hard link, which fails
    if a file appeared there meanwhile (no clobbering); file systems without
    hard links fall back to a check followed by os.replace.
    """
    try:
        if overwrite:
            os.replace(temp, final)
            return
        try:
            os.link(temp, final)
        except FileExistsError:
            raise OutputError(f"{final}: already exists (use --overwrite to replace it)") from None
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK, errno.ENOTSUP):
                raise
            if final.exists():
                raise OutputError(f"{final}: already exists (use --overwrite to replace it)") from None
            os.replace(temp, final)
            return
        remove_quietly(temp)
    except OutputError:
        remove_quietly(temp)
        raise
    except OSError as exc:
        remove_quietly(temp)
        raise OutputError(f"{final}: could not move the finished file into place: {exc.strerror or exc}") from exc


class AtomicOutput:
    """Context manager yielding a temp path; renamed onto `final` on success, removed on error.

    >>> with AtomicOutput(Path("out.jpg")) as tmp:
    ...     write_somehow(tmp)
    """

    def __init__(self, final: Path, *, overwrite: bool = False) -> None:
        self.final = Path(final)
        self.overwrite = overwrite
        self.temp = temp_path_for(self.final)

    def __enter__(self) -> Path:
        return self.temp

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            remove_quietly(self.temp)
            return
        if not self.temp.exists():
            raise OutputError(f"{self.final}: nothing was written")
        commit_temp(self.temp, self.final, overwrite=self.overwrite)


def write_bytes_atomically(final: str | os.PathLike[str], data: bytes, *, overwrite: bool = False) -> Path:
    """Write `data` to a temporary sibling, flush it to disk, rename it onto `final`. Raises OutputError."""
    out = Path(final)
    try:
        with AtomicOutput(out, overwrite=overwrite) as temp:
            with open(temp, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
    except OutputError:
        raise
    except OSError as exc:
        raise OutputError(f"{out}: write failed: {exc.strerror or exc}") from exc
    return out
