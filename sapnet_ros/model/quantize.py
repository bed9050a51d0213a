"""Static int8 quantization of SAPNet's fused graph, with its quality measured; ``sapnet-quantize``.

The int8 model is the fused graph (``graph.py``) with explicit QuantizeLinear/
DequantizeLinear pairs (QDQ), calibrated with MinMax ranges over rainy images:
per-channel symmetric int8 weights, uint8 activations for the CPU (ONNX
Runtime fuses DQ -> Conv -> Q into NHWC ``QLinearConv`` and keeps activations
in 8 bits through the convolutions, channel-attention scales and skip sums),
or symmetric int8 activations for TensorRT, which requires them.

Kept in float, because measurements said so (README, performance):

- the image-facing layers: ``conv0`` reads the image and the previous
  estimate, ``conv_out`` writes the estimate; quantizing them costs ~7 dB of
  fidelity to the fp32 output and keeping them costs ~8 % of the speed;
- the ConvLSTM nonlinearities and cell state, which accumulates over stages;
- the CRA's 1x1 layers on (B, 32, 1, 1) pooled vectors: no work to save.

Calibration images are rainy versions of scikit-image photos (the evaluation
photos are held out) plus the shipped rainy samples, or a folder of the
user's own frames. The quality gate (``artifacts.quality_holds``) is measured
when the model is made and stored in its metadata, so ``--precision auto`` can
pick int8 only where it was shown to keep the official network's quality.

``--qat-steps N`` first fine-tunes the graph's weights under int8 rounding
(``qat.py``) and then calibrates and quantizes the result; the quality figures
are still measured against the fp32 graph of the weights as given.

For TensorRT (``symmetric``) every zero point is 0 and biases stay float:
TensorRT's Q/DQ importer rejects asymmetric quantization and DequantizeLinear
nodes that read anything but int8 (onnx-tensorrt#850).
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import numpy as np
import onnx
from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_static

from sapnet_ros import resources
from sapnet_ros.commands import command
from sapnet_ros.errors import SapnetError
from sapnet_ros.frames import to_network
from sapnet_ros.io.atomic import atomic_path
from sapnet_ros.io.images import collect_images, read_image
from sapnet_ros.model.artifacts import (
    DEFAULT_INT8,
    DEFAULT_INT8_SYMMETRIC,
    cached_int8_path,
    int8_model_path,
    metadata_of,
    quality_holds,
    weights_sha256,
)
from sapnet_ros.model.export import INPUT_NAME, save_onnx
from sapnet_ros.model.fidelity import compare_models, set_fidelity
from sapnet_ros.model.graph import build_graph
from sapnet_ros.model.qat import QAT, finetune
from sapnet_ros.model.weights import read_weights
from sapnet_ros.synthesis import physical, sets
from sapnet_ros.synthesis.photos import load_photo
from sapnet_ros.synthesis.rain import STYLES, add_rain, styled

LOG = logging.getLogger(__name__)

CALIBRATION_IMAGES = 24
CALIBRATION_SIZE = (192, 256)  # (height, width): ranges depend on content, not on size
KEEP_FLOAT = re.compile(
    r"/(conv0|conv0_relu|cat_input|conv_out|estimate)$"  # image-facing layers
    r"|/(gate_[ifgo]|cell_in|cell_keep|cell|cell_tanh|hidden)$"  # ConvLSTM cell path
    r"|/cra\d/(du1|du_relu|du2|direct|logits|sigmoid)$"  # CRA on pooled vectors
    r"|^clamp$"
)


SET_FRAMES = 6  # frames per evaluation set that sapnet-quantize measures (``artifacts.sets_hold``)


class _Batches(CalibrationDataReader):
    """Feeds calibration batches to ONNX Runtime's calibrator one at a time."""

    def __init__(self, batches: list[np.ndarray]) -> None:
        self._batches: Iterator[np.ndarray] = iter(batches)

    def get_next(self) -> dict[str, np.ndarray] | None:
        batch = next(self._batches, None)
        return None if batch is None else {INPUT_NAME: batch}


def _random_crop(photo_name: str, rng: np.random.Generator) -> np.ndarray:
    """A CALIBRATION_SIZE crop of a training photo at a random place, covering 40-100 % of it."""
    place = (float(rng.uniform(0.2, 0.8)), float(rng.uniform(0.2, 0.8)), float(rng.uniform(0.4, 1.0)))
    return sets.crop(load_photo(photo_name), *place, CALIBRATION_SIZE)


def synthesized_batches(count: int, seed: int = 0) -> list[np.ndarray]:
    """``count`` rainy crops of the training photos plus the shipped rainy samples.

    Every other crop gets the project's rain (random density, angle, brightness), the others one of the
    physical model's training styles (jittered): evaluation photos and styles stay unseen
    (``synthesis/sets.py``), so ``set_fidelity`` scores the calibration on what it never saw.

    Returns:
        float32 (1, 3, H, W) RGB [0, 1] batches.
    """
    rng = np.random.default_rng(seed)
    batches = []
    for index in range(count):
        crop = _random_crop(sets.TRAIN_PHOTOS[int(rng.integers(len(sets.TRAIN_PHOTOS)))], rng)
        if index % 2:
            style_name = sets.TRAIN_PHYSICAL[(index // 2) % len(sets.TRAIN_PHYSICAL)]
            rainy = physical.render(crop, sets.jittered(style_name, rng), seed + index)
        else:
            style = styled(
                list(STYLES)[(index // 2) % len(STYLES)],
                density=float(rng.uniform(0.002, 0.012)),
                angle=float(rng.uniform(-25, 25)),
                brightness=float(rng.uniform(0.4, 0.95)),
            )
            rainy = add_rain(crop, style, seed=seed + index)
        batches.append(to_network(rainy)[None])
    for path in resources.sample_images():
        batches.append(to_network(read_image(path), "bgr")[None])
    return batches


def folder_batches(folder: Path, count: int) -> list[np.ndarray]:
    """Up to ``count`` images from ``folder`` (recursively), as float32 (1, 3, H, W) RGB [0, 1] batches."""
    paths = collect_images([folder])
    if not paths:
        raise SapnetError(f"{folder}: no PNG/JPEG images to calibrate on")
    step = max(1, len(paths) // count)
    return [to_network(read_image(path), "bgr")[None] for path in paths[::step][:count]]


def calibration_batches(calib_dir: Path | None, images: int) -> list[np.ndarray]:
    """``images`` frames of ``calib_dir``, or synthesized rain on the training photos where it is None."""
    return folder_batches(calib_dir, images) if calib_dir else synthesized_batches(images)


def quantize_model(onnx_path: Path, output: Path, batches: list[np.ndarray], symmetric: bool = False) -> Path:
    """Quantize ``onnx_path`` to a QDQ int8 model at ``output`` (written atomically).

    Args:
        onnx_path: float32 SAPNet graph; nodes named as ``graph.py`` names them
            are kept in float per KEEP_FLOAT, other graphs are quantized whole.
        output: where to write the quantized model.
        batches: calibration frames (``calibration_batches``).
        symmetric: int8 activations with zero point 0 (TensorRT) instead of uint8.
    """
    model = onnx.load(str(onnx_path))
    keep = [node.name for node in model.graph.node if KEEP_FLOAT.search(node.name)]
    LOG.info("calibrating on %d images; %d of %d nodes kept in float", len(batches), len(keep), len(model.graph.node))
    with atomic_path(output) as temporary:
        quantize_static(
            str(onnx_path),
            str(temporary),
            _Batches(batches),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QInt8 if symmetric else QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            nodes_to_exclude=keep,
            calibrate_method=CalibrationMethod.MinMax,
            # TensorRT's Q/DQ importer takes int8 DequantizeLinear inputs only (onnx-tensorrt#850): its biases stay
            # float and TensorRT fuses them itself; ONNX Runtime's QLinearConv on the CPU wants them int32.
            extra_options={"ActivationSymmetric": symmetric, "WeightSymmetric": True, "QuantizeBias": not symmetric},
        )
    return output


def symmetric_int8_model(weights_path: Path | None = None) -> Path:
    """The TensorRT int8 model for these weights, quantized once into the cache if none exists."""
    found = int8_model_path(weights_path, symmetric=True)
    if found is not None:
        return found[0]
    target = cached_int8_path(weights_sha256(weights_path), symmetric=True)
    LOG.warning("no symmetric int8 model for these weights: quantizing into %s (minutes, once)", target)
    make_int8(target, weights_path, symmetric=True)
    return target


def make_int8(
    output: Path,
    weights_path: Path | None = None,
    calib_dir: Path | None = None,
    images: int = CALIBRATION_IMAGES,
    symmetric: bool = False,
    qat: QAT | None = None,
) -> dict[str, str]:
    """Build the fused graph for the weights, quantize it, measure its quality, store all of it in ``output``.

    With ``qat``, the graph's weights are first fine-tuned under int8 rounding
    (``qat.py``) on the calibration frames, then calibrated and quantized again;
    quality is always measured against the fp32 graph of the weights as given.

    Returns:
        The metadata written, quality figures included.
    """
    weights = read_weights(weights_path)
    started = time.monotonic()
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:  # ``output`` appears only once its quality is stored in it
        fused, quantized = Path(scratch) / "fused.onnx", Path(scratch) / "int8.onnx"
        onnx.save(build_graph(weights), str(fused))
        batches = calibration_batches(calib_dir, images)
        quantize_model(fused, quantized, batches, symmetric)
        if qat is not None:
            tuned = Path(scratch) / "tuned.onnx"
            onnx.save(finetune(onnx.load(str(fused)), onnx.load(str(quantized)), batches, qat), str(tuned))
            quantize_model(tuned, quantized, batches, symmetric)
        LOG.info("quantized in %.0f s; measuring quality against the fp32 graph", time.monotonic() - started)
        quality = compare_models(fused, quantized)
        LOG.info("measuring quality on the evaluation sets (%d frames each)", SET_FRAMES)
        per_set = set_fidelity(fused, quantized, sets.evaluation_sets(with_real=False), SET_FRAMES)
        model = onnx.load(str(quantized))
    metadata = {
        "precision": "int8",
        "quantization": "QDQ, per-channel symmetric int8 weights, "
        + ("symmetric int8" if symmetric else "uint8")
        + " activations, MinMax",
        "calibration": f"{images} images from {calib_dir}"
        if calib_dir
        else f"{images} synthesized rainy photos + samples",
        "kept_float": KEEP_FLOAT.pattern,
        **({"qat": json.dumps(asdict(qat))} if qat is not None else {}),
        **{f"quality_{key}": f"{value:.3f}" for key, value in quality.items()},
        "quality_sets": json.dumps([result.as_dict() for result in per_set]),
    }
    save_onnx(model, output, {**metadata_of(model), **metadata})
    return metadata


@command("sapnet-quantize")
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="sapnet-quantize",
        description="Make the int8 SAPNet model for fast CPU inference (and TensorRT int8), "
        "calibrated on rainy images, with its quality measured and stored in the file.",
        epilog="examples:\n  sapnet-quantize --output models/sapnet_int8.onnx\n"
        "  sapnet-quantize --weights my.safetensors --calib my_rainy_frames/ --output my_int8.onnx",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help=f"default: models/{DEFAULT_INT8}, with --symmetric models/{DEFAULT_INT8_SYMMETRIC}",
    )
    parser.add_argument("--weights", type=Path, default=None, help="weights file (default: the shipped ones)")
    parser.add_argument("--calib", type=Path, default=None, help="folder of rainy images (default: synthesized)")
    parser.add_argument(
        "--images", type=int, default=CALIBRATION_IMAGES, help="calibration images (default: %(default)s)"
    )
    parser.add_argument("--symmetric", action="store_true", help="int8 activations with zero point 0 (TensorRT)")
    parser.add_argument(
        "--qat-steps",
        type=int,
        default=0,
        help="fine-tune the weights under int8 rounding for this many steps first (0: calibrate only)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the fine-tuning crops (default: %(default)s)")
    args = parser.parse_args(argv)
    if args.qat_steps < 0:
        parser.error(f"--qat-steps must be 0 or more, got {args.qat_steps}")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.output is None:
        args.output = resources.models_dir() / (DEFAULT_INT8_SYMMETRIC if args.symmetric else DEFAULT_INT8)
    try:
        qat = QAT(steps=args.qat_steps, seed=args.seed) if args.qat_steps else None
        metadata = make_int8(args.output, args.weights, args.calib, args.images, args.symmetric, qat)
    except (SapnetError, ValueError) as err:
        parser.exit(2, f"sapnet-quantize: error: {err}\n")
    quality = {key: value for key, value in metadata.items() if key.startswith("quality_") and key != "quality_sets"}
    verdict = "passes" if quality_holds(metadata) else "FAILS"
    print(f"wrote {args.output}; {json.dumps(quality)}; quality gate {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
