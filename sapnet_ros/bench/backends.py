"""Section ``backends``: every available backend and precision, speed at each size and quality.

Speed-ups are against PyTorch eager fp32 and ONNX Runtime fp32 measured in
the same run. Quality is against the PyTorch fp32 outputs and against the
clean photos of paired synthesized-rain images (``measure.compare``).
"""

from __future__ import annotations

import logging
from typing import Any

from sapnet_ros.backends import BackendOptions, create_backend, resolve_device, unavailable_reason
from sapnet_ros.bench import BenchConfig, cpuinfo_text, format_size, table
from sapnet_ros.bench.measure import Variant, measure
from sapnet_ros.model.artifacts import MAX_GT_LOSS_DB, MIN_PSNR_VS_FP32_DB, photo_quality_holds
from sapnet_ros.model.fidelity import compare, quality_inputs

LOG = logging.getLogger(__name__)

REFERENCE = Variant("torch", "fp32")
CPU_VARIANTS = (REFERENCE, Variant("torch", "bf16"), Variant("onnxruntime", "fp32"), Variant("onnxruntime", "int8"))
GPU_VARIANTS = (
    ("torch", "fp16"),
    ("onnxruntime", "fp16"),
    ("tensorrt", "fp32"),
    ("tensorrt", "fp16"),
    ("tensorrt", "int8"),
)


def candidates(device: str, names: tuple[str, ...] = ()) -> list[Variant]:
    """CPU variants, and on a GPU the GPU ones too, in table order; only ``names`` ("backend:precision") if given."""
    gpu = [Variant(backend, precision, device) for backend, precision in GPU_VARIANTS] if device != "cpu" else []
    chosen = [*CPU_VARIANTS, *gpu]
    if names:
        chosen = [v for v in chosen if v == REFERENCE or f"{v.backend}:{v.precision}" in names]
    return chosen


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX-512 BF16 or AMX); elsewhere PyTorch emulates it, slowly."""
    flags = cpuinfo_text()
    return "avx512_bf16" in flags or "amx_bf16" in flags


def available(variants: list[Variant], requested: tuple[str, ...] = ()) -> tuple[list[Variant], dict[str, str]]:
    """The variants that can run here, and why each other one cannot."""
    runnable, skipped = [], {}
    for variant in variants:
        reason = unavailable_reason(variant.backend, variant.options())
        emulated = variant.precision == "bf16" and variant.device == "cpu" and not cpu_has_native_bf16()
        if reason is None and emulated and "torch:bf16" not in requested:
            reason = "this CPU has no native bf16 (emulated: slower than fp32); ask for it with --variants torch:bf16"
        if reason is None:
            runnable.append(variant)
        else:
            skipped[variant.label] = reason
            LOG.info("bench: skipping %s: %s", variant.label, reason)
    return runnable, skipped


def auto_variant(device: str) -> Variant:
    """What ``--backend auto --precision auto`` runs on ``device`` (constructed, not loaded)."""
    backend = create_backend("auto", BackendOptions(precision="auto", device=device))
    return Variant(backend.name, backend.precision, device)


def run(config: BenchConfig) -> dict[str, Any]:
    device = resolve_device(config.device)
    variants, skipped = available(candidates(device, config.variants), config.variants)
    inputs = quality_inputs(config.quality_size)
    reference = measure(REFERENCE, config).outputs
    rows: list[dict[str, Any]] = []
    for variant in variants:
        measured = measure(variant, config)
        timings = {timing.size: timing for timing in measured.timings}
        rows.append({"variant": variant, "timings": timings, "quality": compare(measured.outputs, reference, inputs)})
    by_label = {row["variant"].label: row for row in rows}
    results = []
    for row in rows:
        as_metadata = {f"quality_{key}": str(value) for key, value in row["quality"].items()}  # int8 file's keys
        entry = {
            "label": row["variant"].label,
            "backend": row["variant"].backend,
            "precision": row["variant"].precision,
            "device": row["variant"].device,
            "quality": row["quality"],
            "quality_holds": photo_quality_holds(as_metadata),
            "timings": {},
        }
        for size, timing in row["timings"].items():
            figures = dict(timing.__dict__)
            for base in (REFERENCE.label, "onnxruntime fp32"):
                if base in by_label:
                    key = "speedup_vs_" + base.replace(" ", "_")
                    figures[key] = round(by_label[base]["timings"][size].median_ms / timing.median_ms, 2)
            entry["timings"][size] = figures
        results.append(entry)
    auto = auto_variant("cpu")
    return {
        "best_cpu": best_cpu(results, config),
        "device": device,
        "quality_size": format_size(config.quality_size),
        "quality_gate": {"max_gt_loss_db": MAX_GT_LOSS_DB, "min_psnr_vs_fp32_db": MIN_PSNR_VS_FP32_DB},
        "auto_cpu": auto.label,
        "variants": results,
        "skipped": skipped,
    }


def best_cpu(results: list[dict[str, Any]], config: BenchConfig) -> dict[str, Any] | None:
    """The fastest CPU variant whose quality holds, at 640x480 if measured (else the largest size)."""
    size = format_size(config.size_or((480, 640), max(config.sizes)))
    holding = [entry for entry in results if entry["device"] == "cpu" and entry["quality_holds"]]
    if not holding:
        return None
    best = min(holding, key=lambda entry: entry["timings"][size]["median_ms"])
    figures = best["timings"][size]
    return {
        "label": best["label"],
        "size": size,
        "median_ms": figures["median_ms"],
        "speedup_vs_onnxruntime_fp32": figures.get("speedup_vs_onnxruntime_fp32"),
        "speedup_vs_torch_fp32": figures.get("speedup_vs_torch_fp32"),
        "gt_loss_db": best["quality"]["gt_loss_db"],
    }


def render(result: dict[str, Any]) -> str:
    headers = ["variant", "size", "ms/frame", "frames/s", "peak RSS MiB", "x torch fp32", "x ORT fp32"]
    rows = []
    for entry in result["variants"]:
        for size, figures in entry["timings"].items():
            rows.append(
                [
                    entry["label"],
                    size,
                    f"{figures['median_ms']:.0f}",
                    f"{figures['fps']:.2f}",
                    f"{figures['peak_rss_mib']:.0f}",
                    f"{figures.get('speedup_vs_torch_fp32', float('nan')):.2f}",
                    f"{figures.get('speedup_vs_onnxruntime_fp32', float('nan')):.2f}",
                ]
            )
    quality_headers = ["variant", "PSNR vs fp32", "sample vs fp32", "SSIM vs fp32", "PSNR vs clean", "loss dB", "holds"]
    quality_rows = [
        [
            entry["label"],
            f"{entry['quality']['psnr_vs_fp32_db']:.1f}",
            f"{entry['quality']['sample_psnr_vs_fp32_db']:.1f}",
            f"{entry['quality']['ssim_vs_fp32']:.4f}",
            f"{entry['quality']['psnr_gt_db']:.2f}",
            f"{entry['quality']['gt_loss_db']:+.3f}",
            "yes" if entry["quality_holds"] else "no",
        ]
        for entry in result["variants"]
    ]
    skipped = "".join(f"\nskipped {label}: {reason}" for label, reason in result["skipped"].items())
    best = result["best_cpu"]
    if best:
        skipped = (
            f"\nbest CPU path whose quality holds, at {best['size']}: {best['label']}, {best['median_ms']:.0f} ms, "
            f"{best['speedup_vs_onnxruntime_fp32']}x ONNX Runtime fp32, {best['speedup_vs_torch_fp32']}x PyTorch fp32, "
            f"loss {best['gt_loss_db']:+.3f} dB" + skipped
        )
    return (
        f"{table(headers, rows)}\n\nquality at {result['quality_size']} (PSNR dB; loss = fp32's PSNR vs clean minus "
        f"this one's):\n{table(quality_headers, quality_rows)}\n\nauto on the CPU runs: {result['auto_cpu']}{skipped}"
    )
