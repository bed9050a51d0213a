"""What every backend shares: the context-manager protocol, load checks, the model files they read."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from sapnet_ros.backends import BackendInfo, BackendOptions
from sapnet_ros.errors import BackendError
from sapnet_ros.model.artifacts import exported_onnx


def onnx_model(weights: Path | None) -> Path:
    """The ONNX export of ``weights`` (None: the shipped ones): found without PyTorch, else exported with it.

    Raises:
        BackendError: no export exists and PyTorch, which makes one, is not installed.
    """
    found = exported_onnx(weights)
    if found is not None:
        return found
    try:
        from sapnet_ros.model.export import onnx_for_weights
    except ImportError as err:
        raise BackendError(
            f"no ONNX model for {weights} yet, and exporting one needs PyTorch ({err}); "
            "pip install 'sapnet_ros[torch]' or pass --onnx"
        ) from err
    return onnx_for_weights(weights)


class BackendBase:
    """Validates options at construction; subclasses fill ``load/close/infer``."""

    name: ClassVar[str]
    precisions: ClassVar[tuple[str, ...]] = ("fp32",)

    def __init__(self, options: BackendOptions) -> None:
        self.precision = self.requested_precision(options)
        if self.precision not in self.precisions:
            raise BackendError(
                f"backend {self.name!r} does not support precision {self.precision!r}; "
                f"choose one of: {', '.join(self.precisions)}"
            )
        self.options = options
        self._info: BackendInfo | None = None

    @classmethod
    def auto_precision(cls, options: BackendOptions) -> str:
        """The precision ``auto`` means here: the fastest whose quality holds (default fp32)."""
        return "fp32"

    @classmethod
    def requested_precision(cls, options: BackendOptions) -> str:
        """``options.precision``, with ``auto`` resolved by ``auto_precision``."""
        return cls.auto_precision(options) if options.precision == "auto" else options.precision

    @classmethod
    def unavailable_reason(cls, options: BackendOptions) -> str | None:
        """Why this backend cannot run here with ``options`` (None: it can)."""
        return cls.precision_reason(cls.requested_precision(options))

    @classmethod
    def precision_reason(cls, precision: str) -> str | None:
        """Why this backend cannot run ``precision`` (already resolved, so that ``auto`` is resolved once)."""
        if precision not in cls.precisions:
            return f"precision {precision!r} not supported (only {', '.join(cls.precisions)})"
        return None

    @property
    def info(self) -> BackendInfo:
        if self._info is None:
            raise BackendError(f"backend {self.name!r} used before load()")
        return self._info

    def _require_loaded(self, handle: Any) -> Any:
        if handle is None:
            raise BackendError(f"backend {self.name!r} used before load() or after close()")
        return handle

    @staticmethod
    def _check_batch(batch: np.ndarray) -> None:
        if batch.dtype != np.float32 or batch.ndim != 4 or batch.shape[1] != 3:
            raise BackendError(f"expected float32 (B, 3, H, W), got {batch.dtype} {batch.shape}")

    def load(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> BackendBase:
        self.load()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
