"""Latest frame wins: a one-frame mailbox and the thread that drains it.

A camera callback must never wait for inference, and frames must never pile
up when inference is slower than the camera. ``LatestSlot`` holds at most one
frame: a new one replaces the one waiting, which is handed back so the caller
can count it as dropped. ``FrameWorker`` runs a handler on the newest frame in
a thread of its own, no more often than an optional rate limit, and stops
between frames. Nothing here knows ROS.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class LatestSlot(Generic[T]):
    """A thread-safe mailbox of capacity one: the newest item wins."""

    def __init__(self) -> None:
        self._ready = threading.Condition()
        self._item: T | None = None
        self._closed = False

    def put(self, item: T) -> T | None:
        """Store ``item``; returns the item it replaced that nobody took (a drop), if any."""
        with self._ready:
            replaced, self._item = self._item, item
            self._ready.notify()
        return replaced

    def take(self, timeout: float | None = None) -> T | None:
        """The waiting item (removing it), after waiting up to ``timeout`` s; None if none came or closed."""
        with self._ready:
            self._ready.wait_for(lambda: self._item is not None or self._closed, timeout)
            item, self._item = self._item, None
        return item

    def clear(self) -> T | None:
        """Remove and return the waiting item, if any."""
        with self._ready:
            item, self._item = self._item, None
        return item

    def close(self) -> None:
        """Wake every ``take`` for good; later takes return at once."""
        with self._ready:
            self._closed = True
            self._ready.notify_all()


class FrameWorker(Generic[T]):
    """Runs ``handle`` on the newest offered item, on a thread of its own.

    Args:
        handle: processes one item; runs on the worker thread.
        on_error: called with the item and the exception when ``handle``
            raises, so that one bad frame never ends the thread.
        max_rate_hz: read before every item (so it can change live); 0 means
            no limit. While the worker waits for its next turn, newer items keep
            replacing the waiting one, so the freshest is processed.
        name: the thread's name (shows in debuggers and py-spy).
    """

    def __init__(
        self,
        handle: Callable[[T], None],
        on_error: Callable[[T, Exception], None],
        max_rate_hz: Callable[[], float] = lambda: 0.0,
        name: str = "frame-worker",
    ) -> None:
        self._handle = handle
        self._on_error = on_error
        self._max_rate_hz = max_rate_hz
        self._slot: LatestSlot[T] = LatestSlot()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._busy = False

    def start(self) -> None:
        self._thread.start()

    def offer(self, item: T) -> T | None:
        """Hand over the newest item; returns the waiting item it replaced (dropped), if any."""
        return self._slot.put(item)

    def discard(self) -> T | None:
        """Drop the waiting item, if any, and return it."""
        return self._slot.clear()

    @property
    def busy(self) -> bool:
        """Whether an item is being handled right now."""
        return self._busy

    def stop(self, timeout: float | None = None) -> bool:
        """Stop after the item in flight (if any); returns whether the thread ended within ``timeout`` s."""
        self._stop.set()
        self._slot.close()
        if self._thread.is_alive():
            self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        last_start = -float("inf")
        while not self._stop.is_set():
            rate = self._max_rate_hz()
            delay = last_start + 1.0 / rate - time.monotonic() if rate > 0 else 0.0
            if delay > 0 and self._stop.wait(delay):
                break  # stopped while waiting for the next turn
            item = self._slot.take()
            if item is None:
                continue
            last_start = time.monotonic()
            self._busy = True
            try:
                self._handle(item)
            except Exception as err:  # reported through on_error: one bad frame must not end the thread
                self._on_error(item, err)
            finally:
                self._busy = False
