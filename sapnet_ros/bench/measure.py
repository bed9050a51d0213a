"""Speed and quality of one backend/precision, each variant measured in a fresh process.

A fresh process per variant keeps one runtime's thread pools and arenas from
slowing the next and makes its peak memory its own: sizes are measured in
ascending order, so the process's peak RSS after each size is that size's
peak. Every frame goes through ``Derainer.run``: the figures are what a user
gets, colour conversion included.
"""

from __future__ import annotations

import functools
import multiprocessing
import resource
from concurrent.futures import ProcessPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from sapnet_ros.backends import BackendOptions
from sapnet_ros.bench import BenchConfig, Size, format_size, times_ms
from sapnet_ros.derainer import Derainer, FrameTiming, open_derainer
from sapnet_ros.images import read_image
from sapnet_ros.metrics import image_quality
from sapnet_ros.resources import sample_images
from sapnet_ros.synth import HEAVY, add_rain, clean_photo, photo_pairs

SAMPLE = "rain100h_064_rain.jpg"  # the official Rain100H sample (no clean version ships)
Inputs = list[tuple[str, np.ndarray, np.ndarray | None]]  # (label, rainy, clean or None), uint8 RGB


@dataclass(frozen=True)
class Variant:
    """One way to run the network: backend, precision, device, fast-mode scale, optional model file."""

    backend: str
    precision: str
    device: str = "cpu"
    fast_scale: float = 1.0
    onnx: str | None = None

    @property
    def label(self) -> str:
        label = f"{self.backend} {self.precision}"
        if self.device != "cpu":
            label += f" ({self.device})"
        if self.fast_scale < 1.0:
            label += f" fast x{self.fast_scale:g}"
        return label

    def options(self, threads: int = 0) -> BackendOptions:
        onnx = Path(self.onnx) if self.onnx else None
        return BackendOptions(onnx=onnx, precision=self.precision, device=self.device, threads=threads)


@dataclass(frozen=True)
class Timing:
    """Per-frame wall time of ``Derainer.run`` at one size."""

    size: str
    median_ms: float
    min_ms: float
    fps: float
    peak_rss_mib: float
    frames: int


@dataclass(frozen=True)
class Measurement:
    """A variant's timings (ascending sizes) and its outputs on ``quality_inputs``."""

    timings: tuple[Timing, ...]
    outputs: tuple[np.ndarray, ...]


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux reports KiB


def rainy_frame(size: Size) -> np.ndarray:
    """The benchmark frame: heavy synthesized rain on a photo, uint8 (H, W, 3) RGB."""
    return add_rain(clean_photo("coffee", *size), HEAVY, seed=5)


def time_frames(derainer: Derainer, size: Size, repeats: int, warmup: int) -> Timing:
    """Median and best ms/frame over ``repeats`` frames after ``warmup`` frames."""
    frame = rainy_frame(size)
    for _ in range(warmup):
        derainer.run(frame)
    times = times_ms(lambda: derainer.run(frame), repeats)
    median = float(np.median(times))
    fps = round(1e3 / median, 2)
    return Timing(format_size(size), round(median, 1), round(min(times), 1), fps, round(_peak_rss_mib(), 1), repeats)


def sample_photo() -> np.ndarray:
    """The official sample (``SAMPLE``) as stored: uint8 (H, W, 3) BGR."""
    return read_image(next(path for path in sample_images() if path.name == SAMPLE))


def sample_frame(width: int, height: int) -> np.ndarray:
    """The official sample as uint8 (height, width, 3) BGR, a camera frame for the node benchmarks."""
    return cv2.resize(sample_photo(), (width, height), interpolation=cv2.INTER_CUBIC)


def given_or_opened(
    derainer: Derainer | None, backend: str, options: BackendOptions | None
) -> AbstractContextManager[Derainer]:
    """``derainer`` as it is (its owner closes it), else a Derainer on ``backend`` that closes after the block."""
    return nullcontext(derainer) if derainer is not None else open_derainer(backend, options)


def derain_timings(derainer: Derainer, frame: np.ndarray, repeats: int) -> tuple[np.ndarray, list[FrameTiming]]:
    """The Derainer's own timing of ``repeats`` runs on BGR ``frame``, after a warm-up run, and its output."""
    derained = derainer.run(frame, "bgr")  # warm-up: the first run at a new size allocates
    timings = []
    for _ in range(repeats):
        derainer.run(frame, "bgr")
        timings.append(derainer.last_timing)
    return derained, timings


def quality_inputs(size: Size) -> Inputs:
    """The evaluation photo pairs and the official sample (no clean version), all at ``size``."""
    inputs: Inputs = list(photo_pairs(*size))
    sample = sample_photo()[:, :, ::-1]
    inputs.append(("sample", cv2.resize(sample, (size[1], size[0]), interpolation=cv2.INTER_AREA), None))
    return inputs


def measure_here(variant: Variant, config: BenchConfig, inputs: Inputs | None = None) -> Measurement:
    """Time ``variant`` at every size, then derain the quality inputs (in this process).

    ``inputs``: ``quality_inputs(config.quality_size)`` if the caller has them already (they take a while).
    """
    options = variant.options(config.threads)
    if inputs is None:
        inputs = quality_inputs(config.quality_size)
    with open_derainer(variant.backend, options, fast_scale=variant.fast_scale) as derainer:
        timings = tuple(time_frames(derainer, size, config.repeats, config.warmup) for size in sorted(config.sizes))
        outputs = tuple(derainer.run(rainy) for _, rainy, _ in inputs)
    return Measurement(timings, outputs)


@functools.cache
def measure(variant: Variant, config: BenchConfig) -> Measurement:
    """``measure_here`` in a fresh (spawned) process; remembered, so sections share it within one run."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        measurement: Measurement = pool.submit(measure_here, variant, config).result()
    return measurement


def compare(outputs: tuple[np.ndarray, ...], reference: tuple[np.ndarray, ...], inputs: Inputs) -> dict[str, float]:
    """Quality of ``outputs`` against the fp32 reference outputs and against the clean photos.

    Returns:
        ``psnr_vs_fp32_db`` / ``ssim_vs_fp32`` (worst over the photo pairs),
        ``sample_psnr_vs_fp32_db`` (the official sample), ``psnr_gt_db`` /
        ``ssim_gt`` (means over the pairs) and ``gt_loss_db`` (the fp32
        reference's mean PSNR against the clean photos minus ours; > 0 is worse).
    """
    versus_fp32 = [image_quality(out, ref) for out, ref in zip(outputs, reference, strict=True)]
    paired = [index for index, (_, _, clean) in enumerate(inputs) if clean is not None]
    ours = [image_quality(outputs[index], inputs[index][2]) for index in paired]  # type: ignore[arg-type]
    theirs = [image_quality(reference[index], inputs[index][2]) for index in paired]  # type: ignore[arg-type]
    sample = next(index for index, (label, _, _) in enumerate(inputs) if label == "sample")
    return {
        "psnr_vs_fp32_db": round(min(versus_fp32[index].psnr_rgb for index in paired), 2),
        "ssim_vs_fp32": round(min(versus_fp32[index].ssim_rgb for index in paired), 5),
        "sample_psnr_vs_fp32_db": round(versus_fp32[sample].psnr_rgb, 2),
        "psnr_gt_db": round(float(np.mean([q.psnr_rgb for q in ours])), 3),
        "ssim_gt": round(float(np.mean([q.ssim_rgb for q in ours])), 5),
        "gt_loss_db": round(float(np.mean([t.psnr_rgb - o.psnr_rgb for t, o in zip(theirs, ours, strict=True)])), 3),
    }


def compare_models(reference_onnx: Path, candidate_onnx: Path, size: Size = (240, 320)) -> dict[str, float]:
    """Quality of an int8 ONNX model against its fp32 graph, both on ONNX Runtime (CPU), in this process."""
    config = BenchConfig(sizes=(), quality_size=size)
    inputs = quality_inputs(size)
    reference = measure_here(Variant("onnxruntime", "fp32", onnx=str(reference_onnx)), config, inputs).outputs
    candidate = measure_here(Variant("onnxruntime", "int8", onnx=str(candidate_onnx)), config, inputs).outputs
    return compare(candidate, reference, inputs)
