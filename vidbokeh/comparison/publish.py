"""Staging and atomic replacement of the whole output folder.

Everything is written into a hidden staging folder beside ``out_dir`` (same
filesystem), then swapped in: on Linux with ``renameat2(RENAME_EXCHANGE)``, so
readers see either the old report or the new one, never a mix or nothing;
elsewhere with two renames (a moment without the folder, never a mix). A folder
is only replaced when it is empty or holds an earlier report of this tool.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import shutil
import sys
import tempfile
from pathlib import Path

from ..errors import OutputError
from .report import is_previous_report

_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def check_out_dir(out_dir: Path, protected: list[Path]) -> None:
    """Refuse a destination we must not replace, or one that holds our inputs."""
    out_dir = Path(out_dir)
    if out_dir.exists():
        if not out_dir.is_dir():
            raise OutputError(f"output {out_dir} exists and is not a folder")
        if any(out_dir.iterdir()) and not is_previous_report(out_dir):
            raise OutputError(f"output folder {out_dir} is not empty and holds no earlier comparison; "
                              "choose a new or empty folder")
    resolved = out_dir.resolve()
    for path in protected:
        path = Path(path).resolve()
        if path == resolved or resolved in path.parents:
            raise OutputError(f"output folder {out_dir} contains the input {path}; it would be replaced")


def make_staging_dir(out_dir: Path) -> Path:
    parent = Path(out_dir).resolve().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{Path(out_dir).name}.staging-", dir=parent))
        umask = os.umask(0)
        os.umask(umask)
        staging.chmod(0o777 & ~umask)  # mkdtemp makes it private; the report is an ordinary folder
        return staging
    except OSError as error:
        raise OutputError(f"cannot create a staging folder in {parent}: {error}") from error


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux renameat2); False where unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    result = renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    return result == 0


def publish(staging: Path, out_dir: Path) -> None:
    """Replace ``out_dir`` by ``staging`` as one step and delete the old contents."""
    out_dir = Path(out_dir).resolve()
    try:
        if not out_dir.exists():
            os.rename(staging, out_dir)
            return
        if _exchange(staging, out_dir):
            shutil.rmtree(staging)  # now holds the previous report
            return
        retired = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.old-", dir=out_dir.parent))
        os.rename(out_dir, retired / "report")
        os.rename(staging, out_dir)
        shutil.rmtree(retired)
    except OSError as error:
        raise OutputError(f"cannot move the new report into {out_dir}: {error}") from error


def discard(staging: Path) -> None:
    shutil.rmtree(staging, ignore_errors=True)
