"""The live preview: an OpenCV window showing frames with a legible text overlay; returns the keys pressed.

The window opens at the frame's size (scaled down only to fit the screen), without Qt's toolbar, so one
frame pixel is one screen pixel where it fits. The overlay is drawn after scaling, in screen pixels:
its size does not depend on the frame's.
"""
from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np

from vidbokeh.errors import UsageError
from vidbokeh.media.display import av_loaded_before_cv2, fit_to_screen, probe_display

#: Text height as a share of the shown image's height, and its bounds in OpenCV font scale units.
_TEXT_SHARE, _MIN_SCALE, _MAX_SCALE = 1 / 28, 0.45, 1.1


class PreviewSink:
    """Show frames in an OpenCV window; `write` returns the key pressed (-1 for none).

    Closing the window counts as pressing `quit_key`. `gui` is the OpenCV module by default; unit
    tests of the logic around it pass a stand-in with the same functions.
    """

    def __init__(self, title: str = "vidbokeh", *, wait_ms: int = 1, quit_key: str = "q",
                 gui: Any | None = None, check_display: bool = True) -> None:
        self.title = title
        self.wait_ms = max(1, int(wait_ms))
        self.quit_key = ord(quit_key)
        self._gui = gui
        self._check = check_display and gui is None
        self._open = False
        self._screen: tuple[int, int] | None = None
        self.shown_size: tuple[int, int] | None = None  # (width, height) of the image in the window
        self.frames_shown = 0

    def open(self, size: tuple[int, int] | None = None) -> "PreviewSink":
        """Open the window; at `size` (the frames' width, height, fitted to the screen) when known."""
        if self._open:
            return self
        if self._gui is None and av_loaded_before_cv2():
            raise UsageError("cannot open the preview window: this process loaded PyAV before OpenCV, which "
                             "makes OpenCV's window hang (import cv2 or vidbokeh first); use --no-preview")
        if self._check:
            display = probe_display()
            if display.problem:
                raise UsageError(f"cannot open the preview window: {display.problem}; use --no-preview")
            self._screen = display.screen
        if self._gui is None:
            import cv2

            self._gui = cv2
        gui = self._gui
        flags = getattr(gui, "WINDOW_NORMAL", 0) | getattr(gui, "WINDOW_KEEPRATIO", 0) \
            | getattr(gui, "WINDOW_GUI_NORMAL", 0)
        try:
            gui.namedWindow(self.title, flags)
        except Exception as exc:
            raise UsageError(f"cannot open the preview window: {exc}; use --no-preview") from exc
        self._open = True
        if size is not None:  # a dark frame with a word while the first frame is being made (models load)
            shown = self._size_window(size)
            waiting = np.full((shown[1], shown[0], 3), 24, np.uint8)
            self._overlay(waiting, ("waiting for the first frame...",))
            gui.imshow(self.title, waiting)
            self.poll()
        return self

    def _size_window(self, frame_size: tuple[int, int]) -> tuple[int, int]:
        """Size the window for frames of `frame_size`; returns the size the image is shown at."""
        size = fit_to_screen(frame_size, self._screen)
        if size != self.shown_size:
            self.shown_size = size
            try:
                self._gui.resizeWindow(self.title, *size)
            except Exception:  # a window that cannot be sized still shows the frame
                pass
        return size

    def __enter__(self) -> "PreviewSink":
        return self.open()

    def __exit__(self, *exc) -> None:
        self.close()

    def write(self, rgb: np.ndarray, pts: int | None = None, time_base: Fraction | None = None,
              duration: int | None = None, *, lines: tuple[str, ...] = ()) -> int:
        """Show one RGB frame with optional text `lines` (fps, latency, keys...); return the key code or -1."""
        if not self._open:
            self.open()
        gui = self._gui
        height, width = rgb.shape[:2]
        size = self._size_window((width, height))
        bgr = np.ascontiguousarray(rgb[..., ::-1])
        if size != (width, height):
            bgr = gui.resize(bgr, size, interpolation=getattr(gui, "INTER_AREA", 3))
        if lines:
            self._overlay(bgr, lines)
        gui.imshow(self.title, bgr)
        self.frames_shown += 1
        key = self.poll()
        if self.frames_shown == 1 and self._check:  # a real window: see media/x11_remap.py
            from .x11_remap import remap_unmanaged_window

            remap_unmanaged_window(self.title)
        return key

    def poll(self) -> int:
        """Let the window handle its events without a new frame; return the key code or -1."""
        if not self._open:
            return -1
        gui = self._gui
        key = int(gui.waitKey(self.wait_ms))
        try:
            visible = gui.getWindowProperty(self.title, getattr(gui, "WND_PROP_VISIBLE", 4))
        except Exception:
            visible = 1
        if visible is not None and visible < 1:
            return self.quit_key  # the user closed the window
        return key & 0xFF if key >= 0 else -1

    def _overlay(self, bgr: np.ndarray, lines: tuple[str, ...]) -> None:
        """White text with a black shadow on a darkened band, sized for the shown image.

        The shadow uses the text's own thickness: OpenCV 5 draws a thicker stroke with other glyph widths.
        """
        gui = self._gui
        height, width = bgr.shape[:2]
        scale = float(np.clip(height * _TEXT_SHARE / 22.0, _MIN_SCALE, _MAX_SCALE))
        thickness = 2 if scale >= 0.8 else 1
        if hasattr(gui, "getTextSize"):  # the longest line fits the width, down to the smallest legible size
            longest = max(gui.getTextSize(text, 0, scale, thickness)[0][0] for text in lines)
            room = width - int(10 * scale) - 12
            if longest > room:
                scale = max(_MIN_SCALE, scale * room / longest)
                thickness = 2 if scale >= 0.8 else 1
        step = int(round(30 * scale))
        band = min(height, step * len(lines) + step // 2)
        bgr[:band] = (bgr[:band].astype(np.uint16) * 2 // 5).astype(np.uint8)
        for i, text in enumerate(lines):
            org = (int(10 * scale) + 4, step * (i + 1))
            shadow = (org[0] + thickness + 1, org[1] + thickness + 1)
            gui.putText(bgr, text, shadow, 0, scale, (0, 0, 0), thickness, 16)
            gui.putText(bgr, text, org, 0, scale, (255, 255, 255), thickness, 16)

    def close(self) -> None:
        if self._open and self._gui is not None:
            try:
                self._gui.destroyWindow(self.title)
                self._gui.waitKey(1)
            except Exception:
                pass
        self._open = False
