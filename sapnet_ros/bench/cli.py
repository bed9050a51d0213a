"""``sapnet-bench``: run the benchmark sections, print their tables, optionally write JSON."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import onnxruntime
import torch

from sapnet_ros import __version__
from sapnet_ros.backends.engine_cache import parse_size
from sapnet_ros.bench import DEFAULT_SIZES, BenchConfig, cpuinfo_text, format_size
from sapnet_ros.cli.arguments import configure_logging
from sapnet_ros.commands import command
from sapnet_ros.errors import SapnetError
from sapnet_ros.io.atomic import check_writable, write_atomic

# name -> module with run(config) -> dict and render(result) -> str
SECTIONS = {
    "backends": "sapnet_ros.bench.backends",
    "fast": "sapnet_ros.bench.fast",
    "plumbing": "sapnet_ros.bench.plumbing",
    "batching": "sapnet_ros.bench.batching",
    "gate": "sapnet_ros.bench.gate",
    "flicker": "sapnet_ros.bench.flicker",
    "generalisation": "sapnet_ros.bench.generalisation",
    "ladder": "sapnet_ros.bench.ladder",
    "soak": "sapnet_ros.bench.soak",
}
ON_REQUEST = ("soak", "ladder")  # minutes long: run only when named in --only


def machine() -> dict[str, Any]:
    """The conditions every figure was measured under."""
    models = (line.split(":", 1)[1].strip() for line in cpuinfo_text().splitlines() if "model name" in line)
    cpu = next(models, platform.processor())
    return {
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "onnxruntime": onnxruntime.__version__,
        "sapnet_ros": __version__,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


QUICK_SIZE = (240, 320)
QUICK_VARIANTS = ("onnxruntime:int8", "onnxruntime:fp32", "tensorrt:fp16")  # PyTorch fp32 (the reference) runs too


def quick_config(config: BenchConfig) -> BenchConfig:
    """``--quick``: the main variants at 320x240, one timed frame after one warm-up, quality on 320x240 photos."""
    return replace(config, sizes=(QUICK_SIZE,), repeats=1, warmup=1, quality_size=QUICK_SIZE, variants=QUICK_VARIANTS)


def _sizes(text: str) -> tuple[tuple[int, int], ...]:
    return tuple(parse_size(part) for part in text.split(","))


@command("sapnet-bench")
def main(argv: list[str] | None = None) -> int:
    names = list(SECTIONS)
    parser = argparse.ArgumentParser(
        prog="sapnet-bench",
        description="Benchmark every available backend and precision in one run: ms/frame, frames/s, "
        "peak memory, speed-up over PyTorch eager fp32 measured in the same run, and quality.",
        epilog="examples:\n  sapnet-bench --quick          # about a minute: the main variants at 320x240\n"
        "  sapnet-bench --json bench.json\n"
        "  sapnet-bench --only backends --sizes 640x480 --repeats 5\n"
        "  sapnet-bench --only soak --minutes 5   # node memory and answers under 2x overload\n"
        f"sections: {', '.join(names)}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    default = BenchConfig()
    default_sections = ",".join(name for name in names if name not in ON_REQUEST)
    parser.add_argument("--only", default=default_sections, help="comma-separated sections (default: all but soak)")
    parser.add_argument(
        "--sizes", type=_sizes, default=DEFAULT_SIZES, help="WIDTHxHEIGHT list (default: 320x240,640x480,1280x720)"
    )
    parser.add_argument("--repeats", type=int, default=default.repeats, help="timed frames (default: %(default)s)")
    parser.add_argument(
        "--warmup", type=int, default=default.warmup, help="untimed frames first (default: %(default)s)"
    )
    parser.add_argument(
        "--threads", type=int, default=default.threads, help="CPU threads per backend; 0 = library default"
    )
    parser.add_argument("--device", default=default.device, help="auto, cpu or cuda[:N] (default: %(default)s)")
    parser.add_argument(
        "--quality-size", type=parse_size, default=default.quality_size, help="paired photos' size (default: 640x480)"
    )
    parser.add_argument(
        "--variants",
        default="",
        help="backend:precision list to measure, e.g. onnxruntime:int8,torch:bf16 (default: all available)",
    )
    parser.add_argument(
        "--minutes", type=float, default=default.minutes, help="soak duration in minutes (default: %(default)s)"
    )
    parser.add_argument("--json", type=Path, default=None, help="write every figure to this JSON file")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a first look in about a minute: section backends only, PyTorch fp32, ONNX Runtime int8 and fp32 "
        "(TensorRT fp16 on a GPU) at 320x240, one timed frame (overrides --sizes, --repeats, --warmup, --variants)",
    )
    parser.add_argument("--verbose", "-v", action="store_true", help="debug logging")
    args = parser.parse_args(argv)
    configure_logging(args.verbose)
    only = "backends" if args.quick and args.only == parser.get_default("only") else args.only
    chosen = [name.strip() for name in only.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in names]
    if unknown or args.repeats < 1 or args.warmup < 0 or args.minutes <= 0:
        problem = (
            f"unknown sections {unknown}; choose from {names}"
            if unknown
            else "--repeats >= 1, --warmup >= 0, --minutes > 0"
        )
        parser.exit(2, f"sapnet-bench: error: {problem}\n")
    variants = tuple(name.strip() for name in args.variants.split(",") if name.strip())
    config = BenchConfig(
        args.sizes, args.repeats, args.warmup, args.threads, args.device, args.quality_size, variants, args.minutes
    )
    if args.quick:
        config = quick_config(config)
    if args.json:
        check_writable(args.json)  # before minutes of measuring
    report: dict[str, Any] = {
        "machine": machine(),
        "config": {
            **config.__dict__,
            "sizes": [format_size(size) for size in config.sizes],
            "quality_size": format_size(config.quality_size),
        },
        "sections": {},
    }
    for name in chosen:
        section = importlib.import_module(SECTIONS[name])
        try:
            result = section.run(config)
        except SapnetError as err:
            parser.exit(2, f"sapnet-bench: error in section {name}: {err}\n")
        report["sections"][name] = result
        print(f"\n## {name}\n\n{section.render(result)}", flush=True)
    report["machine"]["load_average_1min_end"] = round(os.getloadavg()[0], 2)
    if args.json:
        write_atomic(args.json, (json.dumps(report, indent=2) + "\n").encode())
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
