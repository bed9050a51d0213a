"""Temporal stability: flicker of rainy input, derained and gated output on a still scene.

A still camera looks at a clean photo while synthesized rain falls through it
(``RainSynthesizer`` moves the streaks every frame). Flicker
(``sapnet_ros.metrics.flicker``: mean absolute luma change between
consecutive frames, 8-bit levels, here over the whole frame, which is all
static background) is measured on the rainy input, on the Derainer's output
and on the gated Derainer's output. The clean scene itself has zero flicker,
so every level measured is shimmer added by rain or by the network.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from sapnet_ros.bench import BenchConfig, table
from sapnet_ros.bench.measure import given_or_opened
from sapnet_ros.derainer import Derainer, open_derainer
from sapnet_ros.gate.estimator import RainEstimator
from sapnet_ros.gate.rain_gate import RainGate
from sapnet_ros.metrics import flicker
from sapnet_ros.settings import DerainSettings
from sapnet_ros.synthesis.photos import still_scene
from sapnet_ros.synthesis.rain import RainSynthesizer, styled


@dataclass(frozen=True)
class FlickerResult:
    """Flicker (8-bit luma levels per frame) of one still scene with moving rain."""

    scene: str
    style: str
    width: int
    height: int
    frames: int
    backend: str
    device: str
    rainy: float  # the camera's input
    derained: float  # every frame derained
    gated: float  # through the rain gate
    gate_open_frames: int  # frames the gate derained (fully or in a cross-fade)

    @property
    def derained_vs_rainy(self) -> float:
        """Derained flicker as a share of the input's: below 1, deraining steadies the picture."""
        return self.derained / self.rainy

    def as_dict(self) -> dict[str, object]:
        return asdict(self) | {"derained_vs_rainy": self.derained_vs_rainy}


def rainy_sequence(clean: np.ndarray, style: str, frames: int, seed: int = 0) -> list[np.ndarray]:
    """``frames`` frames of ``clean`` (fixed camera) with rain of style ``style`` falling through it."""
    rain = RainSynthesizer(styled(style), seed)
    return [rain.apply(clean, index) for index in range(frames)]


def measure_flicker(
    settings: DerainSettings | None = None,
    scene: str = "coffee",
    style: str = "heavy",
    width: int = 320,
    height: int = 240,
    frames: int = 8,
    *,
    derainer: Derainer | None = None,
) -> FlickerResult:
    """Derain a still ``scene`` with moving rain of ``style``, with and without the rain gate.

    ``derainer``, if given, is used instead of a new one (so several sequences load the backend once).
    """
    clean = still_scene(scene, width, height)
    sequence = rainy_sequence(clean, style, frames)
    with given_or_opened(derainer, settings) as deraining:
        derained = [deraining.run(frame, "rgb") for frame in sequence]
        gated_derainer = Derainer(deraining.backend, gate=RainGate(RainEstimator()))  # a fresh gate per sequence
        gated, opened = [], 0
        for frame in sequence:
            result = gated_derainer.run_batch([frame], "rgb", ["bench"])
            gated.append(result.images[0])
            opened += result.gates is not None and result.gates[0].weight > 0
        info = deraining.backend.info
    return FlickerResult(
        scene=scene,
        style=style,
        width=width,
        height=height,
        frames=frames,
        backend=info.name,
        device=info.device,
        rainy=flicker(sequence),
        derained=flicker(derained),
        gated=flicker(gated),
        gate_open_frames=opened,
    )


def run(config: BenchConfig) -> dict[str, Any]:
    """``sapnet-bench`` section: a still scene at 320x240 (or the first size asked for), light and heavy rain."""
    height, width = config.size_or((240, 320))
    settings = config.auto_settings()
    with open_derainer(settings) as derainer:
        return {
            "sequences": [
                measure_flicker(settings, style=style, width=width, height=height, derainer=derainer).as_dict()
                for style in ("light", "heavy")
            ]
        }


def render(result: dict[str, Any]) -> str:
    rows = [
        [f"{r['scene']}, {r['style']} rain, {r['frames']} frames", f"{r['rainy']:.2f}", f"{r['derained']:.2f}",
         f"{r['gated']:.2f} ({r['gate_open_frames']} derained)"]
        for r in result["sequences"]
    ]  # fmt: skip
    return "mean absolute change between consecutive frames, 8-bit luma\n\n" + table(
        ["sequence", "rainy input", "derained", "gated"], rows
    )
