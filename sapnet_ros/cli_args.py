"""Command-line options shared by every tool that derains (derain, bench, evaluation)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from sapnet_ros.backends import BACKENDS, PRECISIONS, BackendOptions
from sapnet_ros.rain_estimator import RainEstimator
from sapnet_ros.rain_gate import RainGate


def add_backend_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--backend --weights --onnx --precision --device --threads --max-side --rain-gate``."""
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
    group.add_argument("--precision", default="fp32", choices=PRECISIONS, help="default: %(default)s")
    group.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default: %(default)s)")
    group.add_argument("--threads", type=int, default=0, help="CPU threads; 0 = library default")
    group.add_argument(
        "--max-side",
        type=int,
        default=0,
        help="derain at most at this longer side and resize back; 0 = native (default)",
    )
    group.add_argument(
        "--rain-gate",
        action="store_true",
        help="derain only frames the rain estimator finds rainy; dry frames pass through untouched",
    )


def backend_options(args: argparse.Namespace) -> BackendOptions:
    return BackendOptions(
        weights=args.weights, onnx=args.onnx, precision=args.precision, device=args.device, threads=args.threads
    )


def rain_gate(args: argparse.Namespace) -> RainGate | None:
    """The rain gate ``--rain-gate`` asks for (shipped estimator, default settings), else None."""
    return RainGate(RainEstimator()) if args.rain_gate else None


def configure_logging(verbose: bool = False) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("onnx_ir").setLevel(logging.WARNING)  # one INFO line per folded initializer when exporting
