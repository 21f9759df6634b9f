"""Flicker measure: how much the output changes from frame to frame, relative to the input.

flicker ratio = mean |output[t] - output[t-1]|  /  mean |input[t] - input[t-1]|

over all pixels, channels and consecutive frame pairs (issue 4). On a static-camera clip an effect
that adds no flicker of its own stays at or below 1.0. `FlickerMeter` accumulates it frame by frame
so the pipeline and benchmarks can measure without keeping frames.
"""
from __future__ import annotations

from collections.abc import Iterable

import numpy as np


class FlickerMeter:
    """Streaming flicker ratio: feed (input, output) frame pairs in order with `add`.

    `stride` > 1 measures on every stride-th row and column only (an unbiased subsample, cheaper
    for large frames). Frames may be uint8 or float, any shape, but the shape must stay the same.
    """

    def __init__(self, stride: int = 1):
        if stride < 1:
            raise ValueError(f"stride must be >= 1, got {stride}")
        self.stride = stride
        self._previous_input: np.ndarray | None = None
        self._previous_output: np.ndarray | None = None
        self._input_change = 0.0
        self._output_change = 0.0
        self._values = 0
        self.frames = 0

    def _sample(self, frame: np.ndarray) -> np.ndarray:
        frame = np.asarray(frame)
        if frame.ndim >= 2 and self.stride > 1:
            frame = frame[::self.stride, ::self.stride]
        return frame.astype(np.float32)

    def add(self, input_frame: np.ndarray, output_frame: np.ndarray) -> None:
        """Account one frame: the source frame and the effect's output for it."""
        current_input, current_output = self._sample(input_frame), self._sample(output_frame)
        if current_input.shape != current_output.shape:
            raise ValueError(
                f"input and output frames differ in shape: {current_input.shape} vs {current_output.shape}")
        previous_input, previous_output = self._previous_input, self._previous_output
        if previous_input is not None and previous_output is not None:
            if previous_input.shape != current_input.shape:
                raise ValueError(
                    f"frame shape changed mid-stream: {previous_input.shape} -> {current_input.shape}")
            self._input_change += float(np.abs(current_input - previous_input).sum(dtype=np.float64))
            self._output_change += float(np.abs(current_output - previous_output).sum(dtype=np.float64))
            self._values += current_input.size
        self._previous_input, self._previous_output = current_input, current_output
        self.frames += 1

    @property
    def input_change(self) -> float:
        """Mean absolute frame-to-frame change of the input (0 before two frames)."""
        return self._input_change / self._values if self._values else 0.0

    @property
    def output_change(self) -> float:
        """Mean absolute frame-to-frame change of the output (0 before two frames)."""
        return self._output_change / self._values if self._values else 0.0

    @property
    def ratio(self) -> float:
        """output_change / input_change; 1.0 when neither changes, inf when only the output does."""
        if self._values == 0:
            raise ValueError("the flicker ratio needs at least two frames")
        if self._input_change == 0.0:
            return 1.0 if self._output_change == 0.0 else float("inf")
        return self._output_change / self._input_change


def flicker_ratio(input_frames: Iterable[np.ndarray], output_frames: Iterable[np.ndarray],
                  stride: int = 1) -> float:
    """Mean absolute frame-to-frame change of the output over that of the input."""
    meter = FlickerMeter(stride)
    inputs, outputs = iter(input_frames), iter(output_frames)
    sentinel = object()
    while True:
        source, result = next(inputs, sentinel), next(outputs, sentinel)
        if source is sentinel and result is sentinel:
            break
        if source is sentinel or result is sentinel:
            raise ValueError("input and output have different frame counts")
        meter.add(source, result)  # type: ignore[arg-type]
    return meter.ratio
