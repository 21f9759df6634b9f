"""Helpers for tests that drive the CLI (in-process or as a process) and check its one-line error contract."""
from __future__ import annotations

import re
import threading

from vidbokeh.cli import run


def cli(args: list, capsys) -> tuple[int, str]:
    """Run `vidbokeh ARGS` in this process: (exit code, what it wrote to stderr)."""
    code = run([str(a) for a in args])
    return code, capsys.readouterr().err


def error_line(err: str) -> str:
    """The single error line; fails on tracebacks or several error lines."""
    assert "Traceback" not in err
    lines = [ln for ln in err.replace("\r", "\n").splitlines() if ln.startswith("vidbokeh: error")
             or ln.startswith("vidbokeh: internal error")]
    assert len(lines) == 1, lines
    return lines[0]


def progress_reader(stream, seen: threading.Event, want: int, sink: list[str]) -> None:
    """Collect stderr; set ``seen`` once the progress bar shows at least ``want`` frames done."""
    buf = ""
    while True:
        chunk = stream.read(1)
        if not chunk:
            break
        buf += chunk
        if chunk in "\r\n]":
            done = re.findall(r"\| *(\d+)/", buf[-200:])
            if done and int(done[-1]) >= want:
                seen.set()
    sink.append(buf)
    seen.set()  # the process ended (or closed stderr): never leave the waiter blocked
