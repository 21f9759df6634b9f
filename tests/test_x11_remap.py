"""The preview's window mapped once more where no window manager runs (vidbokeh/media/x11_remap.py).

Real X servers (Xvfb, tests/xserver.py), a real OpenCV window in a child process, the X events seen by xev, and a
real window manager (openbox) for the case where nothing must be done. Needs the Debian packages xvfb, xdotool,
x11-utils and openbox (`.ci/run` installs them).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from vidbokeh.media.x11_remap import remap_unmanaged_window
from xserver import xvfb

TOOLS = ("Xvfb", "xdotool", "xev", "xprop", "xwininfo", "openbox", "stdbuf")
pytestmark = pytest.mark.skipif(
    any(shutil.which(t) is None for t in TOOLS),
    reason="needs Xvfb, xdotool, xev, xprop and openbox (Debian: xvfb xdotool x11-utils openbox; see .ci/run)",
)

TITLE = "remap-test"
#: a window shown as the preview shows it, frame after frame; says "shown" once its first frame is
WINDOW = (f"import sys, cv2, numpy as np\ncv2.namedWindow({TITLE!r}, cv2.WINDOW_NORMAL | cv2.WINDOW_GUI_NORMAL)\n"
          "frame = np.full((120, 160, 3), 90, np.uint8)\nsaid = False\nwhile True:\n"
          f"    cv2.imshow({TITLE!r}, frame)\n    cv2.waitKey(20)\n"
          "    if not said:\n        print('shown', flush=True)\n        said = True\n")


def wait_until(what: str, probe, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")


@pytest.fixture
def display() -> Iterator[dict[str, str]]:
    with xvfb((640, 480)) as number:
        env = {**os.environ, "DISPLAY": number, "QT_QPA_PLATFORM": "xcb"}
        env.pop("WAYLAND_DISPLAY", None)
        yield env


def x(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(list(args), env=env, capture_output=True, text=True, timeout=30)
    return done.stdout.strip() if done.returncode == 0 else ""


@pytest.fixture
def window(display, monkeypatch) -> Iterator[tuple[subprocess.Popen, str]]:
    """(the child showing the window, the window's id)."""
    for key in ("DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.setenv(key, display[key])
    child = subprocess.Popen([sys.executable, "-c", WINDOW], env=display, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "shown"
        found = wait_until("the window", lambda: x(display, "xdotool", "search", "--name", f"^{TITLE}$"))
        yield child, found.split()[0]
    finally:
        child.kill()
        child.wait()


def test_a_window_with_no_manager_is_unmapped_and_mapped_again(display, window, tmp_path: Path):
    child, wid = window
    log = tmp_path / "xev.txt"
    with open(log, "w") as out:
        # line-buffered: xev writes its events through stdio
        watcher = subprocess.Popen(["stdbuf", "-oL", "xev", "-id", wid, "-event", "structure"], env=display, stdout=out,
                                   stderr=subprocess.DEVNULL)
    try:
        # xev listens once it reports a move of the window (so the remap's events cannot come before it listens);
        # each try moves it elsewhere: a move to where it is sends no event
        moves = iter(range(1, 10_000))

        def moved() -> bool:
            x(display, "xdotool", "windowmove", wid, str(next(moves)), "5")
            return "ConfigureNotify" in log.read_text()

        wait_until("xev to listen", moved)
        assert remap_unmanaged_window(TITLE, pid=child.pid) == "remapped"
        wait_until("the window mapped again", lambda: "MapNotify event" in log.read_text().partition("UnmapNotify")[2])
    finally:
        watcher.kill()
        watcher.wait()
    events = [line.split()[0] for line in log.read_text().splitlines() if line.endswith(",") and "event" in line]
    assert events.count("UnmapNotify") == 1 and events.count("MapNotify") == 1, events
    assert "IsViewable" in x(display, "xwininfo", "-id", wid)


def test_another_process_window_is_left_alone(window):
    """Only the calling process's own window is touched (two previews on one display)."""
    assert remap_unmanaged_window(TITLE, pid=os.getpid()) == "absent"
    assert remap_unmanaged_window("some other title", pid=window[0].pid) == "absent"


def test_under_a_window_manager_nothing_is_done(display, monkeypatch):
    for key in ("DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.setenv(key, display[key])
    manager = subprocess.Popen(["openbox"], env=display, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until("openbox to run", lambda: "window id" in x(display, "xprop", "-root", "_NET_SUPPORTING_WM_CHECK"))
        assert remap_unmanaged_window(TITLE) == "managed"
    finally:
        manager.kill()
        manager.wait()


def test_without_a_display_nothing_is_tried(monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    assert remap_unmanaged_window(TITLE) == "no-x"
