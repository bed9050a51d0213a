"""Counters, rates and latency percentiles of a frame stream, and a log throttle.

The node reports these on ``/diagnostics`` and the replay tool prints them;
they are plain Python, thread-safe where the node needs it, and take ``now``
(``time.monotonic()`` seconds) as an argument so tests control time.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Hashable
from dataclasses import asdict, dataclass
from typing import Literal, get_args

import numpy as np

DropReason = Literal["superseded", "invalid", "failed", "discarded"]
DROP_REASONS: tuple[DropReason, ...] = get_args(DropReason)
MAX_THROTTLE_KEYS = 1024


class RateMeter:
    """Events per second over a sliding window (shorter while the meter is younger than the window)."""

    def __init__(self, now: float, window_s: float = 5.0) -> None:
        self.window_s = window_s
        self._started = now
        self._times: deque[float] = deque()

    def tick(self, now: float) -> None:
        self._times.append(now)
        self._trim(now)

    def rate(self, now: float) -> float:
        self._trim(now)
        span = min(self.window_s, now - self._started)
        return len(self._times) / span if span > 0 else 0.0

    def _trim(self, now: float) -> None:
        while self._times and self._times[0] <= now - self.window_s:
            self._times.popleft()


@dataclass(frozen=True)
class Summary:
    """Mean and 95th percentile of recent samples, in milliseconds."""

    mean_ms: float
    p95_ms: float


class LatencyWindow:
    """The last ``size`` durations (ms), summarized as mean and p95."""

    def __init__(self, size: int = 200) -> None:
        self._samples: deque[float] = deque(maxlen=size)

    def add(self, milliseconds: float) -> None:
        self._samples.append(milliseconds)

    def summary(self) -> Summary | None:
        if not self._samples:
            return None
        samples = np.fromiter(self._samples, float, len(self._samples))
        return Summary(float(samples.mean()), float(np.percentile(samples, 95)))


@dataclass(frozen=True)
class StatsSnapshot:
    """The frame stream at one moment: totals since start, recent rates and latencies.

    Every received frame ends up in exactly one of published, superseded
    (replaced by a newer frame before inference), invalid (could not be
    decoded), failed (inference raised) or discarded (finished or waiting
    while the node was deactivated), or is still waiting / in flight.
    """

    received: int
    published: int
    superseded: int
    invalid: int
    failed: int
    discarded: int
    input_hz: float
    output_hz: float
    inference: Summary | None
    latency: Summary | None

    @property
    def dropped(self) -> int:
        return self.superseded + self.invalid + self.failed + self.discarded

    def as_key_values(self) -> list[tuple[str, str]]:
        """Human-readable pairs for ``diagnostic_msgs/KeyValue``."""
        pairs = [
            ("input rate (Hz)", f"{self.input_hz:.2f}"),
            ("output rate (Hz)", f"{self.output_hz:.2f}"),
            ("frames received", str(self.received)),
            ("frames published", str(self.published)),
            ("frames dropped", str(self.dropped)),
            ("dropped: superseded by a newer frame", str(self.superseded)),
            ("dropped: invalid message", str(self.invalid)),
            ("dropped: inference failed", str(self.failed)),
            ("dropped: node inactive", str(self.discarded)),
        ]
        for label, summary in (("inference", self.inference), ("end-to-end latency", self.latency)):
            mean, p95 = (f"{summary.mean_ms:.1f}", f"{summary.p95_ms:.1f}") if summary else ("n/a", "n/a")
            pairs += [(f"{label} mean (ms)", mean), (f"{label} p95 (ms)", p95)]
        return pairs

    def as_dict(self) -> dict[str, object]:
        return asdict(self) | {"dropped": self.dropped}


class FrameStats:
    """Thread-safe counters of a frame stream (callbacks count in, the worker counts out).

    Args:
        now: ``time.monotonic()`` at the start.
        window_s: window of the rates.
        parent: also counts everything counted here (a node's totals over its cameras).
    """

    def __init__(self, now: float, window_s: float = 5.0, parent: FrameStats | None = None) -> None:
        self._parent = parent
        self._lock = threading.Lock()
        self._counts = dict.fromkeys(("received", "published", *DROP_REASONS), 0)
        self._input = RateMeter(now, window_s)
        self._output = RateMeter(now, window_s)
        self._inference = LatencyWindow()
        self._latency = LatencyWindow()

    def received(self, now: float) -> None:
        with self._lock:
            self._counts["received"] += 1
            self._input.tick(now)
        if self._parent is not None:
            self._parent.received(now)

    def dropped(self, reason: DropReason) -> None:
        """Count one frame that will not be published, by reason."""
        if reason not in DROP_REASONS:
            raise ValueError(f"unknown drop reason {reason!r}; expected one of {DROP_REASONS}")
        with self._lock:
            self._counts[reason] += 1
        if self._parent is not None:
            self._parent.dropped(reason)

    def published(self, now: float, inference_ms: float, latency_ms: float) -> None:
        with self._lock:
            self._counts["published"] += 1
            self._output.tick(now)
            self._inference.add(inference_ms)
            self._latency.add(latency_ms)
        if self._parent is not None:
            self._parent.published(now, inference_ms, latency_ms)

    def snapshot(self, now: float) -> StatsSnapshot:
        with self._lock:
            return StatsSnapshot(
                **self._counts,
                input_hz=self._input.rate(now),
                output_hz=self._output.rate(now),
                inference=self._inference.summary(),
                latency=self._latency.summary(),
            )


class Throttle:
    """Lets a message through once per key every ``period_s``.

    Keys name a class, never numbers (the node uses (topic, problem class)):
    a key holding a byte count lets a stream of odd sizes through every time.
    """

    def __init__(self, period_s: float = 10.0) -> None:
        self.period_s = period_s
        self._last: dict[Hashable, float] = {}
        self._lock = threading.Lock()

    def ready(self, key: Hashable, now: float) -> bool:
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < self.period_s:
                return False
            if len(self._last) >= MAX_THROTTLE_KEYS:  # many topics: forget the expired keys
                self._last = {k: t for k, t in self._last.items() if now - t < self.period_s}
            self._last[key] = now
            return True
