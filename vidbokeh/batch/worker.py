"""A batch worker: loads its models once and runs every unit it is given with them.

The same class does the work on every engine: in this process for ``--engine local``, inside each Ray
actor for ``--engine ray``. A unit's output appears only complete: photos and segment files are written
to a temporary name and renamed. While a unit runs, ``WORK/running/UNIT.json`` names the process doing
it (host and pid), so an operator (or a test) can see who holds what.
"""
from __future__ import annotations

import json
import logging
import os
import socket
import time
from pathlib import Path

from ..errors import VidbokehError
from .units import Unit, UnitResult, WorkerJob

log = logging.getLogger(__name__)

#: Seconds between the last timestamp of one stream and the first of the next on the same video models.
STREAM_GAP_SECONDS = 10.0
#: Starts of one unit after which a unit whose workers keep dying (out of memory...) is given up.
MAX_ATTEMPTS = 3


def _error_line(exc: BaseException) -> str:
    if isinstance(exc, VidbokehError):
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return f"internal error: {type(exc).__name__}: {exc}".splitlines()[0]


class Worker:
    """Models for photos and for video, each loaded on first use and kept for every later unit."""

    def __init__(self, job: WorkerJob) -> None:
        self.job = job
        self.name = f"{socket.gethostname()}:{os.getpid()}"
        self._photo = None  # engine Models for stills
        self._video = None  # engine Models for video; each segment gets its own VideoSession over them
        self._clock: float | None = None  # the latest timestamp (s) the video models were given
        self.loads = 0

    def preload(self, kinds: tuple[str, ...]) -> None:
        """Load the models the given unit kinds need now, before the first unit arrives."""
        if "photo" in kinds:
            self._photo_models()

    def close(self) -> None:
        for models in (self._photo, self._video):
            if models is not None:
                models.close()
        self._photo = self._video = None

    def __enter__(self) -> "Worker":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- one unit -------------------------------------------------------------------------------
    def run(self, unit: Unit) -> UnitResult:
        t0 = time.perf_counter()
        marker, attempt = self._mark(unit)
        try:
            if attempt > MAX_ATTEMPTS:
                return UnitResult(id=unit.id, status="failed", exit_code=1, worker=self.name,
                                  error=f"{unit.source}: the worker died {attempt - 1} times while processing it "
                                        "(out of memory?)")
            try:
                if unit.kind == "photo":
                    frames, timings, load = self._photo_unit(unit)
                else:
                    frames, timings, load = self._segment_unit(unit)
            except Exception as exc:  # noqa: BLE001 - one item's failure is recorded; the batch goes on
                log.debug("unit %s failed", unit.id, exc_info=True)
                return UnitResult(id=unit.id, status="failed", error=_error_line(exc),
                                  exit_code=exc.exit_code if isinstance(exc, VidbokehError) else 1,
                                  seconds=time.perf_counter() - t0, worker=self.name)
            return UnitResult(id=unit.id, status="done", frames=frames, seconds=time.perf_counter() - t0,
                              timings=timings, worker=self.name, load_seconds=load)
        finally:
            if marker is not None:
                marker.unlink(missing_ok=True)

    def _mark(self, unit: Unit) -> tuple[Path | None, int]:
        """Write the unit's running marker; (its path, this start's number: 2 after a worker died on it)."""
        if not self.job.work_dir:
            return None, 1
        folder = Path(self.job.work_dir) / "running"
        folder.mkdir(parents=True, exist_ok=True)
        marker = folder / f"{unit.id.replace(':', '-')}.json"
        attempt = 1
        try:
            attempt = int(json.loads(marker.read_text()).get("attempt", 0)) + 1
        except (OSError, ValueError, AttributeError):
            pass
        marker.write_text(json.dumps({"unit": unit.id, "host": socket.gethostname(), "pid": os.getpid(),
                                      "source": unit.source, "attempt": attempt}))
        return marker, attempt

    # -- engine access: the only place that knows how models are loaded and called ----------------
    def _photo_models(self) -> tuple[object, float]:
        if self._photo is not None:
            return self._photo, 0.0
        from ..engine import load_models

        t0 = time.perf_counter()
        self._photo = load_models(self.job.photo, "image", progress=False)
        self.loads += 1
        return self._photo, time.perf_counter() - t0

    def _video_session(self) -> tuple[object, float]:
        """A fresh session (a new stream's temporal state) over the video models, loaded on first use."""
        from ..engine import VideoSession, load_models

        load = 0.0
        if self._video is None:
            t0 = time.perf_counter()
            self._video = load_models(self.job.video, "video", progress=False)
            self.loads += 1
            load = time.perf_counter() - t0
        return VideoSession(self._video, self.job.video), load

    def _stream_clock(self, first_time: float) -> float:
        """The offset that puts a new stream's first frame after every timestamp the video models have seen.

        MediaPipe's video mode needs increasing timestamps for the life of a detector, while segments (of
        this or another video) come in any order; shifting a stream's times keeps their differences, which
        is all the smoothing and the focus puller use."""
        if self._clock is None:
            return 0.0
        return max(0.0, self._clock + STREAM_GAP_SECONDS - first_time)

    # -- photos ---------------------------------------------------------------------------------
    def _photo_unit(self, unit: Unit) -> tuple[int, dict[str, float], float]:
        from ..image_mode import process_image

        models, load = self._photo_models()
        result = process_image(unit.source, unit.output, self.job.photo, overwrite=True, models=models)
        return 1, dict(result.timings), load

    # -- video segments -------------------------------------------------------------------------
    def _segment_unit(self, unit: Unit) -> tuple[int, dict[str, float], float]:
        from ..media.video_file import VideoFileSink
        from ..media.sources import FileSource
        from ..pipeline import Pipeline, PipelineSettings
        from .segments import segment_frames

        assert unit.segment is not None
        source = Path(unit.source)
        info = FileSource(source).info
        session, load = self._video_session()
        cuda = session.models.device.startswith("cuda")
        enc = self.job.encoder
        sink = VideoFileSink(unit.output, info, codec=enc.codec, crf=enc.crf, preset=enc.preset, overwrite=True,
                             prefer_nvenc=cuda)
        timings: dict[str, float] = {}
        written = 0

        offset: float | None = None

        def process(items: list) -> list:
            nonlocal offset
            if offset is None:
                offset = self._stream_clock(items[0][0].time)
            times = [frame.time + offset for frame, _ in items]
            results = session.process_batch([frame.rgb for frame, _ in items], times)
            self._clock = times[-1]
            return [(frame, warm, result) for (frame, warm), result in zip(items, results)]

        def write(item) -> None:
            nonlocal written
            frame, warm, result = item
            if warm:
                return
            sink.write(result.output, frame.pts, frame.time_base)
            written += 1
            for stage, seconds in result.timings.items():
                timings[stage] = timings.get(stage, 0.0) + seconds

        sink.open()
        try:
            pipe = Pipeline(segment_frames(source, unit.segment), process, write,
                            PipelineSettings(queue_size=8, batch_size=4 if cuda else 1))
            pipe.run()
        except BaseException:
            sink.abort()  # a segment is whole or absent: a rerun redoes it
            raise
        sink.close()
        return written, timings, load
