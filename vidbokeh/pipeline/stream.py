"""The threaded producer-consumer pipeline (see the package's docstring).

    source thread --(bounded queue)--> process thread --(bounded queue)--> sink (thread or main)
"""
from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass
from typing import Callable, Generic, Iterable, TypeVar

from .slots import EMPTY, FirstError, Newest

In = TypeVar("In")
Out = TypeVar("Out")

_END = object()  # end-of-stream marker passed down the queues


@dataclass(frozen=True)
class PipelineSettings:
    queue_size: int = 8
    live: bool = False  # camera: keep only the newest frames, count drops
    batch_size: int = 1  # frames handed to ``process`` at once (batched depth on CUDA)
    sink_on_caller_thread: bool = False  # a sink that must run in the caller's thread (not with a display)
    poll: float = 0.05  # seconds between stop checks in every blocking wait


@dataclass
class PipelineStats:
    frames_in: int = 0
    frames_processed: int = 0
    frames_out: int = 0
    dropped: int = 0
    not_shown: int = 0  # results the display skipped because a newer one was ready
    stopped_early: bool = False  # a sink or stop() asked to stop before the source ended
    wall_seconds: float = 0.0


class Pipeline(Generic[In, Out]):
    def __init__(
        self,
        source: Iterable[In],
        process: Callable[[list[In]], list[Out]],
        sink: Callable[[Out], bool | None],
        settings: PipelineSettings = PipelineSettings(),
        *,
        display: Callable[[Out | None], bool | None] | None = None,
    ) -> None:
        self._source = source
        self._process = process
        self._sink = sink
        self._display = display
        self._newest: Newest | None = Newest() if display is not None else None
        self.settings = settings
        self.stats = PipelineStats()
        self._stop = threading.Event()
        self._error = FirstError()
        self._in_q: queue.Queue = queue.Queue(maxsize=max(1, settings.queue_size))
        self._out_q: queue.Queue = queue.Queue(maxsize=max(1, settings.queue_size))
        self._lock = threading.Lock()

    # -- public -------------------------------------------------------------------------------
    def stop(self) -> None:
        """Ask every thread to stop (thread-safe; used for Ctrl-C and signals)."""
        self.stats.stopped_early = True
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def run(self) -> PipelineStats:
        """Run to the end of the source, a stop request or the first error (re-raised here)."""
        t0 = time.monotonic()
        threads = [
            threading.Thread(target=self._guard(self._read), name="vidbokeh-source", daemon=True),
            threading.Thread(target=self._guard(self._work), name="vidbokeh-process", daemon=True),
        ]
        sink_here = self.settings.sink_on_caller_thread and self._display is None
        if not sink_here:
            threads.append(threading.Thread(target=self._guard(self._write), name="vidbokeh-sink", daemon=True))
        for t in threads:
            t.start()
        try:
            if self._display is not None:
                self._show(threads[-1])
            elif sink_here:
                self._guard(self._write)()
            else:
                # Wait in short steps so that the caller's thread stays responsive to signals.
                while any(t.is_alive() for t in threads) and not self._stop.wait(self.settings.poll):
                    pass
        except BaseException as exc:  # KeyboardInterrupt / signal-raised exceptions land here
            self._error.set(exc)
            self._stop.set()
            raise
        finally:
            if self._error.error is not None:
                self._stop.set()
            for t in threads:
                t.join()
            self.stats.wall_seconds = time.monotonic() - t0
            if self._newest is not None:
                self.stats.not_shown = self._newest.replaced
        if self._error.error is not None:
            raise self._error.error
        return self.stats

    # -- threads ------------------------------------------------------------------------------
    def _guard(self, body: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                body()
            except BaseException as exc:  # carried to the caller's thread by run()
                self._error.set(exc)
                self._stop.set()

        return run

    def _put(self, q: queue.Queue, item: object, *, drop_oldest: bool = False) -> bool:
        """Put with back-pressure (or newest-wins for live sources); False when stopping."""
        newest_wins = drop_oldest and item is not _END
        while not self._stop.is_set():
            try:
                if newest_wins:
                    q.put_nowait(item)  # a live frame never waits: the oldest one gives way
                else:
                    q.put(item, timeout=self.settings.poll)
                return True
            except queue.Full:
                if newest_wins:
                    try:
                        q.get_nowait()
                        with self._lock:
                            self.stats.dropped += 1
                    except queue.Empty:
                        pass
        return False

    def _get(self, q: queue.Queue) -> object:
        """Get, waking up regularly to honour stop; returns _END when stopping."""
        while not self._stop.is_set():
            try:
                return q.get(timeout=self.settings.poll)
            except queue.Empty:
                continue
        return _END

    def _read(self) -> None:
        live = self.settings.live
        try:
            for item in self._source:
                if self._stop.is_set():
                    return
                self.stats.frames_in += 1
                if not self._put(self._in_q, item, drop_oldest=live):
                    return
        finally:
            self._put(self._in_q, _END)

    def _work(self) -> None:
        batch_size = max(1, self.settings.batch_size)
        ended = False
        try:
            while not ended and not self._stop.is_set():
                first = self._get(self._in_q)
                if first is _END:
                    break
                batch = [first]
                # Batch only what is already waiting: never add latency waiting for more frames.
                while len(batch) < batch_size:
                    try:
                        nxt = self._in_q.get_nowait()
                    except queue.Empty:
                        break
                    if nxt is _END:
                        ended = True
                        break
                    batch.append(nxt)
                results = self._process(batch)
                self.stats.frames_processed += len(batch)
                for res in results:
                    if not self._put(self._out_q, res):
                        return
        finally:
            self._put(self._out_q, _END)

    def _write(self) -> None:
        while True:
            item = self._get(self._out_q)
            if item is _END:
                return
            if self._newest is not None:
                self._newest.put(item)
            keep_going = self._sink(item)
            self.stats.frames_out += 1
            if keep_going is False:
                self.stats.stopped_early = True
                self._stop.set()
                return

    def _show(self, sink_thread: threading.Thread) -> None:
        """The display loop, in the caller's thread: the newest result, or None to keep a window alive."""
        assert self._display is not None and self._newest is not None
        while not self._stop.is_set():
            item = self._newest.take(self.settings.poll)
            if item is EMPTY:
                if not sink_thread.is_alive():
                    return  # everything was written (or a thread failed: run() re-raises it)
                item = None
            if self._display(item) is False:
                self.stop()
                return
