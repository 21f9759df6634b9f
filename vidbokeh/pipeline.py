"""The threaded producer-consumer pipeline: the only module that knows about threads.

    source thread --(bounded queue)--> process thread --(bounded queue)--> sink (thread or main)

* A file source is read with back-pressure: the source blocks (in short, stop-aware waits) while the
  queue is full, so no frame is ever lost.
* A live source (camera) keeps only the newest frames: when the queue is full the oldest waiting frame
  is dropped and counted.
* One stop event. Every queue put/get uses a timeout and re-checks it, so a failed consumer can never
  leave a producer blocked forever. The first exception of any thread is kept, the others stop within
  ``poll`` seconds, and ``run`` re-raises it in the caller's thread after joining every thread in order.
* The sink runs in its own thread, or in the calling thread when it must; then the caller's thread also
  receives Ctrl-C directly.
* A display (an OpenCV preview window: safest on the main thread) runs in the calling thread and is
  never in the way: it is handed the newest result, replacing one it has not taken yet (counted in
  ``not_shown``), so showing a frame never holds up processing or writing.

Stages, sources and sinks know nothing of threads: a source is an iterable of items, ``process`` is a
function from a list of items (a batch) to a list of results, ``sink`` is a function taking one result and
returning False to ask for a stop; ``display`` takes the newest result, or None when none came within
``poll`` seconds (so a window keeps answering), and returns False to ask for a stop (the quit key).
"""
from __future__ import annotations

import queue
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Generic, Hashable, Iterable, Iterator, TypeVar

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


class _FirstError:
    """Keeps the first exception raised by any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.error: BaseException | None = None

    def set(self, exc: BaseException) -> None:
        with self._lock:
            if self.error is None:
                self.error = exc


_EMPTY = object()  # nothing waiting in a _Newest slot


class _Newest:
    """A one-item slot: a put replaces the item not yet taken (newest wins); a take waits a bounded time."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: object = _EMPTY
        self.replaced = 0

    def put(self, item: object) -> None:
        with self._cond:
            if self._item is not _EMPTY:
                self.replaced += 1
            self._item = item
            self._cond.notify()

    def empty(self) -> bool:
        with self._cond:
            return self._item is _EMPTY

    def take(self, timeout: float) -> object:
        with self._cond:
            if self._item is _EMPTY:
                self._cond.wait(timeout)
            item, self._item = self._item, _EMPTY
            return item


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
        self._newest: _Newest | None = _Newest() if display is not None else None
        self.settings = settings
        self.stats = PipelineStats()
        self._stop = threading.Event()
        self._error = _FirstError()
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
            if item is _EMPTY:
                if not sink_thread.is_alive():
                    return  # everything was written (or a thread failed: run() re-raises it)
                item = None
            if self._display(item) is False:
                self.stop()
                return


class SharedValue(Generic[In]):
    """A value that one thread replaces and another reads, whole (e.g. the live controls: the keys set them on
    the sink side, the process stage reads them for each batch). Hold frozen values: readers never see a
    value change under them."""

    def __init__(self, value: In) -> None:
        self._lock = threading.Lock()
        self._value = value

    def get(self) -> In:
        with self._lock:
            return self._value

    def update(self, change: Callable[[In], In]) -> In:
        """Replace the value with ``change(value)`` (atomically) and return the new one."""
        with self._lock:
            self._value = change(self._value)
            return self._value


class KeyedOnce(Generic[Out]):
    """Values made once per key on first use, each used by one caller at a time (e.g. a server's model sets:
    loaded once per settings key, and the detectors in a set keep per-call state). Callers of different keys
    never wait for each other; a value is made outside the table's own lock, under its key's."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[Hashable, threading.Lock] = {}
        self._values: dict[Hashable, Out] = {}

    @contextmanager
    def use(self, key: Hashable, make: Callable[[], Out]) -> Iterator[Out]:
        """The value for ``key`` (``make()`` on first use), held for this caller alone inside the block."""
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            if key not in self._values:
                self._values[key] = make()
            yield self._values[key]

    def drain(self) -> list[Out]:
        """Every value made so far, removed from the table (to close them; later uses make them again)."""
        with self._guard:
            values, self._values = list(self._values.values()), {}
        return values


class LatestWorker(Generic[In, Out]):
    """A function run on its own thread over the newest item handed to it: the caller never waits for it.

    ``submit`` hands an item over (replacing one not yet started: only the newest matters, e.g. the frame that
    live depth runs on next); ``poll`` returns the newest finished result, or None when none is new. The first
    exception of ``work`` is re-raised by the next ``poll`` (so the stage that uses the worker fails as any
    stage does) and stops the worker. ``close`` stops it and joins its thread; it is idempotent.
    """

    def __init__(self, work: Callable[[In], Out], name: str = "vidbokeh-worker", poll: float = 0.05) -> None:
        self._work = work
        self._poll = poll
        self._pending = _Newest()
        self._result = _Newest()
        self._stop = threading.Event()
        self._busy = threading.Event()  # an item is waiting or being worked on
        self._error = _FirstError()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    @property
    def busy(self) -> bool:
        """True while an item is waiting or being worked on (a new submit would replace the waiting one)."""
        return self._busy.is_set()

    def submit(self, item: In) -> None:
        self._raise_error()
        self._busy.set()
        self._pending.put(item)

    def poll(self) -> Out | None:
        """The newest result not yet returned, or None; never waits."""
        self._raise_error()
        item = self._result.take(0)
        return None if item is _EMPTY else item  # type: ignore[return-value]

    def wait(self, timeout: float) -> Out | None:
        """The newest result, waiting up to ``timeout`` seconds for one (in stop-aware steps)."""
        deadline = time.monotonic() + timeout
        while True:
            self._raise_error()
            item = self._result.take(min(self._poll, max(0.0, deadline - time.monotonic())))
            if item is not _EMPTY:
                return item  # type: ignore[return-value]
            if time.monotonic() >= deadline or not self._thread.is_alive():
                self._raise_error()
                return None

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join()

    def _raise_error(self) -> None:
        if self._error.error is not None:
            raise self._error.error

    def _run(self) -> None:
        while not self._stop.is_set():
            item = self._pending.take(self._poll)
            if item is _EMPTY:
                continue
            try:
                result = self._work(item)  # type: ignore[arg-type]
            except BaseException as exc:  # re-raised by the next poll() in the caller's thread
                self._error.set(exc)
                self._busy.clear()
                return
            self._result.put(result)
            if self._pending.empty():  # idle again unless a newer item came in meanwhile (a submit racing
                self._busy.clear()     # this check at worst lets the caller replace a waiting item: harmless)


__all__ = ["LatestWorker", "Pipeline", "PipelineSettings", "PipelineStats", "SharedValue"]
