"""Whether an OpenCV window can open here, and how large the screen is, asked without risking the process."""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

#: Run in a child process: OpenCV's Qt aborts the whole process when no platform plugin initialises.
#: It also reads the screen size from Xlib (the child has no PyAV loaded, see media/__init__.py).
_PROBE = """
import cv2
cv2.namedWindow('vidbokeh-probe')
cv2.destroyAllWindows()
try:
    import ctypes, ctypes.util
    x11 = ctypes.CDLL(ctypes.util.find_library('X11') or 'libX11.so.6')
    x11.XOpenDisplay.restype = ctypes.c_void_p
    x11.XOpenDisplay.argtypes = [ctypes.c_char_p]
    for name in ('XDefaultScreen', 'XCloseDisplay'):
        getattr(x11, name).argtypes = [ctypes.c_void_p]
    for name in ('XDisplayWidth', 'XDisplayHeight'):
        getattr(x11, name).argtypes = [ctypes.c_void_p, ctypes.c_int]
    display = x11.XOpenDisplay(None)
    if display:
        screen = x11.XDefaultScreen(display)
        print('screen', x11.XDisplayWidth(display, screen), x11.XDisplayHeight(display, screen))
        x11.XCloseDisplay(display)
except Exception:
    pass
"""


@dataclass(frozen=True)
class DisplayInfo:
    problem: str | None  # why no window can open here (None: it can)
    screen: tuple[int, int] | None = None  # (width, height) in pixels, when known


def av_loaded_before_cv2() -> bool:
    """True when this process loaded PyAV before OpenCV (sys.modules keeps the order of first imports).

    Then OpenCV's xcb window would hang (see media/__init__.py); vidbokeh itself never does this.
    """
    order = list(sys.modules)
    return "av" in sys.modules and "cv2" in sys.modules and order.index("av") < order.index("cv2")


def probe_display() -> DisplayInfo:
    """Why an OpenCV window cannot open here (None if it can), and the screen size when it can.

    Checked from the environment and, when that looks fine, in a child process.
    """
    import platform
    import subprocess

    if platform.system() != "Linux":
        return DisplayInfo(None)
    qpa = os.environ.get("QT_QPA_PLATFORM", "xcb").split(":")[0] or "xcb"
    try:
        import cv2

        plugins = Path(cv2.__file__).parent / "qt" / "plugins" / "platforms"
    except ImportError:
        return DisplayInfo("OpenCV is not installed")
    if plugins.is_dir() and not any(plugins.glob(f"libq{qpa}.so*")):
        return DisplayInfo(f"OpenCV's Qt has no '{qpa}' platform plugin (QT_QPA_PLATFORM={qpa})")
    if qpa == "xcb" and not os.environ.get("DISPLAY"):
        return DisplayInfo("no display (DISPLAY is not set)")
    if qpa.startswith("wayland") and not os.environ.get("WAYLAND_DISPLAY"):
        return DisplayInfo("no display (WAYLAND_DISPLAY is not set)")
    try:
        done = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return DisplayInfo("the display did not answer")
    if done.returncode != 0:
        return DisplayInfo("OpenCV could not open a window on this display" + _qt_reason(done.stderr))
    screen = None
    for line in done.stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == "screen" and parts[1].isdigit() and parts[2].isdigit():
            screen = (int(parts[1]), int(parts[2]))
    return DisplayInfo(None, screen)


def _qt_reason(stderr: str) -> str:
    """Qt's own first word on why its platform plugin failed (" (Qt: could not connect to display :1)"), if any."""
    for line in stderr.splitlines():
        category, sep, message = line.partition(": ")
        if sep and category.startswith("qt.qpa") and message.strip():
            return f" (Qt: {message.strip()[:200]})"
    return ""


def display_problem() -> str | None:
    """Why an OpenCV window cannot open here (None if it can)."""
    return probe_display().problem


def fit_to_screen(size: tuple[int, int], screen: tuple[int, int] | None, *, margin: int = 80) -> tuple[int, int]:
    """`size` (width, height), scaled down to fit `screen` less a margin for panels and the title bar.

    Never scaled up; the aspect ratio is kept.
    """
    width, height = size
    if screen is None:
        return width, height
    room_w, room_h = max(64, screen[0] - margin), max(64, screen[1] - margin)
    scale = min(1.0, room_w / width, room_h / height)
    return max(1, int(width * scale)), max(1, int(height * scale))
