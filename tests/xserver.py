"""A private X server (Xvfb) for tests and benchmarks that open real windows.

The display number is picked here (the first free one from a per-process start; the next one if Xvfb
finds it taken); `-displayfd` tells when the server accepts clients. `-noreset`: without it the server
resets whenever its last client leaves, and a client connecting meanwhile is refused (Qt then aborts with
"could not connect to display"); a test polling with xdotool while vidbokeh starts hit that now and then.
A desktop has a window manager connected all along, so it never resets under a user.
"""
from __future__ import annotations

import contextlib
import os
import select
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path


def _read_line(fd: int, timeout: float) -> str:
    """Read up to the newline: Xvfb writes the number and the newline apart, and dies if the pipe closed
    between the two."""
    data = b""
    deadline = time.monotonic() + timeout
    while not data.endswith(b"\n"):
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        chunk = os.read(fd, 64) if ready else b""
        if not chunk:
            break
        data += chunk
    return data.decode(errors="replace").strip()


@contextlib.contextmanager
def xvfb(screen: tuple[int, int] = (1280, 1024), *, tries: int = 20) -> Iterator[str]:
    """Run Xvfb for the duration of the block; yields its DISPLAY value (":N"). Stopped at the end."""
    number = 100 + os.getpid() % 800
    for _ in range(tries):
        while Path(f"/tmp/.X{number}-lock").exists() or Path(f"/tmp/.X11-unix/X{number}").exists():
            number += 1
        read_fd, write_fd = os.pipe()
        server = subprocess.Popen(
            ["Xvfb", f":{number}", "-displayfd", str(write_fd), "-screen", "0", f"{screen[0]}x{screen[1]}x24",
             "-nolisten", "tcp", "-noreset"],
            pass_fds=(write_fd,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        os.close(write_fd)
        try:
            answer = _read_line(read_fd, timeout=30)  # written once the server accepts clients
        finally:
            os.close(read_fd)
        if answer == str(number):
            try:
                yield f":{number}"
            finally:
                server.terminate()
                try:
                    server.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    server.kill()
                    server.wait()
            return
        server.kill()  # the display was taken meanwhile (or the server failed): the next number
        server.wait()
        number += 1
    raise RuntimeError("Xvfb did not start")
