"""Section ``fast``: fast mode's speed-up and quality cost on the path ``auto`` picks for the CPU.

Fast mode finds the rain at a reduced scale and removes it at full resolution
(``Derainer(fast_scale=...)``). Both figures are against the same backend and
precision at full resolution, measured in the same run; quality also against
PyTorch fp32 and the clean photos.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sapnet_ros.bench import BenchConfig, format_size, table
from sapnet_ros.bench.backends import REFERENCE, auto_variant
from sapnet_ros.bench.measure import measure
from sapnet_ros.model.fidelity import compare, quality_inputs

SCALES = (0.5,)


def run(config: BenchConfig) -> dict[str, Any]:
    full = auto_variant("cpu")
    inputs = quality_inputs(config.quality_size)
    reference = measure(REFERENCE, config).outputs
    baseline = measure(full, config)
    full_quality = compare(baseline.outputs, reference, inputs)
    modes = []
    for scale in SCALES:
        fast = replace(full, fast_scale=scale)
        measured = measure(fast, config)
        outputs = measured.outputs
        speed = {}
        for before, timing in zip(baseline.timings, measured.timings, strict=True):
            speed[timing.size] = {
                "full_ms": before.median_ms,
                "fast_ms": timing.median_ms,
                "speedup": round(before.median_ms / timing.median_ms, 2),
            }
        modes.append(
            {
                "label": fast.label,
                "scale": scale,
                "speed": speed,
                "quality_vs_torch_fp32": compare(outputs, reference, inputs),
                "quality_vs_full_resolution": compare(outputs, baseline.outputs, inputs),
            }
        )
    return {
        "path": full.label,
        "quality_size": format_size(config.quality_size),
        "full_quality": full_quality,
        "modes": modes,
    }


def render(result: dict[str, Any]) -> str:
    headers = ["mode", "size", "full ms", "fast ms", "speed-up", "PSNR vs clean", "loss vs full dB", "PSNR vs full"]
    rows = []
    full_gt = result["full_quality"]["psnr_gt_db"]
    for mode in result["modes"]:
        quality = mode["quality_vs_torch_fp32"]
        for size, speed in mode["speed"].items():
            rows.append(
                [
                    mode["label"],
                    size,
                    f"{speed['full_ms']:.0f}",
                    f"{speed['fast_ms']:.0f}",
                    f"{speed['speedup']:.2f}",
                    f"{quality['psnr_gt_db']:.2f}",
                    f"{full_gt - quality['psnr_gt_db']:+.2f}",
                    f"{mode['quality_vs_full_resolution']['psnr_vs_fp32_db']:.1f}",
                ]
            )
    return f"fast mode on {result['path']}, quality at {result['quality_size']}:\n{table(headers, rows)}"
