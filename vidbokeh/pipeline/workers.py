"""Small thread tools the stages' callers use: a shared value, values made once per key, a worker over the
newest item, and a side thread for a call overlapped with the caller's own work."""
from __future__ import annotations

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from typing import Callable, Generic, Hashable, Iterator, Sequence, TypeVar

from .slots import EMPTY, FirstError, Newest

In = TypeVar("In")
Out = TypeVar("Out")


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
        self._pending = Newest()
        self._result = Newest()
        self._stop = threading.Event()
        self._busy = threading.Event()  # an item is waiting or being worked on
        self._error = FirstError()
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
        return None if item is EMPTY else item  # type: ignore[return-value]

    def wait(self, timeout: float) -> Out | None:
        """The newest result, waiting up to ``timeout`` seconds for one (in stop-aware steps)."""
        deadline = time.monotonic() + timeout
        while True:
            self._raise_error()
            item = self._result.take(min(self._poll, max(0.0, deadline - time.monotonic())))
            if item is not EMPTY:
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
            if item is EMPTY:
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


class SideCall(Generic[Out]):
    """A call running on a SideThread. ``result()`` waits for it and returns its value, or re-raises its exception in
    the caller's thread. Used as a context manager, leaving the block waits for the call however the block ends,
    so nothing it uses is still in use once the caller moves on (or closes it)."""

    def __init__(self, future: Future) -> None:
        self._future = future

    def result(self) -> Out:
        return self._future.result()

    def __enter__(self) -> SideCall[Out]:
        return self

    def __exit__(self, *exc: object) -> None:
        wait([self._future])


class SideThread:
    """One thread kept for a call that the caller overlaps with its own work (a photo's first segmentation pass
    while the pose model runs on the caller's thread: two cores at work where one was). Calls run one at a time,
    in the order started. ``close`` waits for a running call and ends the thread; it is idempotent."""

    def __init__(self, name: str = "vidbokeh-side") -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)

    def start(self, work: Callable[..., Out], *args: object) -> SideCall[Out]:
        """Hand ``work(*args)`` to the thread; returns at once."""
        return SideCall(self._pool.submit(work, *args))

    def share(self, items: Sequence[In], here: Callable[[In], Out], there: Callable[[In], Out]) -> list[Out]:
        """Every item through ``here`` on the caller's thread or ``there`` on this one, every second item each (two
        functions: two model instances, one per thread); the results in the items' order. The first error of either
        is raised here, once both halves are done."""
        if len(items) < 2:
            return [here(item) for item in items]
        with self.start(lambda: [there(item) for item in items[1::2]]) as theirs:
            ours = [here(item) for item in items[0::2]]
            done = theirs.result()
        results: list = [None] * len(items)
        results[0::2], results[1::2] = ours, done
        return results

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
