"""The CUDA runtime through NVIDIA's cuda-python, for the TensorRT backend and engine builder.

cuda-python rather than pycuda: its runtime API works on the device's
*primary* context, which any thread can make current with ``cudaSetDevice``,
so the ROS node's inference thread needs no context push/pop (pycuda's
``autoinit`` binds a private context to the importing thread); it is also
what NVIDIA's TensorRT samples use, and it ships wheels for x86 and Jetson.

Its major version must match the driver's CUDA: cuda-python 13 needs a driver
>= 580, which JetPack 6 and most desktops do not have, hence the pin to 12.x
(``CUDA_PYTHON_PIN``). Without a usable driver, cuda-python <= 12.5 raises
``RuntimeError: Failed to dlopen libcuda.so.1`` where later releases return an
error code; both become one line naming the cause (``gpu_unavailable_reason``).
"""

from __future__ import annotations

import ctypes
import functools
import logging
from importlib import metadata
from types import ModuleType
from typing import Any

import numpy as np

from sapnet_ros.errors import BackendError

LOG = logging.getLogger(__name__)
CUDA_PYTHON_PIN = "cuda-python>=12.6,<13"  # CUDA 12 drivers (JetPack 6, driver 525-579); keep in step with setup.py


@functools.cache  # called on every frame; a failed import raises, so it is not cached
def runtime() -> ModuleType:
    """The ``cudart`` module of cuda-python (new ``cuda.bindings`` layout first)."""
    try:
        from cuda.bindings import runtime as cudart
    except ImportError:
        try:
            from cuda import cudart
        except ImportError as err:
            raise BackendError(f"cuda-python is not installed ({err}); pip install '{CUDA_PYTHON_PIN}'") from err
    return cudart


def cuda_python_version() -> str:
    """The installed cuda-python's version, or "unknown"."""
    for distribution in ("cuda-python", "cuda-bindings"):
        try:
            return metadata.version(distribution)
        except metadata.PackageNotFoundError:
            continue
    return "unknown"


def error_name(cudart: ModuleType, error: Any) -> str:
    """The CUDA error's name (``cudaErrorInsufficientDriver``), as cuda-python reports it."""
    try:
        _, name = cudart.cudaGetErrorName(error)
    except (RuntimeError, TypeError, AttributeError):
        return str(getattr(error, "name", error))
    return name.decode() if isinstance(name, bytes) else str(name)


def _driver_hint(error: str) -> str:
    """What to do about ``cudaErrorInsufficientDriver``: pin cuda-python to 12.x, or install a driver."""
    if error != "cudaErrorInsufficientDriver":
        return ""
    version = cuda_python_version()
    major = version.partition(".")[0]
    if major.isdigit() and int(major) >= 13:
        return f" (cuda-python {version} needs driver >= 580; pip install '{CUDA_PYTHON_PIN}')"
    return " (no NVIDIA driver loaded, or one too old for CUDA 12)"


def gpu_unavailable_reason() -> str | None:
    """Why cuda-python sees no usable CUDA device here (None: it sees one), naming the CUDA error.

    Raises:
        BackendError: cuda-python is not installed.
    """
    cudart = runtime()
    try:
        error, count = cudart.cudaGetDeviceCount()
    except RuntimeError as err:  # cuda-python <= 12.5 without a driver: "Failed to dlopen libcuda.so.1"
        return f"the CUDA driver did not load ({err}); is the NVIDIA driver installed?"
    if error != cudart.cudaError_t.cudaSuccess:
        name = error_name(cudart, error)
        return f"no usable CUDA device: {name}{_driver_hint(name)}"
    if int(count) < 1:
        return "no CUDA device visible"
    return None


def device_index(device: str, user: str) -> int:
    """``"cuda"`` -> 0, ``"cuda:1"`` -> 1; BackendError naming ``user`` (what needs the GPU) for anything else."""
    name, _, index = device.partition(":")
    if name != "cuda" or (index and not index.isdigit()):
        raise BackendError(f"{user} needs a CUDA device ('cuda' or 'cuda:N'), got {device!r}")
    return int(index or 0)


def cuda_device_count() -> int:
    """CUDA devices visible to cuda-python, else to PyTorch, else 0; says at INFO level why none is usable."""
    try:
        reason = gpu_unavailable_reason()
    except BackendError:
        try:
            import torch
        except ImportError:
            return 0
        return int(torch.cuda.device_count())
    if reason is not None:
        LOG.info("cuda-python: %s", reason)
        return 0
    return int(runtime().cudaGetDeviceCount()[1])


def cuda_call(result: tuple[Any, ...]) -> Any:
    """Unpack a cuda-python ``(error, *values)`` result; BackendError naming the error if it failed."""
    cudart = runtime()
    error, *values = result
    if error != cudart.cudaError_t.cudaSuccess:
        raise BackendError(f"CUDA error {error_name(cudart, error)}")
    if not values:
        return None
    return values[0] if len(values) == 1 else tuple(values)


class PinnedBuffer:
    """Page-locked host memory viewed as a flat float32 array, paired with device memory of the same size."""

    def __init__(self, count: int) -> None:
        cudart = runtime()
        self.nbytes = count * np.dtype(np.float32).itemsize
        self.host_pointer: int = cuda_call(cudart.cudaMallocHost(self.nbytes))
        self.device_pointer: int = cuda_call(cudart.cudaMalloc(self.nbytes))
        pointer = ctypes.cast(self.host_pointer, ctypes.POINTER(ctypes.c_float))
        self.host = np.ctypeslib.as_array(pointer, (count,))  # (count,) float32 view of pinned memory

    def to_device(self, nbytes: int, stream: Any) -> None:
        cudart = runtime()
        kind = cudart.cudaMemcpyKind.cudaMemcpyHostToDevice
        cuda_call(cudart.cudaMemcpyAsync(self.device_pointer, self.host_pointer, nbytes, kind, stream))

    def to_host(self, nbytes: int, stream: Any) -> None:
        cudart = runtime()
        kind = cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost
        cuda_call(cudart.cudaMemcpyAsync(self.host_pointer, self.device_pointer, nbytes, kind, stream))

    def free(self) -> None:
        cudart = runtime()
        cuda_call(cudart.cudaFree(self.device_pointer))
        cuda_call(cudart.cudaFreeHost(self.host_pointer))
