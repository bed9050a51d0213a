"""The one frame path shared by the node, the CLI, the bag evaluation and the benchmark.

    array (H, W[, C]) uint8/uint16, named colour order
      -> network batch: float32 (B, 3, H, W) RGB [0, 1]
      -> backend.infer
      -> array of the input's shape, dtype and colour order

``Derainer`` owns everything common to those consumers: grey and alpha
handling, 16-bit scaling, the processing-size policy and timing. Nothing else
calls a backend directly.

With a ``RainGate`` (optional) each frame is first scored for rain; frames of
a stream whose gate is closed pass through untouched and skip inference, and
frames in a cross-fade are mixed with their derained version.
"""

from __future__ import annotations

import time
from collections.abc import Hashable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace

import numpy as np

from sapnet_ros.backends import Backend, create_backend
from sapnet_ros.errors import ImageFormatError
from sapnet_ros.frames import COLOR_ORDERS, ColorOrder, blend, check_image, from_network, resize_chw, to_network
from sapnet_ros.gate.estimator import RainEstimator
from sapnet_ros.gate.rain_gate import GateDecision, RainGate
from sapnet_ros.settings import DerainSettings


@dataclass(frozen=True)
class FrameTiming:
    """Milliseconds spent on one ``run``/``run_batch`` call, by step."""

    preprocess_ms: float
    inference_ms: float
    postprocess_ms: float
    gate_ms: float = 0.0  # the rain gate's estimate (and cross-fade), when gated

    @property
    def total_ms(self) -> float:
        return self.preprocess_ms + self.inference_ms + self.postprocess_ms + self.gate_ms


@dataclass(frozen=True)
class DerainBatch:
    """What one ``run_batch`` call returns.

    Attributes:
        images: one output per input, of its shape, dtype and colour order.
        timing: where the call spent its time (shared by the batch).
        gates: with a rain gate, what it did with each frame; None without one.
    """

    images: list[np.ndarray]
    timing: FrameTiming
    gates: list[GateDecision] | None = None


class Derainer:
    """Derains arrays through one backend.

    Args:
        backend: a loaded backend (see ``sapnet_ros.backends``).
        max_side: 0 derains at native size; otherwise frames whose longer side
            exceeds it are derained at that size and resized back.
        fast_scale: fast mode for weak hardware when below 1: the network sees
            the frame scaled by this factor, and the rain it finds there is
            upsampled and subtracted from the full-resolution frame
            (output = input - upsample(input_low - derained_low)), so detail
            finer than the network's view is kept.
        gate: derain only the frames of streams where it rains (None: all).

    Backends with a limited shape range (TensorRT profiles) may define
    ``fit_size(height, width) -> (height, width)``; it has the last word on
    the processing size.
    """

    def __init__(
        self, backend: Backend, max_side: int = 0, *, fast_scale: float = 1.0, gate: RainGate | None = None
    ) -> None:
        if max_side < 0:
            raise ValueError(f"max_side must be >= 0, got {max_side}")
        if not 0.0 < fast_scale <= 1.0:
            raise ValueError(f"fast_scale must be in (0, 1], got {fast_scale}")
        self.backend = backend
        self.max_side = max_side
        self.fast_scale = fast_scale
        self.gate = gate

    def processing_size(self, height: int, width: int) -> tuple[int, int]:
        """The (height, width) the network sees for an input of this size."""
        if self.fast_scale < 1.0:
            height, width = max(1, round(height * self.fast_scale)), max(1, round(width * self.fast_scale))
        longest = max(height, width)
        if self.max_side and longest > self.max_side:
            factor = self.max_side / longest
            height, width = max(1, round(height * factor)), max(1, round(width * factor))
        fit_size = getattr(self.backend, "fit_size", None)
        return fit_size(height, width) if fit_size is not None else (height, width)

    def run(self, image: np.ndarray, order: ColorOrder = "rgb", stream: Hashable = "") -> np.ndarray:
        """Derain one image of ``stream``; returns an array of the same shape, dtype and colour order."""
        return self.run_batch([image], order, [stream]).images[0]

    def run_batch(
        self, images: Sequence[np.ndarray], order: ColorOrder = "rgb", streams: Sequence[Hashable] | None = None
    ) -> DerainBatch:
        """Derain images of one size in a single backend call.

        Args:
            images: (H, W[, C]) uint8/uint16 frames of one height and width.
            order: their colour order.
            streams: with a gate, the stream (camera) of each image, whose gate
                it advances; None: every image is of stream "".

        Raises:
            ImageFormatError: an image has an unsupported dtype or shape, or
                the images differ in height and width.
        """
        if order not in COLOR_ORDERS:
            raise ImageFormatError(f"unknown colour order {order!r}; expected one of {COLOR_ORDERS}")
        if len({image.shape[:2] for image in images}) > 1:
            raise ImageFormatError("images in one batch must share height and width")
        if self.gate is None:
            return self._derain(images, order)
        for image in images:
            check_image(image)
        started = time.perf_counter()
        decisions = self.gate.decide(images, order, streams or [""] * len(images))
        estimated = time.perf_counter()
        wanted = [index for index, decision in enumerate(decisions) if decision.weight > 0]
        derained = self._derain([images[i] for i in wanted], order) if wanted else None
        mixing = time.perf_counter()
        by_index = dict(zip(wanted, derained.images, strict=True)) if derained is not None else {}
        outputs = [
            blend(image, by_index[index], decision.weight) if index in by_index else image.copy()
            for index, (image, decision) in enumerate(zip(images, decisions, strict=True))
        ]
        gate_ms = (estimated - started + time.perf_counter() - mixing) * 1e3
        timing = derained.timing if derained is not None else FrameTiming(0.0, 0.0, 0.0)  # all passed through
        return DerainBatch(outputs, replace(timing, gate_ms=gate_ms), decisions)

    def _derain(self, images: Sequence[np.ndarray], order: ColorOrder) -> DerainBatch:
        """Every image through the backend in one call."""
        started = time.perf_counter()
        height, width = images[0].shape[:2]
        net_height, net_width = self.processing_size(height, width)
        full = [to_network(image, order) for image in images]  # (3, H, W) each
        batch = np.stack([self._resize(tensor, net_height, net_width) for tensor in full])  # (B, 3, h, w)
        prepared = time.perf_counter()
        derained = self.backend.infer(batch)  # (B, 3, h, w)
        inferred = time.perf_counter()
        outputs = [
            from_network(self._restore(rgb, low, original), like=image, order=order)
            for rgb, low, original, image in zip(derained, batch, full, images, strict=True)
        ]
        finished = time.perf_counter()
        timing = FrameTiming((prepared - started) * 1e3, (inferred - prepared) * 1e3, (finished - inferred) * 1e3)
        return DerainBatch(outputs, timing)

    @staticmethod
    def _resize(tensor: np.ndarray, height: int, width: int) -> np.ndarray:
        return tensor if tensor.shape[1:] == (height, width) else resize_chw(tensor, height, width)

    def _restore(self, derained: np.ndarray, low: np.ndarray, original: np.ndarray) -> np.ndarray:
        """Full-size (3, H, W) output from the network's (3, h, w) input ``low`` and output ``derained``."""
        height, width = original.shape[1:]
        if derained.shape[1:] == (height, width):
            return derained
        if self.fast_scale < 1.0:
            rain = resize_chw(low - derained, height, width)  # the rain layer the network removed
            return original - rain
        return resize_chw(derained, height, width)


@contextmanager
def open_derainer(settings: DerainSettings | None = None) -> Iterator[Derainer]:
    """Load the backend (and rain gate) that ``settings`` ask for, yield a Derainer, close the backend after.

    Raises:
        SapnetError: the backend, its model or the rain estimator cannot be loaded.
        ValueError: the settings contradict each other (sizes, gate levels).
    """
    settings = settings or DerainSettings()
    gate = RainGate(RainEstimator(settings.gate_model), settings.gate) if settings.gate is not None else None
    with create_backend(settings.backend, settings.options) as backend:
        yield Derainer(backend, settings.max_side, fast_scale=settings.fast_scale, gate=gate)
