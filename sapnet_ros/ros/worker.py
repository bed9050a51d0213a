"""Latest frame wins, per camera: one-frame mailboxes and the thread that drains them.

A camera callback must never wait for inference, and frames must never pile
up when inference is slower than the cameras. ``LatestSlots`` holds at most
one frame per source (camera): a new one replaces the one waiting, which is
handed back so the caller can count it as dropped. ``FrameWorker`` takes what
is waiting, at most ``max_batch`` frames of different sources, least recently
served source first (round robin, so no camera starves when the worker is
overloaded), and runs a handler on them in a thread of its own, no more often
than an optional rate limit; it stops between batches. With one source this
is plain latest-frame-wins. Nothing here knows ROS.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

T = TypeVar("T")


class LatestSlots(Generic[T]):
    """Thread-safe mailboxes of capacity one per source, taken least recently served first."""

    def __init__(self) -> None:
        self._ready = threading.Condition()
        self._items: dict[Hashable, T] = {}
        self._rotation: list[Hashable] = []  # sources, least recently served first
        self._closed = False

    def put(self, item: T, source: Hashable = None) -> T | None:
        """Store ``item`` for ``source``; returns the item it replaced that nobody took (a drop), if any."""
        with self._ready:
            replaced = self._items.pop(source, None)
            self._items[source] = item
            if source not in self._rotation:
                self._rotation.append(source)
            self._ready.notify()
        return replaced

    def take(self, limit: int = 1, timeout: float | None = None) -> list[T]:
        """Up to ``limit`` waiting items of different sources (removed), least recently served source first.

        Waits up to ``timeout`` s for one; empty if none came or the slots are closed.
        """
        with self._ready:
            self._ready.wait_for(lambda: bool(self._items) or self._closed, timeout)
            served = [source for source in self._rotation if source in self._items][:limit]
            self._rotation = [s for s in self._rotation if s not in served] + served
            return [self._items.pop(source) for source in served]

    def clear(self) -> list[T]:
        """Remove and return every waiting item."""
        with self._ready:
            items, self._items = list(self._items.values()), {}
        return items

    def close(self) -> None:
        """Wake every ``take`` for good; later takes return at once."""
        with self._ready:
            self._closed = True
            self._ready.notify_all()


class FrameWorker(Generic[T]):
    """Runs ``handle`` on the newest offered items, on a thread of its own.

    Args:
        handle: processes the items taken together (at most one per source,
            at most ``max_batch``); runs on the worker thread.
        on_error: called with those items and the exception when ``handle``
            raises, so that one bad frame never ends the thread.
        max_rate_hz: read before every batch (so it can change live); 0 means
            no limit. While the worker waits for its next turn, newer items keep
            replacing the waiting ones, so the freshest are processed.
        name: the thread's name (shows in debuggers and py-spy).
        max_batch: the most items handed to ``handle`` at once.
    """

    def __init__(
        self,
        handle: Callable[[list[T]], None],
        on_error: Callable[[list[T], Exception], None],
        max_rate_hz: Callable[[], float] = lambda: 0.0,
        name: str = "frame-worker",
        max_batch: int = 1,
    ) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        self._handle = handle
        self._on_error = on_error
        self._max_rate_hz = max_rate_hz
        self._max_batch = max_batch
        self._slots: LatestSlots[T] = LatestSlots()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._busy = False

    def start(self) -> None:
        self._thread.start()

    def offer(self, item: T, source: Hashable = None) -> T | None:
        """Hand over the newest item of ``source``; returns the waiting item it replaced (dropped), if any."""
        return self._slots.put(item, source)

    def discard(self) -> list[T]:
        """Drop the waiting items and return them."""
        return self._slots.clear()

    @property
    def busy(self) -> bool:
        """Whether items are being handled right now."""
        return self._busy

    def stop(self, timeout: float | None = None) -> bool:
        """Stop after the items in flight (if any); returns whether the thread ended within ``timeout`` s."""
        self._stop.set()
        self._slots.close()
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
            items = self._slots.take(self._max_batch)
            if not items:
                continue
            last_start = time.monotonic()
            self._busy = True
            try:
                self._handle(items)
            except Exception as err:  # reported through on_error: one bad frame must not end the thread
                self._on_error(items, err)
            finally:
                self._busy = False
