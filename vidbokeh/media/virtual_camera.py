"""A virtual camera sink (pyvirtualcam, an optional extra) for video calls."""
from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from typing import Any

import numpy as np

from vidbokeh.errors import OutputError, UsageError


class VirtualCameraSink:
    """Send frames to a virtual camera (pyvirtualcam, an optional extra) for video calls.

    `backend` builds the camera: pyvirtualcam.Camera by default (imported only here);
    tests pass a stand-in with the same call signature returning an object with
    send(rgb), close() and a `device` attribute.
    """

    def __init__(self, width: int, height: int, fps: float, *, device: str | None = None,
                 backend: Callable[..., Any] | None = None) -> None:
        self.width, self.height, self.fps = int(width), int(height), float(fps)
        self.device_request = device
        self._backend = backend
        self._camera: Any = None
        self.frames_sent = 0

    def open(self) -> "VirtualCameraSink":
        if self._camera is not None:
            return self
        backend = self._backend
        kwargs: dict[str, Any] = {}
        if backend is None:
            try:
                import pyvirtualcam
            except ImportError:
                raise UsageError(
                    "--virtual-camera needs pyvirtualcam: pip install 'vidbokeh[virtualcam]' "
                    "(and v4l2loopback on Linux, OBS on Windows/macOS)"
                ) from None
            backend = pyvirtualcam.Camera
            kwargs["fmt"] = pyvirtualcam.PixelFormat.RGB
        try:
            self._camera = backend(self.width, self.height, self.fps, device=self.device_request, **kwargs)
        except (RuntimeError, OSError, ValueError) as exc:
            raise OutputError(f"virtual camera unavailable: {exc}") from exc
        return self

    @property
    def device(self) -> str | None:
        return getattr(self._camera, "device", None)

    def __enter__(self) -> "VirtualCameraSink":
        return self.open()

    def __exit__(self, *exc) -> None:
        self.close()

    def write(self, rgb: np.ndarray, pts: int | None = None, time_base: Fraction | None = None,
              duration: int | None = None) -> None:
        if self._camera is None:
            self.open()
        if rgb.shape[:2] != (self.height, self.width):
            import cv2

            rgb = cv2.resize(rgb, (self.width, self.height), interpolation=cv2.INTER_AREA)
        try:
            self._camera.send(np.ascontiguousarray(rgb))
        except (RuntimeError, OSError) as exc:
            raise OutputError(f"virtual camera {self.device or ''}: send failed: {exc}") from exc
        self.frames_sent += 1

    def close(self) -> None:
        if self._camera is not None:
            try:
                self._camera.close()
            except Exception:
                pass
            self._camera = None
