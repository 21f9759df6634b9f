"""The live preview in a real X server (Xvfb): the window opens, shows the frame at its size, obeys keys.

Each test starts its own Xvfb (tests/xserver.py: a free display number) and stops it at the end.
The CLI runs as a real process, found on screen with xdotool, photographed with xwd. Needs the Debian
packages xvfb, xdotool, x11-apps and imagemagick (`.ci/run` installs them).
"""
from __future__ import annotations

import io
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from xserver import xvfb

TOOLS = ("Xvfb", "xdotool", "xwd", "convert")
pytestmark = pytest.mark.skipif(
    any(shutil.which(t) is None for t in TOOLS),
    reason="needs Xvfb, xdotool, xwd and convert (Debian: xvfb xdotool x11-apps imagemagick; see .ci/run)",
)

REPO = Path(__file__).resolve().parents[1]
SIZE = (512, 480)  # the source's frame size (width, height)
SCREEN = (1280, 1024)
#: a static test pattern with sharp edges: screenshots change only when the effect does
SOURCE = f"smptebars=size={SIZE[0]}x{SIZE[1]}:rate=30"
OVERLAY_ROWS = 90  # the text overlay (rates change every frame): left out of comparisons


def wait_for(what: str, probe: Callable[[], object], timeout: float, proc: subprocess.Popen | None = None,
             last_seen: Callable[[], str] = lambda: ""):
    """Poll `probe` until it returns something other than None or False; fail after `timeout` s (saying
    `last_seen()`) or if `proc` exits meanwhile."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found is not None and found is not False and (not isinstance(found, str) or found):
            return found
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"vidbokeh exited ({proc.returncode}) while waiting for {what}: {read_err(proc)}")
        time.sleep(0.05)
    said = f"; vidbokeh said: {stacks_of(proc)}" if proc is not None else ""
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what} {last_seen()}".rstrip() + said)


def stacks_of(proc: subprocess.Popen, timeout: float = 15) -> str:
    """What a running vidbokeh wrote to stderr, with every thread's stack (SIGUSR1, see vidbokeh/cli.py): where
    it is stuck, for the message of a test that timed out."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + timeout
        # the main thread comes last, down to where `python -m` started it
        while "_run_module_as_main" not in read_err(proc) and time.monotonic() < deadline:
            time.sleep(0.05)
    return read_err(proc)[-8000:]


def read_err(proc: subprocess.Popen) -> str:
    """What the process wrote to stderr (tests set `proc.err_path`)."""
    path = getattr(proc, "err_path", None)
    return path.read_text(errors="replace") if path is not None else ""


@pytest.fixture
def xserver() -> Iterator[dict[str, str]]:
    """A private Xvfb; yields the environment that points at it."""
    with xvfb(SCREEN) as display:
        env = {**os.environ, "DISPLAY": display, "PYTHONPATH": str(REPO), "QT_QPA_PLATFORM": "xcb"}
        env.pop("WAYLAND_DISPLAY", None)
        yield env


def x(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(list(args), env=env, capture_output=True, text=True, timeout=30)
    return done.stdout.strip() if done.returncode == 0 else ""


def screenshot(env: dict[str, str], window: str) -> np.ndarray:
    """The window's pixels (RGB), as the X server has them."""
    xwd = subprocess.run(["xwd", "-silent", "-id", window], env=env, capture_output=True, timeout=30, check=True)
    png = subprocess.run(["convert", "xwd:-", "png:-"], input=xwd.stdout, capture_output=True, timeout=30,
                         check=True)
    return np.asarray(Image.open(io.BytesIO(png.stdout)).convert("RGB"))


def edge_energy(rgb: np.ndarray) -> float:
    """Mean horizontal gradient below the overlay: falls as blur grows."""
    grey = rgb[OVERLAY_ROWS:].astype(np.float32).mean(axis=2)
    return float(np.abs(np.diff(grey, axis=1)).mean())


def settled(env: dict[str, str], window: str, proc: subprocess.Popen, *, unlike: np.ndarray | None = None,
            timeout: float = 60) -> np.ndarray:
    """A screenshot at the frame's size that holds still (two in a row agree below the overlay), differing
    from `unlike` if given."""
    previous: list[np.ndarray] = []  # the screenshot before
    seen = {"last": "", "taken": 0}  # what the latest screenshot showed, for the message of a timeout

    def probe():
        shot = screenshot(env, window)
        if shot.shape[:2] != (SIZE[1], SIZE[0]):
            seen["last"] = f"(last screenshot {shot.shape[1]}x{shot.shape[0]})"
            return None  # the window is not at the frame's size (yet): a window manager may take a moment
        below = shot[OVERLAY_ROWS:].astype(np.int16)
        change = np.abs(below - previous[-1][OVERLAY_ROWS:]).mean() \
            if previous and previous[-1].shape == shot.shape else float("inf")
        previous[:] = [shot]
        seen["taken"] += 1
        seen["last"] = f"(last screenshot: {change:.2f} off the one before, spread {below.std():.1f}, " \
                       f"mean {below.mean():.1f}, {seen['taken']} taken)"
        if change >= 0.5 or below.std() < 5:  # still changing, or no frame yet (an empty window)
            return None
        if unlike is not None and unlike.shape == shot.shape and np.abs(below - unlike[OVERLAY_ROWS:]).mean() < 2:
            seen["last"] += " as before the keys"
            return None
        return shot

    return wait_for("the window to show a steady frame", probe, timeout, proc, lambda: seen["last"])


def press(env: dict[str, str], window: str, keys: str) -> None:
    for key in keys:
        name = {"+": "plus", "-": "minus"}.get(key, key)
        subprocess.run(["xdotool", "windowfocus", "--sync", window, "key", "--clearmodifiers", name], env=env,
                       check=True, timeout=30)


def reference_bars(env: dict[str, str]) -> np.ndarray:
    """The source pattern itself (one frame of it), decoded the way vidbokeh decodes it."""
    code = ("import sys, numpy as np; from vidbokeh.media.camera import CameraSource\n"
            f"src = CameraSource({SOURCE!r}, 'lavfi').open(); frame = next(iter(src)); src.close()\n"
            "sys.stdout.buffer.write(frame.rgb.tobytes())")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, timeout=60, check=True)
    return np.frombuffer(out.stdout, np.uint8).reshape(SIZE[1], SIZE[0], 3)


def start_webcam(env: dict[str, str], tmp_path: Path, *extra: str) -> subprocess.Popen:
    """`vidbokeh webcam` with its window on the static pattern, played at its rate; stderr kept in a file."""
    err_path = tmp_path / "stderr.txt"
    with open(err_path, "wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "vidbokeh", "webcam", "--input-format", "lavfi", "--camera", SOURCE,
             "--realtime", "--approach", "selfie", *extra],
            env=env, stdout=subprocess.DEVNULL, stderr=err, cwd=tmp_path,
        )
    proc.err_path = err_path  # for failure messages
    return proc


#: what vidbokeh says once its window shows the first frame (vidbokeh/webcam_mode.py)
SHOWN = "live: the first frame is in the window 'vidbokeh'"


def find_window(env: dict[str, str], proc: subprocess.Popen) -> str:
    """The window's id, looked for once vidbokeh says it shows the first frame (not polled for from the start:
    no X client of the test's runs beside Qt while it maps its window)."""
    wait_for("vidbokeh to say its window shows the first frame", lambda: SHOWN in read_err(proc), 90, proc)
    return wait_for("the vidbokeh window", lambda: x(env, "xdotool", "search", "--name", "^vidbokeh$"),
                    30, proc).split()[0]


def test_live_window_shows_the_frame_at_its_size_and_obeys_keys(xserver, tmp_path):
    env = xserver
    proc = start_webcam(env, tmp_path)
    err_path = proc.err_path
    try:
        window = find_window(env, proc)
        first = settled(env, window, proc)

        # the frame is there, at its size: one frame pixel per screen pixel
        geometry = x(env, "xdotool", "getwindowgeometry", window)
        assert f"Geometry: {SIZE[0]}x{SIZE[1]}" in geometry, geometry
        assert first.shape[:2] == (SIZE[1], SIZE[0])
        bars = reference_bars(env)
        shown_cols = first[OVERLAY_ROWS:].astype(np.float32).mean(axis=(0, 2))
        source_cols = bars[OVERLAY_ROWS:].astype(np.float32).mean(axis=(0, 2))
        assert np.corrcoef(shown_cols, source_cols)[0, 1] > 0.9  # the bars, in place (blurred at their edges)
        assert first[:OVERLAY_ROWS].mean() < bars[:OVERLAY_ROWS].mean()  # the overlay's darkened band

        press(env, window, "---")  # less blur: sharper edges
        sharper = settled(env, window, proc, unlike=first)
        press(env, window, "++++++")  # more blur than at the start
        blurrier = settled(env, window, proc, unlike=sharper)
        energies = [edge_energy(shot) for shot in (sharper, first, blurrier)]
        assert energies == sorted(energies, reverse=True), energies

        press(env, window, "q")
        wait_for("vidbokeh to quit", lambda: proc.poll() is not None, 60)
        assert proc.returncode == 0, err_path.read_text()
        assert "frames" in err_path.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signals_end_a_run_with_its_window_open_and_keep_the_recording(xserver, tmp_path, sig, code):
    """The hang ignored Ctrl-C and SIGTERM; with the window showing frames, both end the run at once."""
    out = tmp_path / "rec.mp4"
    proc = start_webcam(xserver, tmp_path, "--output", str(out))
    try:
        window = find_window(xserver, proc)
        settled(xserver, window, proc)
        proc.send_signal(sig)
        wait_for("vidbokeh to stop", lambda: proc.poll() is not None, 60)
        err = proc.err_path.read_text(errors="replace")
        assert proc.returncode == code, err
        assert "interrupted" in err and "Traceback" not in err
        with av.open(str(out)) as recording:  # finalized, playable
            assert sum(1 for _ in recording.decode(video=0)) > 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_import_order_cannot_hang_the_window(xserver):
    """PyAV loaded through vidbokeh (OpenCV first) leaves OpenCV's window working; av first is refused."""
    opens = ("import vidbokeh.media.sources, vidbokeh.media.video_file, cv2\n"
             "cv2.namedWindow('w'); cv2.waitKey(1); cv2.destroyAllWindows(); print('opened')")
    done = subprocess.run([sys.executable, "-c", opens], env=xserver, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "opened" in done.stdout, done.stderr
    refuses = ("import av, cv2\nfrom vidbokeh.errors import UsageError\nfrom vidbokeh.media.preview import PreviewSink\n"
               "try:\n    PreviewSink().open()\nexcept UsageError as exc:\n    print(exc)")
    done = subprocess.run([sys.executable, "-c", refuses], env=xserver, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "loaded PyAV before OpenCV" in done.stdout, done.stdout + done.stderr
