"""Command-line options shared by every tool that derains (derain, bench, evaluation)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from sapnet_ros.backends import BACKENDS, OUTSIDE_PROFILE, PRECISION_CHOICES, BackendOptions
from sapnet_ros.gate.estimator import RainEstimator
from sapnet_ros.gate.rain_gate import RainGate


def fraction(text: str) -> float:
    """An argparse type: a number in (0, 1]."""
    value = float(text)
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text!r} is not in (0, 1]")
    return value


def add_backend_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the inference options: backend, model files, precision, device, sizes, TensorRT and rain gate."""
    group = parser.add_argument_group("inference")
    group.add_argument(
        "--backend",
        default="auto",
        choices=["auto", *BACKENDS],
        help="inference backend; auto picks the fastest one available (default: %(default)s)",
    )
    group.add_argument(
        "--weights",
        type=Path,
        default=None,
        help="SAPNet weights, .safetensors or official .pth (default: the shipped weights)",
    )
    group.add_argument(
        "--onnx", type=Path, default=None, help="ONNX model for onnxruntime (default: exported from --weights)"
    )
    group.add_argument(
        "--engine",
        type=Path,
        default=None,
        help="TensorRT engine from sapnet-build-engine (default: built once per GPU into the cache)",
    )
    group.add_argument(
        "--precision",
        default="auto",
        choices=PRECISION_CHOICES,
        help="auto = the backend's fastest precision whose measured quality holds, e.g. int8 on the CPU "
        "(default: %(default)s)",
    )
    group.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default: %(default)s)")
    group.add_argument("--threads", type=int, default=0, help="CPU threads; 0 = library default")
    group.add_argument(
        "--max-side",
        type=int,
        default=0,
        help="derain at most at this longer side and resize back; 0 = native (default)",
    )
    group.add_argument(
        "--fast-scale",
        type=fraction,
        default=1.0,
        help="fast mode below 1: find the rain at this scale and remove it at full resolution (default: 1)",
    )
    group.add_argument(
        "--cuda-graph", action="store_true", help="TensorRT: replay one CUDA graph per frame (fixed camera size)"
    )
    group.add_argument(
        "--outside-profile",
        default="error",
        choices=OUTSIDE_PROFILE,
        help="TensorRT, frames outside the engine's size range: error or resize (default: %(default)s)",
    )
    group.add_argument(
        "--rain-gate",
        action="store_true",
        help="derain only frames the rain estimator finds rainy; dry frames pass through untouched",
    )


def backend_options(args: argparse.Namespace) -> BackendOptions:
    return BackendOptions(
        weights=args.weights,
        onnx=args.onnx,
        engine=args.engine,
        precision=args.precision,
        device=args.device,
        threads=args.threads,
        outside_profile=args.outside_profile,
        cuda_graph=args.cuda_graph,
    )


def rain_gate(args: argparse.Namespace) -> RainGate | None:
    """The rain gate ``--rain-gate`` asks for (shipped estimator, default settings), else None."""
    return RainGate(RainEstimator()) if args.rain_gate else None


def configure_logging(verbose: bool = False) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("onnx_ir").setLevel(logging.WARNING)  # one INFO line per folded initializer when exporting
