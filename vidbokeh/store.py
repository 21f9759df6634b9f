"""The local store of downloaded model files (depth weights, MediaPipe task files).

Files live in one folder, ``home()``: ``$VIDBOKEH_HOME`` or the platform's user cache folder
plus ``vidbokeh``. A file is used only when its SHA-256 matches the one we expect: the hash pinned
in its ``RemoteFile`` or, where none is published, the hash recorded in ``<file>.trusted.json``
when the file first arrived (trust on first use: the first download, or a file put there by hand,
recorded at its first use). A later download must match a first download's record. The hash of a
verified file is remembered in a ``<file>.sha256`` sidecar keyed on size and mtime, so big weights
are not re-hashed on every run. Downloads go to a temporary file in the same folder (byte progress
bar), are verified, then renamed into place atomically.
``VIDBOKEH_OFFLINE=1`` forbids any network access.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from vidbokeh.errors import WeightsMismatchError, WeightsNotFoundError

_CHUNK = 1 << 20


@dataclass(frozen=True)
class RemoteFile:
    """A model file we know how to fetch: where from, its expected hash, its name in the store."""

    name: str  # human name, used in messages
    url: str
    sha256: str | None  # expected SHA-256 (lower-case hex); None = not checked
    filename: str  # file name inside home()


def _platform_cache_dir() -> Path:
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(base)
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")


def home() -> Path:
    """The store folder: ``$VIDBOKEH_HOME`` or ``<user cache dir>/vidbokeh`` (not created here)."""
    env = os.environ.get("VIDBOKEH_HOME")
    if env:
        return Path(env).expanduser()
    return _platform_cache_dir() / "vidbokeh"


def offline() -> bool:
    """True when ``VIDBOKEH_OFFLINE`` is set to 1/true/yes: no network access at all."""
    return os.environ.get("VIDBOKEH_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def sha256_file(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a file's bytes, lower-case hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def cached_sha256(path: str | os.PathLike[str]) -> str:
    """SHA-256 of ``path``, reusing the sidecar when the file's size and mtime are unchanged."""
    path = Path(path)
    st = path.stat()
    key = {"size": st.st_size, "mtime_ns": st.st_mtime_ns}
    side = _sidecar(path)
    try:
        saved = json.loads(side.read_text())
        if saved.get("size") == key["size"] and saved.get("mtime_ns") == key["mtime_ns"]:
            return str(saved["sha256"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass
    digest = sha256_file(path)
    try:
        side.write_text(json.dumps({**key, "sha256": digest}))
    except OSError:
        pass  # a read-only store still works, it just re-hashes
    return digest


def _trust_record(path: Path) -> Path:
    return path.with_name(path.name + ".trusted.json")


def recorded_sha256(rf: RemoteFile) -> tuple[str, str] | None:
    """(sha256, origin) recorded when ``rf``'s file first arrived; origin "download" or "found"."""
    try:
        saved = json.loads(_trust_record(store_path(rf)).read_text())
        return str(saved["sha256"]).lower(), str(saved["origin"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _record_trust(rf: RemoteFile, digest: str, origin: str) -> None:
    record = _trust_record(store_path(rf))
    try:
        write_atomic(record, json.dumps({"sha256": digest, "origin": origin, "url": rf.url}))
    except OSError:
        pass  # a read-only store: the file is used, unrecorded


def write_atomic(path: Path, content: str | bytes) -> None:
    """``content`` (text, or bytes written as they are) at ``path``, whole or not at all."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb" if isinstance(content, bytes) else "w") as fh:
            fh.write(content)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def expected_sha256(rf: RemoteFile) -> str | None:
    """The hash ``rf``'s stored file must have: pinned, else recorded at first arrival, else None."""
    if rf.sha256 is not None:
        return rf.sha256.lower()
    record = recorded_sha256(rf)
    return record[0] if record else None


def store_path(rf: RemoteFile) -> Path:
    """Where ``rf`` lives (or would live) in the store."""
    return home() / rf.filename


def cached_path(rf: RemoteFile) -> Path | None:
    """The stored file for ``rf`` when present and verified, else None (a bad hash counts as absent).

    A file with neither a pinned hash nor a record was put there by hand: its hash is recorded now
    (origin "found") and checked on every later use."""
    path = store_path(rf)
    if not path.is_file():
        return None
    expected = expected_sha256(rf)
    if expected is None:
        _record_trust(rf, cached_sha256(path), "found")
        return path
    if cached_sha256(path) != expected:
        return None
    return path


def damaged(rf: RemoteFile) -> bool:
    """True when ``rf``'s file is in the store but its hash is not the expected one."""
    return store_path(rf).is_file() and cached_path(rf) is None


def missing_message(rf: RemoteFile, reason: str) -> str:
    """The one-line explanation for a file we could not get."""
    return (
        f"{rf.name} not available ({reason}); download {rf.url} and put it at "
        f"{store_path(rf)}, or pass its path with --weights"
    )


def install_file(rf: RemoteFile, source: str | os.PathLike[str]) -> Path:
    """Copy a local file into the store under ``rf`` after checking its hash (atomic)."""
    home().mkdir(parents=True, exist_ok=True)
    dest = store_path(rf)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{rf.filename}.", suffix=".part", dir=home())
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out, open(source, "rb") as src:
            while chunk := src.read(_CHUNK):
                out.write(chunk)
        _verify_and_place(rf, tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def _verify_and_place(rf: RemoteFile, tmp: Path, dest: Path) -> None:
    got = sha256_file(tmp)
    if rf.sha256 is not None and got != rf.sha256.lower():
        raise WeightsMismatchError(f"{rf.name}: SHA-256 mismatch (expected {rf.sha256}, got {got}) for {rf.url}")
    record = recorded_sha256(rf) if rf.sha256 is None else None
    if record is not None and record[1] == "download" and got != record[0]:
        raise WeightsMismatchError(
            f"{rf.name}: SHA-256 {got} differs from {record[0]} recorded at its first download from {rf.url} "
            f"(delete {_trust_record(dest)} to trust the new file)"
        )
    os.chmod(tmp, 0o644)  # mkstemp makes it owner-only; the store is ordinary cache
    os.replace(tmp, dest)
    _sidecar(dest).unlink(missing_ok=True)
    cached_sha256(dest)
    if rf.sha256 is None and (record is None or record[1] != "download"):
        _record_trust(rf, got, "download")


def fetch(rf: RemoteFile, *, progress: bool = True, timeout: float = 30.0) -> Path:
    """Return the verified stored file for ``rf``, downloading it first if needed.

    Raises WeightsNotFoundError (one line: URL, where to put the file, ``--weights``) when
    offline or when the download fails, WeightsMismatchError when the download's hash is wrong.
    """
    found = cached_path(rf)
    if found is not None:
        return found
    if offline():
        why = "VIDBOKEH_OFFLINE is set"
        if damaged(rf):
            why = f"the stored file's SHA-256 is not the expected {expected_sha256(rf)}, and {why}"
        raise WeightsNotFoundError(missing_message(rf, why))
    try:
        home().mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise WeightsNotFoundError(missing_message(rf, f"cannot create {home()}: {exc}")) from exc
    dest = store_path(rf)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{rf.filename}.", suffix=".part", dir=home())
    tmp = Path(tmp_name)
    try:
        try:
            _download(rf.url, fd, progress=progress, timeout=timeout, label=rf.name)
        except OSError as exc:  # URLError, HTTPError, timeouts, disk errors are all OSError
            reason = " ".join(str(exc).split()) or type(exc).__name__
            raise WeightsNotFoundError(missing_message(rf, f"download failed: {reason}")) from exc
        _verify_and_place(rf, tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def _download(url: str, fd: int, *, progress: bool, timeout: float, label: str) -> None:
    from tqdm import tqdm

    request = urllib.request.Request(url, headers={"User-Agent": "vidbokeh"})
    with os.fdopen(fd, "wb") as out, urllib.request.urlopen(request, timeout=timeout) as resp:
        total = resp.headers.get("Content-Length")
        with tqdm(
            total=int(total) if total and total.isdigit() else None,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            desc=label,
            disable=not progress,
            leave=False,
        ) as bar:
            while chunk := resp.read(_CHUNK):
                out.write(chunk)
                bar.update(len(chunk))
