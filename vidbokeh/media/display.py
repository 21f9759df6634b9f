"""Whether an OpenCV window can open here, asked without risking the process."""
from __future__ import annotations

import os
from pathlib import Path


def display_problem() -> str | None:
    """Why an OpenCV window cannot open here (None if it can).

    OpenCV's Qt build aborts the whole process when no platform plugin initialises,
    so this is checked from the environment and, when that looks fine, in a child process.
    """
    import platform
    import subprocess
    import sys

    if platform.system() != "Linux":
        return None
    qpa = os.environ.get("QT_QPA_PLATFORM", "xcb").split(":")[0] or "xcb"
    try:
        import cv2

        plugins = Path(cv2.__file__).parent / "qt" / "plugins" / "platforms"
    except ImportError:
        return "OpenCV is not installed"
    if plugins.is_dir() and not any(plugins.glob(f"libq{qpa}.so*")):
        return f"OpenCV's Qt has no '{qpa}' platform plugin (QT_QPA_PLATFORM={qpa})"
    if qpa == "xcb" and not os.environ.get("DISPLAY"):
        return "no display (DISPLAY is not set)"
    if qpa.startswith("wayland") and not os.environ.get("WAYLAND_DISPLAY"):
        return "no display (WAYLAND_DISPLAY is not set)"
    probe_code = "import cv2; cv2.namedWindow('vidbokeh-probe'); cv2.destroyAllWindows()"
    try:
        done = subprocess.run([sys.executable, "-c", probe_code], capture_output=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return "the display did not answer"
    if done.returncode != 0:
        return "OpenCV could not open a window on this display"
    return None
