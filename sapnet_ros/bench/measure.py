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
from sapnet_ros.commands import quiet_worker, stop_workers
from sapnet_ros.derainer import Derainer, FrameTiming, open_derainer
from sapnet_ros.model.fidelity import Inputs, quality_inputs, sample_photo
from sapnet_ros.resources import DEFAULT_MODEL
from sapnet_ros.settings import DerainSettings
from sapnet_ros.synthesis.rain import HEAVY, add_rain, clean_photo


@dataclass(frozen=True)
class Variant:
    """One way to run the network: backend, precision, device, fast-mode scale, ladder rung, optional model file."""

    backend: str
    precision: str
    device: str = "cpu"
    fast_scale: float = 1.0
    onnx: str | None = None
    model: str = DEFAULT_MODEL

    @property
    def label(self) -> str:
        label = (
            f"{self.backend} {self.precision}"
            if self.model == DEFAULT_MODEL
            else f"{self.model} {self.backend} {self.precision}"
        )
        if self.device != "cpu":
            label += f" ({self.device})"
        if self.fast_scale < 1.0:
            label += f" fast x{self.fast_scale:g}"
        return label

    def options(self, threads: int = 0) -> BackendOptions:
        onnx = Path(self.onnx) if self.onnx else None
        return BackendOptions(
            onnx=onnx, precision=self.precision, device=self.device, threads=threads, model=self.model
        )

    def settings(self, threads: int = 0) -> DerainSettings:
        return DerainSettings(self.backend, self.options(threads), fast_scale=self.fast_scale)


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


def sample_frame(width: int, height: int) -> np.ndarray:
    """The official sample as uint8 (height, width, 3) BGR, a camera frame for the node benchmarks."""
    return cv2.resize(sample_photo(), (width, height), interpolation=cv2.INTER_CUBIC)


def given_or_opened(derainer: Derainer | None, settings: DerainSettings | None) -> AbstractContextManager[Derainer]:
    """``derainer`` as it is (its owner closes it), else one opened from ``settings`` that closes after the block."""
    return nullcontext(derainer) if derainer is not None else open_derainer(settings)


def derain_timings(derainer: Derainer, frame: np.ndarray, repeats: int) -> tuple[np.ndarray, list[FrameTiming]]:
    """The Derainer's own timing of ``repeats`` runs on BGR ``frame``, after a warm-up run, and its output."""
    derained = derainer.run(frame, "bgr")  # warm-up: the first run at a new size allocates
    timings = [derainer.run_batch([frame], "bgr").timing for _ in range(repeats)]
    return derained, timings


def measure_here(variant: Variant, config: BenchConfig, inputs: Inputs | None = None) -> Measurement:
    """Time ``variant`` at every size, then derain the quality inputs (in this process).

    ``inputs``: ``quality_inputs(config.quality_size)`` if the caller has them already (they take a while).
    """
    if inputs is None:
        inputs = quality_inputs(config.quality_size)
    with open_derainer(variant.settings(config.threads)) as derainer:
        timings = tuple(time_frames(derainer, size, config.repeats, config.warmup) for size in sorted(config.sizes))
        outputs = tuple(derainer.run(rainy) for _, rainy, _ in inputs)
    return Measurement(timings, outputs)


def measure_fresh(variant: Variant, config: BenchConfig, inputs: Inputs | None = None) -> Measurement:
    """``measure_here`` in a fresh (spawned) process, on ``inputs`` (default: ``quality_inputs``)."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context, initializer=quiet_worker) as pool:
        try:
            measurement: Measurement = pool.submit(measure_here, variant, config, inputs).result()
        except KeyboardInterrupt:
            stop_workers()  # not wait for the measurement under way
            raise
    return measurement


@functools.cache
def measure(variant: Variant, config: BenchConfig) -> Measurement:
    """``measure_fresh`` on the quality inputs; remembered, so sections share it within one run."""
    return measure_fresh(variant, config)
