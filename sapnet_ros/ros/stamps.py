"""Header stamps and a small stamp-keyed cache (camera_info waiting for its image)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any, Generic, TypeVar

T = TypeVar("T")
Stamp = tuple[int, int]  # (sec, nanosec) of a std_msgs/Header


def stamp_of(header: Any) -> Stamp:
    """The ``(sec, nanosec)`` of a ``std_msgs/Header``."""
    return int(header.stamp.sec), int(header.stamp.nanosec)


class StampCache(Generic[T]):
    """The last ``size`` messages by header stamp (e.g. camera_info, to pair with images); thread-safe."""

    def __init__(self, size: int = 32) -> None:
        self._size = size
        self._items: OrderedDict[Stamp, T] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, stamp: Stamp, item: T) -> None:
        with self._lock:
            self._items[stamp] = item
            self._items.move_to_end(stamp)
            while len(self._items) > self._size:
                self._items.popitem(last=False)

    def get(self, stamp: Stamp) -> T | None:
        with self._lock:
            return self._items.get(stamp)

    def latest(self) -> T | None:
        with self._lock:
            return next(reversed(self._items.values()), None)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
