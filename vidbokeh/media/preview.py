"""The live preview: an OpenCV window showing frames with a text overlay; returns the keys pressed."""
from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np

from vidbokeh.errors import UsageError
from vidbokeh.media.display import display_problem


class PreviewSink:
    """Show frames in an OpenCV window; `write` returns the key pressed (-1 for none).

    Closing the window counts as pressing `quit_key`. `gui` is the OpenCV module by
    default; tests pass a stand-in with the same five functions.
    """

    def __init__(self, title: str = "vidbokeh", *, wait_ms: int = 1, quit_key: str = "q",
                 gui: Any | None = None, check_display: bool = True) -> None:
        self.title = title
        self.wait_ms = max(1, int(wait_ms))
        self.quit_key = ord(quit_key)
        self._gui = gui
        self._check = check_display and gui is None
        self._open = False
        self.frames_shown = 0

    def open(self) -> "PreviewSink":
        if self._open:
            return self
        if self._check:
            problem = display_problem()
            if problem:
                raise UsageError(f"cannot open the preview window: {problem}; use --no-preview")
        if self._gui is None:
            import cv2

            self._gui = cv2
        try:
            self._gui.namedWindow(self.title, getattr(self._gui, "WINDOW_NORMAL", 0))
        except Exception as exc:
            raise UsageError(f"cannot open the preview window: {exc}; use --no-preview") from exc
        self._open = True
        return self

    def __enter__(self) -> "PreviewSink":
        return self.open()

    def __exit__(self, *exc) -> None:
        self.close()

    def write(self, rgb: np.ndarray, pts: int | None = None, time_base: Fraction | None = None,
              duration: int | None = None, *, lines: tuple[str, ...] = ()) -> int:
        """Show one RGB frame with optional text `lines` (fps, latency...); return the key code or -1."""
        if not self._open:
            self.open()
        gui = self._gui
        bgr = np.ascontiguousarray(rgb[..., ::-1])
        if lines:
            scale = max(0.4, bgr.shape[0] / 900)
            for i, text in enumerate(lines):
                org = (10, int((i + 1) * 26 * scale + 6))
                gui.putText(bgr, text, org, 0, scale, (0, 0, 0), 3, 16)
                gui.putText(bgr, text, org, 0, scale, (255, 255, 255), 1, 16)
        gui.imshow(self.title, bgr)
        key = int(gui.waitKey(self.wait_ms))
        self.frames_shown += 1
        try:
            visible = gui.getWindowProperty(self.title, getattr(gui, "WND_PROP_VISIBLE", 4))
        except Exception:
            visible = 1
        if visible is not None and visible < 1:
            return self.quit_key  # the user closed the window
        return key & 0xFF if key >= 0 else -1

    def close(self) -> None:
        if self._open and self._gui is not None:
            try:
                self._gui.destroyWindow(self.title)
                self._gui.waitKey(1)
            except Exception:
                pass
        self._open = False
