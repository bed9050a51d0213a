"""What the rain gate costs per frame, against what it saves.

For a frame of ``width`` x ``height`` (the shipped sample photo) it times the
rain estimator (tiles, grey, the CNN on ONNX Runtime with one thread) and one
Derainer run on the chosen backend, both after a warm-up. While the gate is
closed a frame costs the estimate alone; while it is open, the estimate on
top of inference.
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass
from typing import Any

from sapnet_ros.bench import BenchConfig, median_ms, table
from sapnet_ros.bench.measure import derain_timings, given_or_opened, sample_frame
from sapnet_ros.derainer import Derainer, open_derainer
from sapnet_ros.gate.estimator import RainEstimator
from sapnet_ros.settings import DerainSettings


@dataclass(frozen=True)
class GateCostResult:
    """Median milliseconds per frame of the rain estimate and of inference."""

    width: int
    height: int
    backend: str
    device: str
    estimate_ms: float
    inference_ms: float

    @property
    def estimate_percent(self) -> float:
        """The estimate as a share of inference: the gate's price on a rainy frame."""
        return 100.0 * self.estimate_ms / self.inference_ms

    def as_dict(self) -> dict[str, object]:
        return asdict(self) | {"estimate_percent": self.estimate_percent}


def measure_gate_cost(
    settings: DerainSettings | None = None,
    width: int = 640,
    height: int = 480,
    repeats: int = 50,
    derain_repeats: int = 1,
    *,
    derainer: Derainer | None = None,
    estimator: RainEstimator | None = None,
) -> GateCostResult:
    """Time the rain estimate ``repeats`` times and Derainer.run ``derain_repeats`` times on one frame.

    ``derainer`` and ``estimator``, if given, are used instead of new ones (so several sizes load them once);
    both are still warmed up on this frame's size.
    """
    frame = sample_frame(width, height)
    estimating = RainEstimator() if estimator is None else estimator
    estimating.level(frame, "bgr")  # warm-up
    estimate_ms = median_ms(lambda: estimating.level(frame, "bgr"), repeats)
    with given_or_opened(derainer, settings) as deraining:
        _, timings = derain_timings(deraining, frame, derain_repeats)
        info = deraining.backend.info
    return GateCostResult(
        width=width,
        height=height,
        backend=info.name,
        device=info.device,
        estimate_ms=estimate_ms,
        inference_ms=statistics.median(t.inference_ms for t in timings),
    )


def run(config: BenchConfig) -> dict[str, Any]:
    """``sapnet-bench`` section: the rain estimate against inference at each size asked for."""
    settings = config.auto_settings()
    estimator = RainEstimator()
    with open_derainer(settings) as derainer:
        return {
            "sizes": [
                measure_gate_cost(
                    settings,
                    width,
                    height,
                    derain_repeats=config.repeats,
                    derainer=derainer,
                    estimator=estimator,
                ).as_dict()
                for height, width in config.sizes
            ]
        }


def render(result: dict[str, Any]) -> str:
    rows = [
        [f"{r['width']}x{r['height']}", f"{r['estimate_ms']:.2f}", f"{r['inference_ms']:.0f}",
         f"{r['estimate_percent']:.3f}%"]
        for r in result["sizes"]
    ]  # fmt: skip
    return table(["size", "rain estimate ms", "inference ms", "estimate / inference"], rows)
