"""Browser sessions: what each browser owns (photos, video jobs, a work folder), kept apart.

A browser gets a random token in an HttpOnly, SameSite=Strict cookie on its first request; every photo and
job it makes is found only through its own session, so another browser (or a guessed id) sees a 404. Ids and
folder names are random: nothing a client sends ever becomes part of a path.
"""
from __future__ import annotations

import logging
import secrets
import shutil
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

log = logging.getLogger(__name__)

COOKIE = "vidbokeh_session"


class Discardable(Protocol):
    def discard(self) -> None:
        """Stop whatever still runs and remove the files it owns."""


def new_id() -> str:
    """A random id for a photo or a job (URL-safe, 128 bits)."""
    return secrets.token_hex(16)


@dataclass
class BrowserSession:
    token: str
    folder: Path  # this session's own work folder (random name; made on first use)
    photos: "OrderedDict[str, Any]" = field(default_factory=OrderedDict)  # id -> Photo, oldest first
    jobs: "OrderedDict[str, Any]" = field(default_factory=OrderedDict)  # id -> VideoJob, oldest first
    last_seen: float = field(default_factory=time.monotonic)

    def touch(self) -> None:
        self.last_seen = time.monotonic()

    def work_folder(self) -> Path:
        """The session's folder, made (owner-only) on first use."""
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        return self.folder

    def add_photo(self, photo_id: str, photo: Any, limit: int) -> None:
        """Keep ``photo``; the oldest ones beyond ``limit`` are forgotten (their analyses with them)."""
        self.photos[photo_id] = photo
        while len(self.photos) > limit:
            self.photos.popitem(last=False)

    def close(self) -> None:
        """Discard every job (running ones are cancelled) and remove the work folder."""
        for job in list(self.jobs.values()):
            job.discard()
        self.jobs.clear()
        self.photos.clear()
        shutil.rmtree(self.folder, ignore_errors=True)


class SessionStore:
    """Sessions by token, each with a folder under ``root``; idle ones expire."""

    def __init__(self, root: Path, idle_ttl_s: float) -> None:
        self.root = root
        self.idle_ttl_s = idle_ttl_s
        self._sessions: dict[str, BrowserSession] = {}

    def get(self, token: str | None) -> BrowserSession | None:
        session = self._sessions.get(token) if token else None
        if session is not None:
            session.touch()
        return session

    def create(self) -> BrowserSession:
        token = secrets.token_urlsafe(32)
        session = BrowserSession(token=token, folder=self.root / new_id())
        self._sessions[token] = session
        return session

    def all(self) -> list[BrowserSession]:
        return list(self._sessions.values())

    def expire_idle(self, now: float | None = None) -> int:
        """Close sessions idle longer than the limit (those with a running job stay); returns how many."""
        now = time.monotonic() if now is None else now
        gone = [s for s in self._sessions.values() if now - s.last_seen > self.idle_ttl_s
                and not any(getattr(j, "running", False) for j in s.jobs.values())]
        for session in gone:
            del self._sessions[session.token]
            session.close()
        if gone:
            log.info("removed %d idle browser sessions", len(gone))
        return len(gone)

    def close_all(self) -> None:
        for session in list(self._sessions.values()):
            session.close()
        self._sessions.clear()
