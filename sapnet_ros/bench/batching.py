"""Many cameras, one backend: what batching their frames into one call gains over one call each.

For ``cameras`` frames of ``width`` x ``height`` (the shipped sample photo,
shifted per camera so no two frames are equal), it times the Derainer on them
one call per frame (what N single-camera nodes sharing a backend would do) and
in one ``run_batch`` call (what derain_node does with the frames waiting from
N cameras). The two are timed alternately, ``repeats`` times each after a
warm-up, and the medians compared: the ratio holds even on a machine whose
load drifts, though the absolute times do not.
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from sapnet_ros.bench import BenchConfig, elapsed_ms, table
from sapnet_ros.bench.measure import sample_frame
from sapnet_ros.derainer import open_derainer
from sapnet_ros.settings import DerainSettings


@dataclass(frozen=True)
class BatchingResult:
    """Median milliseconds to derain one frame per camera, one call each and in one batch."""

    cameras: int
    width: int
    height: int
    backend: str
    device: str
    repeats: int
    sequential_ms: float  # all cameras' frames, one Derainer.run each
    batched_ms: float  # the same frames in one Derainer.run_batch

    @property
    def speedup(self) -> float:
        """Throughput of batching over sequential calls (frames per second, batched / sequential)."""
        return self.sequential_ms / self.batched_ms

    def as_dict(self) -> dict[str, object]:
        return asdict(self) | {"speedup": self.speedup}


def camera_frames(cameras: int, width: int, height: int) -> list[np.ndarray]:
    """One uint8 (height, width, 3) BGR frame per camera: the sample photo, shifted a little per camera."""
    photo = sample_frame(width, height)
    return [np.ascontiguousarray(np.roll(photo, 7 * index, axis=1)) for index in range(cameras)]


def measure_batching(
    settings: DerainSettings | None = None,
    cameras: int = 4,
    width: int = 320,
    height: int = 240,
    repeats: int = 3,
) -> BatchingResult:
    """Time ``cameras`` frames derained one call each against one batched call."""
    frames = camera_frames(cameras, width, height)
    sequential, batched = [], []
    with open_derainer(settings) as derainer:
        derainer.run(frames[0], "bgr")  # warm-up: the first run at a new size allocates
        derainer.run_batch(frames, "bgr")

        def one_call_each() -> None:
            for frame in frames:
                derainer.run(frame, "bgr")

        for _ in range(repeats):  # alternately, so load drifting on the machine weighs on both alike
            sequential.append(elapsed_ms(one_call_each))
            batched.append(elapsed_ms(lambda: derainer.run_batch(frames, "bgr")))
        info = derainer.backend.info
    return BatchingResult(
        cameras=cameras,
        width=width,
        height=height,
        backend=info.name,
        device=info.device,
        repeats=repeats,
        sequential_ms=statistics.median(sequential),
        batched_ms=statistics.median(batched),
    )


def run(config: BenchConfig) -> dict[str, Any]:
    """``sapnet-bench`` section: 4 cameras at 320x240 (or the first size asked for), fastest path."""
    height, width = config.size_or((240, 320))
    return measure_batching(config.auto_settings(), 4, width, height, config.repeats).as_dict()


def render(result: dict[str, Any]) -> str:
    rows = [
        ["one call per camera", f"{result['sequential_ms']:.0f}"],
        ["one batched call", f"{result['batched_ms']:.0f}"],
    ]
    return (
        f"{result['cameras']} cameras at {result['width']}x{result['height']}, "
        f"{result['backend']} on {result['device']}, median of {result['repeats']}\n\n"
        + table(["all cameras' frames", "ms"], rows)
        + f"\n\nthroughput gain of batching: {result['speedup']:.2f}x"
    )
