"""Helpers for tests that drive the CLI in-process and check its one-line error contract."""
from __future__ import annotations

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
