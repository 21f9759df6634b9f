"""Video jobs: an uploaded clip re-encoded with the effect by the video pipeline (``run_file``: the same
output as ``vidbokeh file``), one job at a time, with progress, cancel, and clean-up.

A job's files live in its own folder inside its browser session's folder; the folder goes when the job is
discarded (deleted by the user, past its time limit after it ended, with its session, at shutdown).
"""
from __future__ import annotations

import asyncio
import logging
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from starlette.concurrency import run_in_threadpool

from ..engine import EffectSettings
from ..errors import Interrupted, VidbokehError
from .config import ServerSettings

log = logging.getLogger(__name__)
_SHUTDOWN_WAIT_S = 5.0


@dataclass(eq=False)
class VideoJob:
    id: str
    stem: str  # download-name stem
    folder: Path
    input: Path
    output: Path
    settings: EffectSettings
    state: str = "queued"  # queued -> running -> done | failed | cancelled
    frames_done: int = 0
    frames_total: int | None = None  # the container's announcement; None when it gives none
    error: str | None = None
    created: float = field(default_factory=time.time)
    ended: float | None = None  # monotonic time the job ended
    cancel_requested: bool = False

    @property
    def running(self) -> bool:
        return self.state in ("queued", "running")

    @property
    def download_name(self) -> str:
        return f"{self.stem}_bokeh{self.output.suffix}"

    def describe(self) -> dict:
        progress = None
        if self.state == "done":
            progress = 1.0
        elif self.frames_total:
            progress = min(1.0, self.frames_done / self.frames_total)
        return {"id": self.id, "name": self.stem, "state": self.state, "frames_done": self.frames_done,
                "frames_total": self.frames_total, "progress": progress, "error": self.error,
                "created": self.created, "download": self.download_name if self.state == "done" else None}

    def cancel(self) -> None:
        """Ask a running job to stop (it stops at its next frame); a queued one ends now."""
        self.cancel_requested = True
        if self.state == "queued":
            self._end("cancelled")

    def discard(self) -> None:
        """Cancel, and remove the job's files (a running job's folder goes when it has stopped)."""
        self.cancel()
        if self.state != "running":
            shutil.rmtree(self.folder, ignore_errors=True)

    def _end(self, state: str, error: str | None = None) -> None:
        self.state, self.error, self.ended = state, error, time.monotonic()
        self.input.unlink(missing_ok=True)
        if state != "done":
            self.output.unlink(missing_ok=True)

    def run(self) -> None:
        """Blocking: the video pipeline from input to output (called on a worker thread)."""
        from ..video_mode import EncoderSettings, run_file

        if self.cancel_requested:
            return
        self.state = "running"
        try:
            report = run_file(self.input, self.output, self.settings, EncoderSettings(), overwrite=True,
                              progress=False, sink_factory=self._make_sink)
        except VidbokehError as exc:
            self._end("failed", str(exc))
        except Exception as exc:  # a bug: logged with its traceback, the page gets one line
            log.exception("video job %s failed", self.id)
            self._end("failed", f"internal error ({type(exc).__name__}); see the server log")
        else:
            self._end("cancelled" if report.interrupted else "done")
        if self.cancel_requested and self.state == "cancelled":
            shutil.rmtree(self.folder, ignore_errors=True)

    def _make_sink(self, dst, info, **kwargs):
        from ..media.sinks import VideoFileSink

        self.frames_total = info.expected_frames or None
        return _CountingSink(VideoFileSink(dst, info, **kwargs), self)


class _CountingSink:
    """The real sink, counting written frames for the progress bar and stopping the run on cancel (the
    pipeline then finalizes like an interrupted ``vidbokeh file`` and the job removes the output)."""

    def __init__(self, inner, job: VideoJob) -> None:
        self._inner = inner
        self._job = job

    def write(self, *args, **kwargs):
        if self._job.cancel_requested:
            raise Interrupted("cancelled")
        result = self._inner.write(*args, **kwargs)
        self._job.frames_done += 1
        return result

    def __getattr__(self, name):
        return getattr(self._inner, name)


class JobRunner:
    """Runs the jobs one at a time (the CPU is shared with the page's renders) as asyncio tasks whose
    blocking part runs on a worker thread."""

    def __init__(self, config: ServerSettings) -> None:
        self.config = config
        self._one_at_a_time = asyncio.Semaphore(1)
        self._tasks: set[asyncio.Task] = set()

    def submit(self, job: VideoJob) -> None:
        task = asyncio.create_task(self._run(job), name=f"vidbokeh-job-{job.id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, job: VideoJob) -> None:
        async with self._one_at_a_time:
            if job.state == "queued":
                await run_in_threadpool(job.run)

    def expire(self, sessions) -> int:
        """Discard jobs that ended longer ago than the time limit; returns how many."""
        now, gone = time.monotonic(), 0
        for session in sessions:
            for job_id, job in list(session.jobs.items()):
                if job.ended is not None and now - job.ended > self.config.job_ttl_s:
                    job.discard()
                    del session.jobs[job_id]
                    gone += 1
        return gone

    async def shutdown(self, sessions) -> None:
        """Cancel every job and wait (a few seconds at most) for running ones to stop."""
        for session in sessions:
            for job in session.jobs.values():
                job.cancel()
        if self._tasks:
            done, pending = await asyncio.wait(list(self._tasks), timeout=_SHUTDOWN_WAIT_S)
            if pending:
                log.warning("%d video job(s) still stopping at shutdown", len(pending))
