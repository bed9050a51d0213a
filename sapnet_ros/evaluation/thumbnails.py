"""Side-by-side thumbnails of the best and worst frames, chosen while the bag streams past.

Only the current top and bottom ``count`` frames are kept (two small heaps), and
a thumbnail is only drawn for a frame that enters one, so memory stays flat on
long drives.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable

import cv2
import numpy as np

from sapnet_ros.evaluation.records import Thumbnail

HEIGHT = 160  # pixels of each panel
GAP = 4  # white pixels between panels


def side_by_side(panels: list[np.ndarray], height: int = HEIGHT) -> bytes:
    """PNG of (H, W) grey or (H, W, 3) BGR uint8 panels scaled to ``height`` and placed left to right."""
    scaled = []
    for panel in panels:
        width = max(1, round(panel.shape[1] * height / panel.shape[0]))
        shrinking = height < panel.shape[0]
        resized = cv2.resize(panel, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_NEAREST)
        scaled.append(cv2.cvtColor(resized, cv2.COLOR_GRAY2BGR) if resized.ndim == 2 else resized)
    gap = np.full((height, GAP, 3), 255, np.uint8)
    row = np.hstack([part for panel in scaled for part in (panel, gap)][:-1])
    ok, encoded = cv2.imencode(".png", row)
    if not ok:
        raise ValueError(f"OpenCV could not encode a {row.shape} thumbnail")
    return encoded.tobytes()


class ThumbnailPicker:
    """Keeps the ``count`` highest- and lowest-scoring frames seen so far."""

    def __init__(self, count: int) -> None:
        self.count = count
        self._best: list[tuple[float, int, int, bytes]] = []  # min-heap of (score, index, stamp, png)
        self._worst: list[tuple[float, int, int, bytes]] = []  # min-heap of (-score, ...)

    def offer(self, score: float, index: int, stamp_ns: int, draw: Callable[[], bytes]) -> None:
        """Consider a frame; ``draw`` makes its PNG and is only called if the frame is kept."""
        if not self.count or not np.isfinite(score):
            return
        png: bytes | None = None
        for heap, key in ((self._best, score), (self._worst, -score)):
            if len(heap) < self.count or key > heap[0][0]:
                png = png or draw()
                entry = (key, index, stamp_ns, png)
                if len(heap) < self.count:
                    heapq.heappush(heap, entry)
                else:
                    heapq.heapreplace(heap, entry)

    def picked(self) -> list[Thumbnail]:
        """Best first (highest score), then worst (lowest first); a frame shown as best is not repeated."""
        best = sorted(self._best, reverse=True)
        shown = {index for _, index, _, _ in best}
        worst = sorted((e for e in self._worst if e[1] not in shown), reverse=True)
        return [Thumbnail("best", i, stamp, score, png) for score, i, stamp, png in best] + [
            Thumbnail("worst", i, stamp, -key, png) for key, i, stamp, png in worst
        ]
