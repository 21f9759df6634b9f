"""Hand-over slots the pipeline's threads share: the first error of any thread, and a newest-wins slot."""
from __future__ import annotations

import threading

class FirstError:
    """Keeps the first exception raised by any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.error: BaseException | None = None

    def set(self, exc: BaseException) -> None:
        with self._lock:
            if self.error is None:
                self.error = exc


EMPTY = object()  # nothing waiting in a Newest slot


class Newest:
    """A one-item slot: a put replaces the item not yet taken (newest wins); a take waits a bounded time."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: object = EMPTY
        self.replaced = 0

    def put(self, item: object) -> None:
        with self._cond:
            if self._item is not EMPTY:
                self.replaced += 1
            self._item = item
            self._cond.notify()

    def empty(self) -> bool:
        with self._cond:
            return self._item is EMPTY

    def take(self, timeout: float) -> object:
        with self._cond:
            if self._item is EMPTY:
                self._cond.wait(timeout)
            item, self._item = self._item, EMPTY
            return item
