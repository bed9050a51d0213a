"""Section ``ladder``: every rung of the speed ladder x CPU precision, and fast mode, speed against quality.

Each rung (``resources.MODEL_NAMES``) runs on PyTorch fp32, ONNX Runtime
fp32 and ONNX Runtime int8, each in a fresh process, at every size; fast mode
of the full model (x0.6, x0.5, x0.4: about the rungs' speeds) is measured
beside them on int8, since a rung must beat fast mode at equal speed.
Speed-ups are over the full model on the same backend and precision, in the
same run. Quality is measured on paired sets nothing was trained on: the
evaluation photos with the synthesizer's light and heavy rains, and with a
rain style no rung was distilled on (``rain.HELD_OUT``), against the clean
photos and against the full model's output on the same path.

``python -m sapnet_ros.bench.ladder bench.json docs/ladder.png`` draws the
speed-quality plot from a ``sapnet-bench --json`` file.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from sapnet_ros import resources
from sapnet_ros.bench import BenchConfig, format_size, table
from sapnet_ros.bench.measure import Measurement, Variant, measure_fresh
from sapnet_ros.io.images import write_png
from sapnet_ros.metrics import image_quality
from sapnet_ros.model.fidelity import Inputs
from sapnet_ros.model.weights import read_weights
from sapnet_ros.synthesis.rain import EVALUATION_PHOTOS, HELD_OUT, add_rain, clean_photo, photo_pairs

PATHS = (("torch", "fp32"), ("onnxruntime", "fp32"), ("onnxruntime", "int8"))
FAST_SCALES = (0.6, 0.5, 0.4)  # fast mode at about the rungs' speeds, on the CPU's int8 path
FAST_PATH = ("onnxruntime", "int8")
PLOT_SIZE = (480, 640)  # the plot's speed axis: frames/s at 640x480


def ladder_inputs(size: tuple[int, int]) -> Inputs:
    """(label, rainy, clean) uint8 RGB pairs at ``size``: held-out photos, seen (light, heavy) and held-out rain."""
    inputs: Inputs = list(photo_pairs(*size))
    for offset, photo in enumerate(EVALUATION_PHOTOS):
        clean = clean_photo(photo, *size)
        inputs.append((f"{photo}/held-out", add_rain(clean, HELD_OUT, seed=91 + offset), clean))
    return inputs


def write_pairs(folder: Path, size: tuple[int, int]) -> Path:
    """``ladder_inputs(size)`` as a paired folder (``input/`` + ``target/`` PNGs) for ``sapnet-evaluate``."""
    for kind in ("input", "target"):
        (folder / kind).mkdir(parents=True, exist_ok=True)
    for label, rainy, clean in ladder_inputs(size):
        assert clean is not None
        name = label.replace("/", "-") + ".png"
        write_png(folder / "input" / name, np.ascontiguousarray(rainy[..., ::-1]))
        write_png(folder / "target" / name, np.ascontiguousarray(clean[..., ::-1]))
    return folder


def _quality(outputs: tuple[np.ndarray, ...], full: tuple[np.ndarray, ...], inputs: Inputs) -> dict[str, Any]:
    """PSNR/SSIM against the clean photos (mean, worst; seen and held-out rain apart) and against the full model.

    ``psnr_vs_full_db`` is None for the full model itself (identical outputs).
    """
    truth = [image_quality(out, clean) for out, (_, _, clean) in zip(outputs, inputs, strict=True) if clean is not None]
    held_out = [q.psnr_rgb for q, (label, _, _) in zip(truth, inputs, strict=True) if label.endswith("/held-out")]
    seen = [q.psnr_rgb for q, (label, _, _) in zip(truth, inputs, strict=True) if not label.endswith("/held-out")]
    versus_full = [image_quality(out, ref).psnr_rgb for out, ref in zip(outputs, full, strict=True)]
    return {
        "psnr_gt_db": round(float(np.mean([q.psnr_rgb for q in truth])), 3),
        "psnr_gt_worst_db": round(min(q.psnr_rgb for q in truth), 3),
        "psnr_gt_seen_rain_db": round(float(np.mean(seen)), 3),
        "psnr_gt_held_out_rain_db": round(float(np.mean(held_out)), 3),
        "ssim_gt": round(float(np.mean([q.ssim_rgb for q in truth])), 5),
        "psnr_vs_full_db": round(float(np.mean(versus_full)), 2) if np.isfinite(np.mean(versus_full)) else None,
    }


def _point(variant: Variant, measured: Measurement, full: Measurement, inputs: Inputs, macs: float) -> dict[str, Any]:
    speed = {}
    for timing, base in zip(measured.timings, full.timings, strict=True):
        speed[timing.size] = {
            "median_ms": timing.median_ms,
            "fps": timing.fps,
            "speedup": round(base.median_ms / timing.median_ms, 2),
        }
    quality = _quality(measured.outputs, full.outputs, inputs)
    full_gt = _quality(full.outputs, full.outputs, inputs)["psnr_gt_db"]
    return {
        "label": variant.label,
        "model": variant.model if variant.fast_scale == 1.0 else f"{variant.model} fast x{variant.fast_scale:g}",
        "backend": variant.backend,
        "precision": variant.precision,
        "mmac_per_pixel": round(macs / 1e6, 3),
        "speed": speed,
        "quality": quality,
        "loss_vs_full_db": round(full_gt - quality["psnr_gt_db"], 3),
    }


def chosen_paths(config: BenchConfig) -> list[tuple[str, str]]:
    """``PATHS``, or those of them named in ``--variants`` (PyTorch fp32 takes minutes a frame at 1280x720)."""
    return [path for path in PATHS if not config.variants or f"{path[0]}:{path[1]}" in config.variants]


def run(config: BenchConfig) -> dict[str, Any]:
    inputs = ladder_inputs(config.quality_size)
    macs = {
        name: read_weights(resources.model_files(name).weights).architecture.macs_per_pixel()
        for name in resources.MODEL_NAMES
    }
    points = []
    for backend, precision in chosen_paths(config):
        full_variant = Variant(backend, precision)
        full = measure_fresh(full_variant, config, inputs)
        points.append(_point(full_variant, full, full, inputs, macs[resources.DEFAULT_MODEL]))
        for name in resources.MODEL_NAMES[1:]:
            variant = Variant(backend, precision, model=name)
            points.append(_point(variant, measure_fresh(variant, config, inputs), full, inputs, macs[name]))
        for scale in FAST_SCALES if (backend, precision) == FAST_PATH else ():
            fast = Variant(backend, precision, fast_scale=scale)
            points.append(
                _point(
                    fast, measure_fresh(fast, config, inputs), full, inputs, macs[resources.DEFAULT_MODEL] * scale**2
                )
            )
    return {
        "quality_size": format_size(config.quality_size),
        "sets": [label for label, _, _ in inputs],
        "points": points,
    }


def render(result: dict[str, Any]) -> str:
    headers = [
        "model",
        "path",
        "size",
        "ms/frame",
        "fps",
        "MMAC/px",
        "speed-up",
        "PSNR gt",
        "worst",
        "held-out rain",
        "SSIM",
        "loss dB",
        "PSNR vs full",
    ]
    rows = []
    for point in result["points"]:
        quality = point["quality"]
        for size, speed in point["speed"].items():
            rows.append(
                [
                    point["model"],
                    f"{point['backend']} {point['precision']}",
                    size,
                    f"{speed['median_ms']:.0f}",
                    f"{speed['fps']:.2f}",
                    f"{point['mmac_per_pixel']:.3f}",
                    f"{speed['speedup']:.2f}",
                    f"{quality['psnr_gt_db']:.2f}",
                    f"{quality['psnr_gt_worst_db']:.2f}",
                    f"{quality['psnr_gt_held_out_rain_db']:.2f}",
                    f"{quality['ssim_gt']:.4f}",
                    f"{point['loss_vs_full_db']:+.2f}",
                    "-" if quality["psnr_vs_full_db"] is None else f"{quality['psnr_vs_full_db']:.1f}",
                ]
            )
    note = (
        f"speed-up over the full model on the same path and size; quality at {result['quality_size']} "
        f"on {len(result['sets'])} paired sets ({', '.join(result['sets'])}); loss = full model's PSNR minus this one's"
    )
    return f"{note}\n{table(headers, rows)}"


def plot(result: dict[str, Any], output: Path) -> Path:
    """Frames/s at 640x480 against PSNR to the clean photos, one line per backend and precision."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    size = format_size(PLOT_SIZE)
    figure, axes = plt.subplots(figsize=(7, 4.5), dpi=110)
    measured = {(point["backend"], point["precision"]) for point in result["points"]}
    for backend, precision in (path for path in PATHS if path in measured):
        points = [
            p for p in result["points"] if (p["backend"], p["precision"]) == (backend, precision) and size in p["speed"]
        ]
        ladder = [p for p in points if "fast" not in p["model"]]
        fps = [p["speed"][size]["fps"] for p in ladder]
        psnr = [p["quality"]["psnr_gt_db"] for p in ladder]
        line = axes.plot(fps, psnr, "o-", label=f"{backend} {precision}")[0]
        for point, x, y in zip(ladder, fps, psnr, strict=True):
            axes.annotate(point["model"], (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7)
        for point in (p for p in points if "fast" in p["model"]):
            x, y = point["speed"][size]["fps"], point["quality"]["psnr_gt_db"]
            axes.plot([x], [y], "x", color=line.get_color(), markersize=8)
            axes.annotate(point["model"], (x, y), textcoords="offset points", xytext=(4, -10), fontsize=7)
    axes.set_xscale("log")
    axes.set_xlabel(f"frames/s at {size} (log scale)")
    axes.set_ylabel(f"PSNR vs clean, dB (mean of {len(result['sets'])} sets)")
    axes.set_title("SAPNet speed ladder: rungs (o) and fast mode of the full model (x)")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    output.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(output)
    plt.close(figure)
    return output


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Draw the speed ladder's speed-quality plot from sapnet-bench JSON.")
    parser.add_argument("bench_json", type=Path, help="sapnet-bench --only ladder --json FILE")
    parser.add_argument("output", type=Path, help="PNG to write (e.g. docs/ladder.png)")
    args = parser.parse_args(argv)
    report = json.loads(args.bench_json.read_text())
    if "ladder" not in report.get("sections", {}):
        parser.exit(2, f"{args.bench_json}: no ladder section; run sapnet-bench --only ladder --json FILE\n")
    print(f"wrote {plot(report['sections']['ladder'], args.output)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
