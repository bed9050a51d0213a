"""The rain gate: derain a camera's frames only while it rains, without chatter.

SAPNet smooths real texture away on dry frames (~32.5 dB against the input),
so a gated ``Derainer`` passes dry frames through untouched and skips their
inference. Per stream (a camera, a bag topic, a file) the gate keeps:

- the rain level of each frame (``RainEstimator``) smoothed over frames by an
  exponential moving average;
- a state with hysteresis: it opens when the smoothed level reaches
  ``open_level`` and closes when it falls to ``close_level``, and after a
  switch it holds the new state for at least ``dwell_frames`` frames;
- the weight of the derained image in the output, which follows the state
  with a linear cross-fade over ``fade_frames`` frames, so the picture never
  jumps between pass-through and derained.

A stream's first frame has no history: its level alone decides (open at or
above the middle of the hysteresis band) and no cross-fade runs. Counts are
in frames the gate sees, not seconds: a node sees every frame while dry
(skipping inference is cheap) and only the frames it derains while it rains.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np

from sapnet_ros.frames import ColorOrder
from sapnet_ros.gate.estimator import RainEstimator


@dataclass(frozen=True)
class GateSettings:
    """How the gate turns rain levels into pass-through, cross-fade or derained output.

    Attributes:
        open_level: smoothed rain level at or above which a closed gate opens.
        close_level: smoothed rain level at or below which an open gate closes.
        smoothing: weight of the newest level in the moving average (1: none).
        dwell_frames: frames a gate stays in a state before it may switch back.
        fade_frames: frames of the cross-fade after a switch (0: hard switch).
    """

    open_level: float = 0.6
    close_level: float = 0.3
    smoothing: float = 0.3
    dwell_frames: int = 10
    fade_frames: int = 5

    def __post_init__(self) -> None:
        problems = []
        if not 0.0 <= self.close_level < self.open_level <= 1.0:
            problems.append(f"need 0 <= close_level < open_level <= 1, got {self.close_level}, {self.open_level}")
        if not 0.0 < self.smoothing <= 1.0:
            problems.append(f"smoothing must be in (0, 1], got {self.smoothing}")
        if self.dwell_frames < 0 or self.fade_frames < 0:
            problems.append(f"dwell_frames and fade_frames must be >= 0, got {self.dwell_frames}, {self.fade_frames}")
        if problems:
            raise ValueError(f"invalid rain gate settings: {'; '.join(problems)}")

    @property
    def first_frame_level(self) -> float:
        """The level at which a stream's first frame is derained: the middle of the hysteresis band."""
        return (self.open_level + self.close_level) / 2

    @property
    def fade_step(self) -> float:
        """The change of the derained weight per frame of a cross-fade (1: a hard switch)."""
        return 1.0 / self.fade_frames if self.fade_frames else 1.0


@dataclass(frozen=True)
class GateDecision:
    """What the gate did with one frame.

    Attributes:
        level: the frame's rain level in [0, 1].
        smoothed: the stream's moving average including this frame.
        open: the gate's state after this frame.
        weight: share of the derained image in the output, in [0, 1]; 0 means
            the frame passed through untouched and was not derained.
        switched: the gate changed state on this frame.
    """

    level: float
    smoothed: float
    open: bool
    weight: float
    switched: bool


@dataclass
class StreamGate:
    """The gate state of one stream; ``update`` takes each frame's level in order."""

    settings: GateSettings
    smoothed: float | None = None
    open: bool = False
    weight: float = 0.0
    frames_in_state: int = 0
    switches: int = 0

    def update(self, level: float) -> GateDecision:
        settings = self.settings
        switched = False
        if self.smoothed is None:
            self.smoothed = level
            self.open = level >= settings.first_frame_level
            self.weight = 1.0 if self.open else 0.0
            self.frames_in_state = settings.dwell_frames  # no switch to hold: free to switch at once
        else:
            self.smoothed += settings.smoothing * (level - self.smoothed)
            self.frames_in_state += 1
            if self.frames_in_state >= settings.dwell_frames:
                threshold_crossed = (
                    self.smoothed <= settings.close_level if self.open else self.smoothed >= settings.open_level
                )
                if threshold_crossed:
                    self.open, self.frames_in_state, switched = not self.open, 0, True
                    self.switches += 1
            step = settings.fade_step
            self.weight = min(self.weight + step, 1.0) if self.open else max(self.weight - step, 0.0)
        return GateDecision(level, self.smoothed, self.open, self.weight, switched)


class RainGate:
    """Per-stream gates that share one estimator.

    Args:
        estimator: scores each frame's rain level.
        settings: thresholds, smoothing, dwell and cross-fade of every stream.
    """

    def __init__(self, estimator: RainEstimator, settings: GateSettings | None = None) -> None:
        self.estimator = estimator
        self.settings = settings or GateSettings()
        self.streams: dict[Hashable, StreamGate] = {}

    def decide(
        self, images: Sequence[np.ndarray], order: ColorOrder, streams: Sequence[Hashable]
    ) -> list[GateDecision]:
        """Score ``images`` and advance the gate of each one's stream, in order.

        Args:
            images: (H, W[, C]) uint8/uint16 frames; sizes may differ.
            order: their colour order, "rgb" or "bgr".
            streams: one key per image (camera name, topic, file); a key seen
                for the first time starts a new gate.
        """
        if len(streams) != len(images):
            raise ValueError(f"got {len(streams)} stream keys for {len(images)} images")
        levels = self.estimator.levels(images, order)
        return [self.stream(key).update(level) for key, level in zip(streams, levels, strict=True)]

    def stream(self, key: Hashable) -> StreamGate:
        """The gate of stream ``key`` (created closed, without history)."""
        if key not in self.streams:
            self.streams[key] = StreamGate(self.settings)
        return self.streams[key]

    def reset(self) -> None:
        """Forget every stream (e.g. when a node is reconfigured)."""
        self.streams.clear()
