"""The weight/model store: hashing, sidecar cache, fetch (file:// URLs), offline and failures."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from vidbokeh import store
from vidbokeh.errors import WeightsMismatchError, WeightsNotFoundError


@pytest.fixture()
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "store"
    monkeypatch.setenv("VIDBOKEH_HOME", str(folder))
    monkeypatch.delenv("VIDBOKEH_OFFLINE", raising=False)
    return folder


def _source(tmp_path: Path, payload: bytes = b"weights" * 1000) -> tuple[Path, str]:
    src = tmp_path / "src.bin"
    src.write_bytes(payload)
    return src, hashlib.sha256(payload).hexdigest()


def test_home_and_offline_follow_environment(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert store.home() == home
    assert not store.offline()
    monkeypatch.setenv("VIDBOKEH_OFFLINE", "1")
    assert store.offline()
    monkeypatch.delenv("VIDBOKEH_HOME")
    assert store.home().name == "vidbokeh"


def test_fetch_downloads_verifies_and_reuses(home: Path, tmp_path: Path) -> None:
    src, digest = _source(tmp_path)
    rf = store.RemoteFile("test weights", src.as_uri(), digest, "w.bin")
    assert store.cached_path(rf) is None
    path = store.fetch(rf, progress=False)
    assert path == home / "w.bin"
    assert path.read_bytes() == src.read_bytes()
    assert store.cached_path(rf) == path
    assert not list(home.glob("*.part"))  # no temporary left behind
    src.unlink()  # second call must not touch the network/source
    assert store.fetch(rf, progress=False) == path


def test_sidecar_reused_until_file_changes(home: Path, tmp_path: Path, monkeypatch) -> None:
    src, digest = _source(tmp_path)
    rf = store.RemoteFile("test weights", src.as_uri(), digest, "w.bin")
    path = store.fetch(rf, progress=False)
    calls = []
    real = store.sha256_file
    monkeypatch.setattr(store, "sha256_file", lambda p: calls.append(p) or real(p))
    assert store.cached_path(rf) == path
    assert calls == []  # sidecar hit, no re-hash
    path.write_bytes(b"corrupted")
    os.utime(path, ns=(1, 1))
    assert store.cached_path(rf) is None  # size/mtime changed -> re-hashed -> mismatch
    assert len(calls) == 1


def test_hash_mismatch_raises_and_leaves_nothing(home: Path, tmp_path: Path) -> None:
    src, _ = _source(tmp_path)
    rf = store.RemoteFile("test weights", src.as_uri(), "0" * 64, "w.bin")
    with pytest.raises(WeightsMismatchError):
        store.fetch(rf, progress=False)
    assert not (home / "w.bin").exists()
    assert not list(home.glob("*.part"))


def test_failed_download_is_one_line_with_url_path_and_flag(home: Path, tmp_path: Path) -> None:
    missing = (tmp_path / "nope.bin").as_uri()
    rf = store.RemoteFile("test weights", missing, None, "w.bin")
    with pytest.raises(WeightsNotFoundError) as info:
        store.fetch(rf, progress=False)
    message = str(info.value)
    assert "\n" not in message
    assert missing in message and str(home / "w.bin") in message and "--weights" in message
    assert not list(home.glob("*.part"))


def test_offline_never_downloads(home: Path, tmp_path: Path, monkeypatch) -> None:
    src, digest = _source(tmp_path)
    rf = store.RemoteFile("test weights", src.as_uri(), digest, "w.bin")
    monkeypatch.setenv("VIDBOKEH_OFFLINE", "1")
    with pytest.raises(WeightsNotFoundError, match="OFFLINE"):
        store.fetch(rf, progress=False)
    monkeypatch.delenv("VIDBOKEH_OFFLINE")
    store.fetch(rf, progress=False)
    monkeypatch.setenv("VIDBOKEH_OFFLINE", "1")
    assert store.fetch(rf, progress=False) == home / "w.bin"  # cached works offline


def test_install_file_checks_hash(home: Path, tmp_path: Path) -> None:
    src, digest = _source(tmp_path)
    good = store.RemoteFile("w", "pypi:x", digest, "w.bin")
    assert store.install_file(good, src).read_bytes() == src.read_bytes()
    bad = store.RemoteFile("w", "pypi:x", "f" * 64, "v.bin")
    with pytest.raises(WeightsMismatchError):
        store.install_file(bad, src)
    assert store.sha256_file(src) == digest


def test_unpinned_file_is_trusted_on_first_download_then_verified(home: Path, tmp_path: Path) -> None:
    src, digest = _source(tmp_path)
    rf = store.RemoteFile("test weights", src.as_uri(), None, "w.bin")
    path = store.fetch(rf, progress=False)
    assert store.recorded_sha256(rf) == (digest, "download")
    assert store.expected_sha256(rf) == digest
    path.write_bytes(b"tampered")
    os.utime(path, ns=(1, 1))
    assert store.cached_path(rf) is None and store.damaged(rf)
    src.write_bytes(b"the server now sends something else")
    with pytest.raises(WeightsMismatchError, match="recorded at its first download"):
        store.fetch(rf, progress=False)
    assert path.read_bytes() == b"tampered"  # the refused download replaced nothing
    assert not list(home.glob("*.part"))


def test_a_download_replaces_the_record_of_a_file_put_there_by_hand(home: Path, tmp_path: Path) -> None:
    src, digest = _source(tmp_path)
    rf = store.RemoteFile("test weights", src.as_uri(), None, "w.bin")
    home.mkdir()
    (home / "w.bin").write_bytes(b"garbage put there by hand")
    assert store.cached_path(rf) == home / "w.bin"
    assert store.recorded_sha256(rf)[1] == "found"
    (home / "w.bin").unlink()  # what the error for an unreadable file tells the user to do
    assert store.fetch(rf, progress=False).read_bytes() == src.read_bytes()
    assert store.recorded_sha256(rf) == (digest, "download")
