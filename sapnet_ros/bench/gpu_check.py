"""The prepared GPU check behind ``scripts/gpu_check.sh``: parity and speed of every GPU variant, in minutes.

Every variant (backend x precision) is checked on its own: the parent asks
each backend whether it can run here (a variant that cannot is reported
with the reason, e.g. TensorRT not installed), then runs each one that can
in a child process with a time limit, so one that fails, hangs or crashes
the driver is reported and the others still run. A variant:

- loads (for TensorRT this builds the engine on first use; ONNX Runtime's
  TensorRT provider builds on the first frame): "first run" is load plus the
  first frame, and whether an engine was built then;
- derains the official Rain100H sample and compares it with the stored CPU
  output of the official code (``test/data``), so nothing slow runs on the CPU;
- times ``infer`` at 640x480 and 1280x720 (median after a warm-up).

Parity thresholds: fp32 within 1e-4 (TF32 is off on every path); fp16 at
least 40 dB PSNR; int8 at least 33 dB, which is the shipped symmetric model's
recorded 36.6 dB on this sample on the CPU less 3 dB for TensorRT's kernels
and the fp16 layers a weakly typed engine may add around the Q/DQ pairs.

Only numpy is needed to run it; everything else (PyTorch, ONNX Runtime,
TensorRT, cuda-python) is used where it is installed.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from sapnet_ros import resources
from sapnet_ros.backends import BackendOptions, create_backend, unavailable_reason
from sapnet_ros.backends.engine_cache import engine_dir, format_size, parse_size
from sapnet_ros.bench import table, times_ms
from sapnet_ros.errors import SapnetError

VARIANTS = (  # cheapest first, so that a short time budget still covers the most
    "torch:fp32",
    "torch:fp16",
    "onnxruntime:fp32",
    "tensorrt:fp16",
    "tensorrt:fp32",
    "tensorrt:int8",
    "onnxruntime:fp16",
    "onnxruntime:int8",
)
# The speed ladder's smaller rungs: timed on TensorRT (their engines must build too); no stored CPU output to match.
RUNG_VARIANTS = tuple(
    f"{model}/tensorrt:{precision}" for model in resources.MODEL_NAMES[1:] for precision in ("fp16", "int8")
)
ALL_VARIANTS = VARIANTS + RUNG_VARIANTS
SIZES = "640x480,1280x720"
FP32_MAX_ABS = 1e-4
MIN_PSNR_DB = {"fp16": 40.0, "int8": 33.0}
DATA = Path(__file__).resolve().parents[2] / "test" / "data"
SAMPLE_INPUT = DATA / "rain100h_064_rain_input.npz"  # uint8 RGB as OpenCV decodes the shipped JPEG
SAMPLE_REFERENCE = DATA / "rain100h_064_rain.npy"  # the official code's fp32 CPU output for it
NOTE_WIDTH = 100
PACKAGES = ("torch", "onnxruntime", "onnxruntime-gpu", "tensorrt", "tensorrt-cu12", "cuda-python", "numpy")


@dataclass(frozen=True)
class Settings:
    """What one run checks: device, frame sizes (height, width), timed frames, limits in seconds."""

    device: str = "cuda"
    sizes: tuple[tuple[int, int], ...] = ((480, 640), (720, 1280))
    repeats: int = 20
    variant_timeout: float = 240.0
    budget: float = 280.0


def sample() -> tuple[np.ndarray, np.ndarray]:
    """The parity input as float32 (1, 3, H, W) RGB [0, 1] and the reference output in the same layout."""
    rgb = np.load(SAMPLE_INPUT)["rgb"]
    batch = np.ascontiguousarray(rgb.transpose(2, 0, 1)[None], dtype=np.float32) / np.float32(255.0)
    reference = np.load(SAMPLE_REFERENCE).transpose(2, 0, 1)[None]
    return batch, reference


def parity(output: np.ndarray, reference: np.ndarray, precision: str) -> dict[str, Any]:
    """Max |difference| and PSNR of ``output`` against ``reference``, and whether ``precision``'s threshold holds."""
    error = np.abs(output.astype(np.float64) - reference)
    mse = float(np.mean(error**2))
    psnr = math.inf if mse == 0 else 10.0 * math.log10(1.0 / mse)
    passed = float(error.max()) <= FP32_MAX_ABS if precision == "fp32" else psnr >= MIN_PSNR_DB[precision]
    shown = None if math.isinf(psnr) else round(psnr, 2)  # None: identical (JSON has no infinity)
    return {"max_abs": float(error.max()), "psnr_db": shown, "passed": bool(passed)}


def _engine_files() -> set[Path]:
    folder = engine_dir()
    return set(folder.rglob("*")) if folder.is_dir() else set()


def parse_variant(variant: str, device: str) -> tuple[str, BackendOptions]:
    """``[MODEL/]BACKEND:PRECISION`` -> the backend's name and options (model: the full SAPNet if not named)."""
    model, _, rest = variant.rpartition("/")
    backend_name, precision = rest.split(":")
    return backend_name, BackendOptions(model=model or resources.DEFAULT_MODEL, device=device, precision=precision)


def run_variant(variant: str, settings: Settings) -> dict[str, Any]:
    """Load, check and time one variant in this process (the child's job)."""
    backend_name, options = parse_variant(variant, settings.device)
    batch, reference = sample()
    engines = _engine_files()
    started = time.perf_counter()
    with create_backend(backend_name, options) as backend:
        output = backend.infer(batch)
        first_run = time.perf_counter() - started
        full_model = options.model == resources.DEFAULT_MODEL  # the stored reference is the full model's output
        result: dict[str, Any] = {
            "device": backend.info.device,
            "first_run_s": round(first_run, 2),
            "engine_built": bool(_engine_files() - engines),
            "parity": parity(output, reference, options.precision) if full_model else None,
            "timing": {},
        }
        rng = np.random.default_rng(0)
        for height, width in settings.sizes:
            frame = rng.random((1, 3, height, width), dtype=np.float32)
            for _ in range(2):
                backend.infer(frame)  # warm-up: allocations, autotuning, shape changes
            milliseconds = statistics.median(times_ms(functools.partial(backend.infer, frame), settings.repeats))
            result["timing"][format_size((height, width))] = {
                "ms": round(milliseconds, 2),
                "fps": round(1000.0 / milliseconds, 1),
            }
    return result


def _child(variant: str, settings: Settings, timeout: float) -> dict[str, Any]:
    """``run_variant`` in a child process; a crash, error or timeout becomes a failed result."""
    command = [sys.executable, "-m", "sapnet_ros.bench.gpu_check", "--child", variant, "--device", settings.device]
    command += ["--sizes", ",".join(format_size(size) for size in settings.sizes), "--repeats", str(settings.repeats)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return {"status": "failed", "reason": f"no result within {timeout:.0f} s"}
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        last = (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1]
        return {"status": "failed", "reason": last[:300]}
    result: dict[str, Any] = json.loads(lines[-1])
    result["status"] = "passed" if result["parity"] is None or result["parity"]["passed"] else "failed"
    return result


def environment() -> dict[str, Any]:
    """Versions of what the check may use, the GPU as nvidia-smi names it, the host."""
    versions = {}
    for package in PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    try:
        query = "--query-gpu=name,compute_cap,driver_version,memory.total"
        smi = subprocess.run(["nvidia-smi", query, "--format=csv,noheader"], capture_output=True, text=True, timeout=30)
        gpus = [line.strip() for line in smi.stdout.splitlines() if line.strip()]
    except (OSError, subprocess.TimeoutExpired):
        gpus = []
    return {"python": sys.executable, "platform": platform.platform(), "gpus": gpus, "packages": versions}


def check(variants: tuple[str, ...], settings: Settings) -> dict[str, Any]:
    """Every variant's result, in order, within ``settings.budget`` seconds in all."""
    deadline = time.monotonic() + settings.budget
    results = []
    for variant in variants:
        backend_name, options = parse_variant(variant, settings.device)
        try:
            reason = unavailable_reason(backend_name, options)
        except SapnetError as err:
            reason = str(err)
        remaining = deadline - time.monotonic()
        if reason is not None:
            result: dict[str, Any] = {"status": "not testable", "reason": reason}
        elif remaining < 20.0:
            result = {"status": "not testable", "reason": f"time budget of {settings.budget:.0f} s used up"}
        else:
            print(f"gpu_check: {variant} ...", file=sys.stderr, flush=True)
            result = _child(variant, settings, min(settings.variant_timeout, remaining))
        results.append({"variant": variant, **result})
    return {"environment": environment(), "settings": settings.__dict__, "variants": results}


def render(report: dict[str, Any]) -> str:
    """The one table: status, parity, ms/frame and fps per size, first run (engine build), reason."""
    sizes = [format_size((height, width)) for height, width in report["settings"]["sizes"]]
    headers = ["variant", "status", "parity", *[f"{size} ms (fps)" for size in sizes], "first run s", "note"]
    rows = []
    for entry in report["variants"]:
        check_ = entry.get("parity")
        psnr = "identical" if check_ is None or check_["psnr_db"] is None else f"{check_['psnr_db']} dB"
        shown = "-" if check_ is None else f"{check_['max_abs']:.1e} / {psnr}"
        timing = entry.get("timing", {})
        cells = [f"{timing[s]['ms']} ({timing[s]['fps']})" if s in timing else "-" for s in sizes]
        first = (
            f"{entry['first_run_s']}{' (built)' if entry.get('engine_built') else ''}"
            if "first_run_s" in entry
            else "-"
        )
        note = str(entry.get("reason", entry.get("device", "")))
        note = note if len(note) <= NOTE_WIDTH else note[: NOTE_WIDTH - 3] + "..."  # the JSON has all of it
        rows.append([entry["variant"], entry["status"], shown, *cells, first, note])
    return table(headers, rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="gpu_check", description="Parity and speed of every GPU variant (scripts/gpu_check.sh runs this)."
    )
    parser.add_argument("--device", default="cuda", help="cuda, cuda:N (or cpu, to try the check itself)")
    parser.add_argument(
        "--variants", default=",".join(ALL_VARIANTS), help="[MODEL/]BACKEND:PRECISION list (default: all)"
    )
    parser.add_argument("--sizes", default=SIZES, help="timed sizes, WIDTHxHEIGHT (default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=20, help="timed frames per size (default: %(default)s)")
    parser.add_argument("--budget", type=float, default=280.0, help="seconds for all variants (default: %(default)s)")
    parser.add_argument("--json", type=Path, default=None, help="write the report here")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        sizes = tuple(parse_size(text) for text in args.sizes.split(","))
    except ValueError as err:
        parser.exit(2, f"gpu_check: error: {err}\n")
    settings = Settings(args.device, sizes, args.repeats, budget=args.budget)
    if args.child:  # one variant, its result as one JSON line on stdout
        print(json.dumps(run_variant(args.child, settings)))
        return 0
    unknown = [name for name in args.variants.split(",") if name not in ALL_VARIANTS]
    if unknown:
        parser.exit(2, f"gpu_check: error: unknown variants {unknown}; choose from {', '.join(ALL_VARIANTS)}\n")
    report = check(tuple(args.variants.split(",")), settings)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2, default=str, allow_nan=False) + "\n")
    print(render(report))
    statuses = [entry["status"] for entry in report["variants"]]
    print(f"gpu_check: {statuses.count('passed')} passed, {statuses.count('failed')} failed, "
          f"{statuses.count('not testable')} not testable here ({sys.executable})")  # fmt: skip
    if "failed" in statuses:
        return 1
    return 0 if "passed" in statuses else 2


if __name__ == "__main__":
    sys.exit(main())
