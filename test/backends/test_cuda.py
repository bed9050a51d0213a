import enum
import importlib.util
import sys
import types
from collections.abc import Callable
from typing import Any

import pytest
import torch

from sapnet_ros.backends import BackendOptions, cuda, resolve_device, unavailable_reason
from sapnet_ros.backends import tensorrt as tensorrt_backend
from sapnet_ros.backends.cuda import CUDA_PYTHON_PIN, cuda_call, cuda_device_count, gpu_unavailable_reason, runtime
from sapnet_ros.errors import BackendError

HAS_CUDA_PYTHON = importlib.util.find_spec("cuda") is not None


@pytest.mark.skipif(HAS_CUDA_PYTHON, reason="cuda-python is installed here")
def test_missing_cuda_python_is_one_clear_error() -> None:
    with pytest.raises(BackendError, match="cuda-python is not installed"):
        runtime()


def test_device_auto_follows_the_visible_gpus() -> None:
    expected = "cuda" if cuda_device_count() > 0 else "cpu"
    assert resolve_device("auto") == expected
    assert resolve_device("cuda:1") == "cuda:1" and resolve_device("cpu") == "cpu"
    if not HAS_CUDA_PYTHON:
        assert cuda_device_count() == torch.cuda.device_count()


# cuda-python's runtime module as far as device discovery goes: (error, value) tuples, or a raise.
FakeError = enum.IntEnum("FakeError", {"cudaSuccess": 0, "cudaErrorInsufficientDriver": 35, "cudaErrorNoDevice": 100})
SUCCESS = FakeError["cudaSuccess"]


def fake_cudart(error: str = "cudaSuccess", count: int = 1, raises: bool = False) -> types.SimpleNamespace:
    """A fake ``cudart``: ``raises`` as cuda-python <= 12.5 does without a driver, else returns ``error``."""

    def device_count() -> tuple[enum.IntEnum, int]:
        if raises:
            raise RuntimeError("Failed to dlopen libcuda.so.1")
        return FakeError[error], count if error == "cudaSuccess" else 0

    def error_name(code: enum.IntEnum) -> tuple[enum.IntEnum, bytes]:
        return SUCCESS, code.name.encode()

    return types.SimpleNamespace(cudaError_t=FakeError, cudaGetDeviceCount=device_count, cudaGetErrorName=error_name)


@pytest.fixture
def fake_gpu_stack(monkeypatch: pytest.MonkeyPatch) -> Callable[[types.SimpleNamespace], None]:
    """Install a fake cuda-python runtime and an importable (empty) tensorrt module."""

    def install(cudart: types.SimpleNamespace) -> None:
        for module in (cuda, tensorrt_backend):
            monkeypatch.setattr(module, "runtime", lambda: cudart)
        monkeypatch.setitem(sys.modules, "tensorrt", types.ModuleType("tensorrt"))

    return install


def test_a_missing_driver_with_old_cuda_python_is_a_reason_not_a_crash(fake_gpu_stack: Any) -> None:
    fake_gpu_stack(fake_cudart(raises=True))
    assert resolve_device("auto") == "cpu"
    reason = unavailable_reason("tensorrt", BackendOptions(device="cuda"))
    assert reason is not None and "CUDA driver did not load (Failed to dlopen libcuda.so.1)" in reason


def test_the_cuda_error_is_named_with_what_fixes_it(fake_gpu_stack: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_gpu_stack(fake_cudart("cudaErrorInsufficientDriver"))
    monkeypatch.setattr(cuda, "cuda_python_version", lambda: "13.4.4")  # what an unpinned pip install gives
    assert cuda_device_count() == 0
    reason = unavailable_reason("tensorrt", BackendOptions(device="cuda"))
    assert reason is not None and "cudaErrorInsufficientDriver" in reason and CUDA_PYTHON_PIN in reason
    monkeypatch.setattr(cuda, "cuda_python_version", lambda: "12.9.4")  # pinned, but no (or an old) driver
    assert gpu_unavailable_reason() == (
        "no usable CUDA device: cudaErrorInsufficientDriver (no NVIDIA driver loaded, or one too old for CUDA 12)"
    )
    fake_gpu_stack(fake_cudart(count=0))
    assert gpu_unavailable_reason() == "no CUDA device visible"
    fake_gpu_stack(fake_cudart(count=2))
    assert gpu_unavailable_reason() is None and cuda_device_count() == 2 and resolve_device("auto") == "cuda"


def test_failed_calls_name_their_error(fake_gpu_stack: Any) -> None:
    fake_gpu_stack(fake_cudart())
    assert cuda_call((SUCCESS, 7)) == 7
    with pytest.raises(BackendError, match="CUDA error cudaErrorNoDevice"):
        cuda_call((FakeError["cudaErrorNoDevice"], None))
