"""Pairs derained frames with ground-truth frames by header stamp, as both stream out of a bag.

Either side may arrive first. A frame or reference waits until its partner
(the nearest stamp within ``tolerance_ns``) comes, or until the stream has
moved ``horizon_ns`` past it; then it is given up, which bounds memory on long
drives whatever the two topics' rates.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

Frame = TypeVar("Frame")
Reference = TypeVar("Reference")


class StampPairer(Generic[Frame, Reference]):
    """Streams (frame, reference) pairs; ``on_unpaired`` is called with each frame given up."""

    def __init__(
        self, tolerance_ns: int, horizon_ns: int, on_unpaired: Callable[[Frame], None] = lambda frame: None
    ) -> None:
        self.tolerance_ns = tolerance_ns
        self.horizon_ns = horizon_ns
        self.on_unpaired = on_unpaired
        self._frames: dict[int, Frame] = {}
        self._references: dict[int, Reference] = {}

    def add_frame(self, stamp: int, frame: Frame) -> tuple[Frame, Reference] | None:
        """Offer a frame; returns the pair it completes, if its reference is waiting."""
        self._expire(stamp)
        partner = self._nearest(self._references, stamp)
        if partner is None:
            if stamp in self._frames:  # a repeated stamp: the earlier frame can no longer be told apart
                self.on_unpaired(self._frames.pop(stamp))
            self._frames[stamp] = frame
            return None
        return frame, self._references.pop(partner)

    def add_reference(self, stamp: int, reference: Reference) -> tuple[Frame, Reference] | None:
        """Offer a ground-truth frame; returns the pair it completes, if its frame is waiting."""
        self._expire(stamp)
        partner = self._nearest(self._frames, stamp)
        if partner is None:
            self._references[stamp] = reference
            return None
        return self._frames.pop(partner), reference

    def finish(self) -> None:
        """Give up every frame still waiting (end of the bag)."""
        for frame in self._frames.values():
            self.on_unpaired(frame)
        self._frames.clear()
        self._references.clear()

    def _nearest(self, waiting: Iterable[int], stamp: int) -> int | None:
        best = min(waiting, key=lambda other: abs(other - stamp), default=None)
        return best if best is not None and abs(best - stamp) <= self.tolerance_ns else None

    def _expire(self, now: int) -> None:
        """Give up entries the stream has left more than the horizon behind."""
        for stamp in [s for s in self._frames if s < now - self.horizon_ns]:
            self.on_unpaired(self._frames.pop(stamp))
        for stamp in [s for s in self._references if s < now - self.horizon_ns]:
            del self._references[stamp]
