"""How a video run ends, for the output file: complete -> rename into place; interrupted or a stage failed ->
finalize what was written (a playable file); the output itself failed -> abort (nothing under the final name).
Closing and finalizing hold SIGINT/SIGTERM back until the file is whole.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .errors import Interrupted, VidbokehError
from .pipeline import Pipeline
from .video_report import RunReport

log = logging.getLogger(__name__)


@dataclass
class SinkOutcome:
    """What the sink side saw: used to choose finalize (keep what was done) or abort (output broken)."""

    output_failed: bool = False
    written: int = 0
    latencies: list[float] = field(default_factory=list)
    last_time: float | None = None  # input time of the last frame written (seconds)
    largest_gap: float = 0.0  # largest step between consecutive input times (seconds): a sign of lost frames
    depth_updates: int = 0  # frames whose depth was computed afresh (live: shown as a rate)


def run_and_settle(pipe: Pipeline, sink, outcome: SinkOutcome, report: RunReport) -> None:
    """Run the pipeline; on success close the sink, otherwise finalize or abort it, then re-raise."""
    t0 = time.monotonic()
    try:
        stats = pipe.run()
    except (KeyboardInterrupt, Interrupted) as exc:
        code = exc.exit_code if isinstance(exc, Interrupted) else 130
        settle(sink, outcome, keep=True)
        _fill(report, pipe.stats, outcome, t0)
        report.interrupted, report.exit_code = True, code
        return
    except BaseException as exc:
        settle(sink, outcome, keep=not outcome.output_failed)
        if outcome.written and not outcome.output_failed and isinstance(exc, Exception):
            kept = f"{outcome.written} frames finalized in {getattr(sink, 'path', 'the output')}"
            if isinstance(exc, VidbokehError):
                exc.args = (f"{exc} ({kept})",)
            else:  # a bug: its message is its own; the CLI adds notes to the one line it prints
                exc.add_note(kept)
        raise
    try:
        final = holding_signals(sink.close)
    except (KeyboardInterrupt, Interrupted) as exc:  # came while closing; held back until the file was complete
        final = getattr(sink, "path", None) if getattr(sink, "state", "closed") == "closed" else None
        if final is None:
            settle(sink, outcome, keep=True)
        report.interrupted, report.exit_code = True, exc.exit_code if isinstance(exc, Interrupted) else 130
    report.output = final if isinstance(final, Path) else report.output
    _fill(report, stats, outcome, t0)


def _fill(report: RunReport, stats, outcome: SinkOutcome, t0: float) -> None:
    """The run's figures into its report (counts from the pipeline, what was written from the sinks)."""
    report.frames_in = stats.frames_in
    report.frames_written = outcome.written
    report.seconds = time.monotonic() - t0
    report.dropped = stats.dropped
    report.latencies = outcome.latencies
    report.depth_updates = outcome.depth_updates


def holding_signals(fn: Callable[[], object]) -> object:
    """``fn()`` with SIGINT/SIGTERM held back until it returns (main thread only).

    Closing or finalizing an output writes its trailer and renames the temporary file; a Ctrl-C in the middle
    would leave the temporary file and no output. A signal that comes meanwhile is recorded and, once ``fn`` is
    done, handed to the handler that was in place (KeyboardInterrupt, the CLI's Interrupted), so it is not lost.
    """
    import os
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return fn()
    received: list[int] = []
    held = (signal.SIGINT, signal.SIGTERM)
    previous = {signum: signal.signal(signum, lambda signum, frame: received.append(signum)) for signum in held}
    try:
        result = fn()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    for signum in received[:1]:
        handler = previous[signum]
        if callable(handler):
            handler(signum, None)
        elif handler == signal.SIG_DFL:
            os.kill(os.getpid(), signum)
    return result


def settle(sink, outcome: SinkOutcome, *, keep: bool) -> None:
    try:
        if keep and outcome.written > 0:
            holding_signals(sink.finalize)
        else:
            holding_signals(sink.abort)
    except (KeyboardInterrupt, Interrupted):
        pass  # a second signal while already stopping: what it asks for is under way
    except VidbokehError as exc:  # the original failure matters more; this one is logged
        log.error("%s", exc)


class NoRecording:
    """Stand-in for a recording when there is none (nothing to finalize)."""

    path = None

    def close(self):
        return None

    def finalize(self):
        return None

    def abort(self):
        return None
