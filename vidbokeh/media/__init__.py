"""Media in and out: video sources and sinks (PyAV), still images (Pillow, OpenCV), the preview window.

OpenCV is imported here, before any module of this package can import PyAV. PyAV's wheels bundle their
own libxcb: when PyAV is loaded first, OpenCV's Qt xcb plugin later binds to that copy and
`cv2.namedWindow` spins forever (100 % CPU, deaf to Ctrl-C and SIGTERM; PyAV issues #978 and #1050).
With OpenCV loaded first the window opens. PyAV is imported nowhere else in vidbokeh, so every path
into it passes through here; `display.av_loaded_before_cv2()` tells the preview window when the
process was set up the other way round by its host (then it refuses instead of hanging).
"""
import cv2  # noqa: F401  (first: see above)
