"""The CUDA runtime through NVIDIA's cuda-python, for the TensorRT backend and engine builder.

cuda-python rather than pycuda: its runtime API works on the device's
*primary* context, which any thread can make current with ``cudaSetDevice``,
so the ROS node's inference thread needs no context push/pop (pycuda's
``autoinit`` binds a private context to the importing thread); it is also
what NVIDIA's TensorRT samples use, and it ships wheels for x86 and Jetson.
"""

from __future__ import annotations

import ctypes
import functools
from types import ModuleType
from typing import Any

import numpy as np

from sapnet_ros.errors import BackendError


@functools.cache  # called on every frame; a failed import raises, so it is not cached
def runtime() -> ModuleType:
    """The ``cudart`` module of cuda-python (new ``cuda.bindings`` layout first)."""
    try:
        from cuda.bindings import runtime as cudart
    except ImportError:
        try:
            from cuda import cudart
        except ImportError as err:
            raise BackendError(f"cuda-python is not installed ({err}); pip install cuda-python") from err
    return cudart


def device_index(device: str, user: str) -> int:
    """``"cuda"`` -> 0, ``"cuda:1"`` -> 1; BackendError naming ``user`` (what needs the GPU) for anything else."""
    name, _, index = device.partition(":")
    if name != "cuda" or (index and not index.isdigit()):
        raise BackendError(f"{user} needs a CUDA device ('cuda' or 'cuda:N'), got {device!r}")
    return int(index or 0)


def cuda_device_count() -> int:
    """CUDA devices visible to cuda-python, or to PyTorch when cuda-python is absent."""
    try:
        cudart = runtime()
    except BackendError:
        import torch

        return torch.cuda.device_count()
    error, count = cudart.cudaGetDeviceCount()
    return int(count) if error == cudart.cudaError_t.cudaSuccess else 0


def cuda_call(result: tuple[Any, ...]) -> Any:
    """Unpack a cuda-python ``(error, *values)`` result; BackendError naming the error if it failed."""
    cudart = runtime()
    error, *values = result
    if error != cudart.cudaError_t.cudaSuccess:
        _, name = cudart.cudaGetErrorName(error)
        raise BackendError(f"CUDA error {name.decode() if isinstance(name, bytes) else name}")
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
