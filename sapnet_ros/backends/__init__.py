"""Inference backends behind one small interface, selected by name.

A backend takes and returns float32 NCHW RGB batches in [0, 1]; it knows
nothing of ROS, files or colour orders (``Derainer`` owns those). Construction
only validates options; ``load()`` allocates sessions, engines and device
memory; ``close()`` frees them. Backends are context managers.
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from sapnet_ros import resources
from sapnet_ros.backends.cuda import cuda_device_count
from sapnet_ros.errors import BackendError

LOG = logging.getLogger(__name__)

# name -> "module:Class"; imported on demand so that a missing optional
# dependency (TensorRT, pycuda) only matters to the backend that needs it.
BACKENDS: dict[str, str] = {
    "onnxruntime": "sapnet_ros.backends.onnxruntime:OnnxRuntimeBackend",
    "tensorrt": "sapnet_ros.backends.tensorrt:TensorRTBackend",
    "torch": "sapnet_ros.backends.torch:TorchBackend",
}
AUTO_ORDER = ("tensorrt", "onnxruntime", "torch")  # fastest first
PRECISIONS = ("fp32", "fp16", "bf16", "int8")
# "auto": each backend's fastest precision whose measured quality holds (see its auto_precision).
PRECISION_CHOICES = ("auto", *PRECISIONS)
OUTSIDE_PROFILE = ("error", "resize")


@dataclass(frozen=True)
class BackendOptions:
    """Everything a backend may need; each backend reads the fields it uses.

    Attributes:
        model: the shipped rung of the speed ladder (``resources.MODEL_NAMES``)
            whose weights are used when ``weights`` is None.
        weights: SAPNet weights (safetensors or official .pth); None = the
            shipped ones of ``model``.
        onnx: ONNX model for ONNX Runtime / TensorRT; None = derived from weights.
        engine: serialized TensorRT engine; None = built or looked up from cache.
        precision: one of PRECISIONS, or "auto" (the backend's fastest whose
            measured quality holds); each backend lists the ones it supports.
        device: "cpu", "cuda", "cuda:N", or "auto" (cuda when a GPU is visible).
        threads: intra-op CPU threads; 0 leaves the library default.
        outside_profile: TensorRT, for frames outside the engine's shape
            profile: "error", or "resize" them into it.
        cuda_graph: TensorRT, capture a CUDA graph per input shape (a fixed
            camera size then launches one graph per frame).
    """

    weights: Path | None = None
    onnx: Path | None = None
    engine: Path | None = None
    precision: str = "fp32"
    model: str = resources.DEFAULT_MODEL
    device: str = "cpu"
    threads: int = 0
    outside_profile: str = "error"
    cuda_graph: bool = False

    def __post_init__(self) -> None:
        """Resolve a smaller rung to its shipped weights, so every backend and cache sees a weights file.

        Raises:
            ValueError: unknown model, or both a rung and a weights file.
        """
        if self.model == resources.DEFAULT_MODEL:
            return
        files = resources.model_files(self.model)
        if self.weights is not None and self.weights != files.weights:
            raise ValueError(f"give a model name ({self.model}) or a weights file ({self.weights}), not both")
        object.__setattr__(self, "weights", files.weights)  # frozen: set once, while constructing


@dataclass(frozen=True)
class BackendInfo:
    """What a loaded backend reports about itself (logs, diagnostics, bench)."""

    name: str
    device: str
    precision: str
    model_sha256: str


@runtime_checkable
class Backend(Protocol):
    """The interface every backend implements."""

    name: str
    precisions: tuple[str, ...]
    precision: str  # the one it runs: "auto" is resolved at construction

    def __init__(self, options: BackendOptions) -> None:
        """Validate ``options``; allocate nothing yet."""

    @classmethod
    def auto_precision(cls, options: BackendOptions) -> str:
        """The precision ``auto`` means for this backend with ``options``."""

    @classmethod
    def unavailable_reason(cls, options: BackendOptions) -> str | None:
        """Why this backend cannot run here with ``options`` (None: it can)."""

    def load(self) -> None:
        """Allocate sessions, engines and device memory."""

    def close(self) -> None:
        """Free what ``load`` allocated; safe to call twice."""

    def infer(self, batch: np.ndarray) -> np.ndarray:
        """Derain float32 (B, 3, H, W) RGB [0, 1]; returns the same shape and range."""

    @property
    def info(self) -> BackendInfo:
        """Name, device, precision and model hash; valid after ``load``."""

    def __enter__(self) -> Backend: ...

    def __exit__(self, *exc_info: object) -> None: ...


def check_name(name: str) -> str:
    """Return ``name`` if it is ``auto`` or a known backend, else raise BackendError."""
    if name != "auto" and name not in BACKENDS:
        raise BackendError(f"unknown backend {name!r}; choose one of: auto, {', '.join(BACKENDS)}")
    return name


def _backend_class(name: str) -> type[Backend]:
    module_name, class_name = BACKENDS[name].split(":")
    cls: type[Backend] = getattr(importlib.import_module(module_name), class_name)
    return cls


def _checked(name: str, options: BackendOptions) -> tuple[str | None, BackendOptions]:
    """Why backend ``name`` cannot run here with ``options`` (None: it can), and ``options`` for it.

    Precision ``auto`` is resolved here, once: it may hash the weights and read
    models, and the returned options spare the backend's checks and
    constructor from resolving it again.
    """
    check_name(name)
    try:
        cls = _backend_class(name)
    except ImportError as err:
        return f"cannot import it ({err})", options
    if options.precision == "auto":
        options = replace(options, precision=cls.auto_precision(options))
    return cls.unavailable_reason(options), options


def unavailable_reason(name: str, options: BackendOptions) -> str | None:
    """Why backend ``name`` cannot run here with ``options``, or None if it can."""
    return _checked(name, options)[0]


def _first_available(options: BackendOptions) -> tuple[str, BackendOptions]:
    """The fastest backend usable here and ``options`` for it, logging each one skipped."""
    for candidate in AUTO_ORDER:
        reason, resolved = _checked(candidate, options)
        if reason is None:
            LOG.info("backend auto -> %s", candidate)
            return candidate, resolved
        # On a GPU a missing GPU capability (TensorRT, CUDA providers) deserves a warning; on a CPU it is expected.
        level = logging.WARNING if options.device.startswith("cuda") else logging.INFO
        LOG.log(level, "backend auto: skipping %s: %s", candidate, reason)
    raise BackendError(f"no backend can run precision {options.precision!r} here")


def resolve_name(name: str, options: BackendOptions) -> str:
    """Map ``auto`` to the fastest backend usable here, logging each one skipped."""
    if check_name(name) != "auto":
        return name
    return _first_available(options)[0]


def resolve_device(device: str) -> str:
    """Map ``auto`` to ``cuda`` when a CUDA device is visible, else ``cpu``; other names pass through."""
    if device != "auto":
        return device
    resolved = "cuda" if cuda_device_count() > 0 else "cpu"
    LOG.info("device auto -> %s", resolved)
    return resolved


def create_backend(name: str, options: BackendOptions | None = None) -> Backend:
    """Construct (not load) the backend ``name`` (or ``auto``) with ``options``.

    Raises:
        BackendError: unknown name, or the backend cannot run here.
    """
    options = options or BackendOptions()
    if options.precision not in PRECISION_CHOICES:
        raise BackendError(f"unknown precision {options.precision!r}; choose one of: {', '.join(PRECISION_CHOICES)}")
    if options.outside_profile not in OUTSIDE_PROFILE:
        raise BackendError(
            f"unknown outside_profile {options.outside_profile!r}; choose one of: {', '.join(OUTSIDE_PROFILE)}"
        )
    options = replace(options, device=resolve_device(options.device))
    if check_name(name) == "auto":
        name, options = _first_available(options)
    else:
        reason, options = _checked(name, options)
        if reason is not None:
            raise BackendError(f"backend {name!r} is unavailable: {reason}")
    return _backend_class(name)(options)
