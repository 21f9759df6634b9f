"""The batch manifest: ``DIR/manifest.jsonl``, one JSON object per finished item, appended as items end.

Each line records the item's input and output (relative to the input root and to DIR), its status
(``done`` or ``failed``), the settings it was made with and their key, the timings, the frame count and,
for a failure, its one-line error. The latest line for an input is its state: a rerun skips an input
whose latest line is ``done`` with the same settings key and whose output is still there, and redoes the
rest. A line is written with one ``write`` on a file opened for appending and flushed to disk, so a
killed run leaves at most one torn last line, which reading skips.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

MANIFEST_NAME = "manifest.jsonl"


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def settings_record(*parts: Any) -> dict[str, Any]:
    """Settings dataclasses -> one JSON-ready dict keyed by class name (what the manifest records)."""
    return {type(p).__name__: _plain(p) for p in parts}


def settings_key(record: dict[str, Any]) -> str:
    """A short stable digest of a settings record: equal settings, equal key."""
    text = json.dumps(record, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Entry:
    """One manifest line."""

    input: str
    output: str
    kind: str
    status: str  # "done" | "failed"
    settings_key: str
    settings: dict[str, Any] = field(default_factory=dict)
    frames: int = 0
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)
    segments: int = 0
    flicker: dict[str, float] | None = None
    error: str | None = None
    engine: str = "local"
    workers: list[str] = field(default_factory=list)  # host:pid of the processes that did it
    finished: str = ""

    def __post_init__(self) -> None:
        if self.status not in ("done", "failed"):
            raise ValueError(f"manifest status must be done or failed, got {self.status!r}")


class Manifest:
    """Read once at the start of a run, appended to as items finish."""

    def __init__(self, out_dir: Path) -> None:
        self.path = Path(out_dir) / MANIFEST_NAME
        self.latest: dict[str, Entry] = {}
        self.torn_lines = 0
        if self.path.exists():
            self._read()

    def _read(self) -> None:
        names = {f.name for f in dataclasses.fields(Entry)}
        with open(self.path, encoding="utf-8") as fh:
            for line in fh:
                if not line.strip():
                    continue
                try:
                    data = json.loads(line)
                    entry = Entry(**{k: v for k, v in data.items() if k in names})
                except (ValueError, TypeError):
                    self.torn_lines += 1  # a line cut short by a killed run
                    continue
                self.latest[entry.input] = entry
        if self.torn_lines:
            log.warning("%s: %d unreadable line(s) skipped", self.path, self.torn_lines)

    def is_done(self, relative: str, key: str, output: Path) -> bool:
        entry = self.latest.get(relative)
        return entry is not None and entry.status == "done" and entry.settings_key == key and output.exists()

    def append(self, entry: Entry) -> None:
        if not entry.finished:
            entry = dataclasses.replace(entry, finished=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        line = json.dumps(dataclasses.asdict(entry), separators=(",", ":")) + "\n"
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)
        self.latest[entry.input] = entry
