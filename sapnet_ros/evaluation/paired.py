"""``sapnet-evaluate``: PSNR and SSIM of any backend's output on a paired folder.

The way to compare a trained model with the shipped one: every pair is
derained through the same ``Derainer`` the node uses, then compared with its
clean image on RGB and on BT.601 luma (Y), as deraining papers report. One CSV
row per image (with the rainy input's figures for reference), then the mean.

With ``--weights`` the shipped weights are evaluated too, on the backend and
at the precision the given weights ran at (``--precision auto`` would pick int8
for the shipped weights, whose quantized model ships, and fp32 for freshly
trained ones), so the two means differ only by the weights.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from dataclasses import dataclass, replace
from pathlib import Path

from tqdm import tqdm

from sapnet_ros.backends import BackendInfo
from sapnet_ros.cli.arguments import add_derain_arguments, configure_logging, derain_settings
from sapnet_ros.commands import command
from sapnet_ros.derainer import Derainer, open_derainer
from sapnet_ros.errors import SapnetError
from sapnet_ros.io.atomic import check_writable, write_atomic
from sapnet_ros.metrics import QUALITY_FIELDS, Quality, image_qualities, mean_quality
from sapnet_ros.settings import DerainSettings
from sapnet_ros.training.data import Pair, load_pairs, read_pair
from sapnet_ros.training.monitor import quality_text


@dataclass(frozen=True)
class PairResult:
    """One pair's figures: derained vs clean, rainy vs clean, and the frame time."""

    name: str
    derained: Quality
    rainy: Quality
    ms: float


def evaluate_pairs(derainer: Derainer, pairs: list[Pair], progress: bool = False) -> list[PairResult]:
    """Derain each pair's rainy image and compare it (and the rainy image) with the clean one."""
    results = []
    for pair in tqdm(pairs, unit="img", file=sys.stderr, disable=not progress):
        rainy, clean = read_pair(pair)  # as stored: BGR(A) or grey, uint8/uint16
        derained = derainer.run_batch([rainy], "bgr", [pair.name])
        derained_quality, rainy_quality = image_qualities([derained.images[0], rainy], clean, "bgr")
        results.append(PairResult(pair.name, derained_quality, rainy_quality, derained.timing.total_ms))
    return results


def to_csv(results: list[PairResult]) -> str:
    """Per-image rows and a final ``mean`` row; PSNR in dB."""
    stream = io.StringIO()
    writer = csv.writer(stream)
    writer.writerow(["name", *QUALITY_FIELDS, *(f"input_{m}" for m in QUALITY_FIELDS), "ms"])
    rows = [(r.name, r.derained, r.rainy, r.ms) for r in results]
    mean_ms = sum(r.ms for r in results) / len(results)
    rows.append(
        ("mean", mean_quality([r.derained for r in results]), mean_quality([r.rainy for r in results]), mean_ms)
    )
    for name, derained, rainy, ms in rows:
        values = [getattr(derained, m) for m in QUALITY_FIELDS] + [getattr(rainy, m) for m in QUALITY_FIELDS]
        writer.writerow([name, *(f"{v:.4f}" for v in values), f"{ms:.1f}"])
    return stream.getvalue()


def summary(results: list[PairResult]) -> str:
    """Two lines: the mean figures of the derained images and of the rainy inputs."""
    lines = []
    for label, quality in (
        ("derained", mean_quality([r.derained for r in results])),
        ("rainy input", mean_quality([r.rainy for r in results])),
    ):
        lines.append(f"  {label:<11}  {quality_text(quality)}")
    return "\n".join(lines)


def shipped_alike(settings: DerainSettings, info: BackendInfo) -> DerainSettings:
    """``settings`` with the shipped weights, on the backend and at the precision ``info`` says were used."""
    options = replace(settings.options, weights=None, onnx=None, engine=None, precision=info.precision)
    return replace(settings, backend=info.name, options=options)


@command("sapnet-evaluate")
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="sapnet-evaluate",
        description="PSNR/SSIM (RGB and Y) of SAPNet on a paired rainy/clean folder, with any backend.",
        epilog="examples:\n"
        "  sapnet-evaluate --data Rain100H/                      # the shipped weights\n"
        "  sapnet-evaluate --data pairs/val --weights runs/sapnet/export/sapnet.safetensors\n"
        "  sapnet-evaluate --data pairs/val --backend onnxruntime --onnx runs/sapnet/export/sapnet.onnx",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--data", type=Path, required=True, help="paired folder (input/+target/, rainy/+norain/, ...)")
    parser.add_argument("--csv", type=Path, help="per-image results (default: evaluation-<model sha256>.csv)")
    parser.add_argument("--verbose", "-v", action="store_true", help="debug logging")
    add_derain_arguments(parser)
    args = parser.parse_args(argv)
    configure_logging(args.verbose)
    settings = derain_settings(parser, args)
    try:
        pairs = load_pairs(args.data)
        if args.csv is not None:
            check_writable(args.csv)
        with open_derainer(settings) as derainer:
            results = evaluate_pairs(derainer, pairs, progress=len(pairs) > 1)
            info = derainer.backend.info
        baseline = None
        if settings.options.weights is not None:
            with open_derainer(shipped_alike(settings, info)) as derainer:
                baseline = evaluate_pairs(derainer, pairs, progress=len(pairs) > 1)
                baseline_info = derainer.backend.info
    except SapnetError as err:
        parser.exit(2, f"sapnet-evaluate: error: {err}\n")
    output = args.csv or Path(f"evaluation-{info.model_sha256[:12]}.csv")
    write_atomic(output, to_csv(results).encode())
    print(
        f"sapnet-evaluate: {len(results)} pairs of {args.data}, backend {info.name} ({info.device}, {info.precision}), "
        f"model sha256 {info.model_sha256[:12]}\n{summary(results)}\n  per image: {output}"
    )
    if baseline is not None and baseline_info.model_sha256 != info.model_sha256:
        gain = (
            mean_quality([r.derained for r in results]).psnr_rgb - mean_quality([r.derained for r in baseline]).psnr_rgb
        )
        print(
            f"  shipped      {quality_text(mean_quality([r.derained for r in baseline]))} "
            f"(same backend and precision)\n  --weights is {gain:+.2f} dB PSNR (RGB) against the shipped weights"
        )
    return 0
