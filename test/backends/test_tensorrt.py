import importlib.util
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from sapnet_ros.backends import BackendOptions, create_backend, unavailable_reason
from sapnet_ros.backends.base import BackendBase
from sapnet_ros.backends.cuda import device_index
from sapnet_ros.backends.engine_cache import Profile
from sapnet_ros.backends.tensorrt import TensorRTBackend
from sapnet_ros.derainer import Derainer
from sapnet_ros.errors import BackendError

GPU_REASON = unavailable_reason("tensorrt", BackendOptions(device="cuda"))
needs_gpu = pytest.mark.skipif(GPU_REASON is not None, reason=f"TensorRT backend unavailable: {GPU_REASON}")


def test_device_names() -> None:
    assert device_index("cuda", "TensorRT") == 0 and device_index("cuda:1", "TensorRT") == 1
    for bad in ("cpu", "cuda:x", "gpu:0"):
        with pytest.raises(BackendError, match="TensorRT needs a CUDA device"):
            device_index(bad, "TensorRT")


@pytest.mark.skipif(importlib.util.find_spec("tensorrt") is not None, reason="TensorRT is installed here")
def test_missing_tensorrt_is_explained_and_auto_skips_it() -> None:
    assert "TensorRT is not installed" in str(unavailable_reason("tensorrt", BackendOptions(device="cuda")))
    assert create_backend("auto", BackendOptions(device="cpu")).name == "onnxruntime"


def test_frames_outside_the_profile_error_or_resize_by_option() -> None:
    strict = TensorRTBackend(BackendOptions(device="cuda"))
    assert strict.fit_size(480, 640) == (480, 640)
    with pytest.raises(BackendError, match="frame 3840x2160 is outside the engine profile"):
        strict.fit_size(2160, 3840)
    lenient = TensorRTBackend(BackendOptions(device="cuda", outside_profile="resize"))
    assert lenient.fit_size(2160, 3840) == (1080, 1920)


def test_the_derainer_asks_the_backend_for_its_size() -> None:
    backend = TensorRTBackend(BackendOptions(device="cuda", outside_profile="resize"))
    assert Derainer(backend).processing_size(120, 160) == (240, 320)
    assert Derainer(backend, fast_scale=0.5).processing_size(1080, 1920) == (540, 960)


@pytest.fixture(scope="module")
def trt_fp16() -> Iterator[BackendBase]:
    with create_backend("tensorrt", BackendOptions(device="cuda", precision="fp16")) as backend:
        yield backend  # type: ignore[misc]


@needs_gpu
@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_tensorrt_matches_torch_on_sample(
    precision: str, sample_batch: np.ndarray, torch_sample_output: np.ndarray
) -> None:
    with create_backend("tensorrt", BackendOptions(device="cuda", precision=precision)) as backend:
        output = backend.infer(sample_batch)
    error = np.abs(output - torch_sample_output)
    if precision == "fp32":
        assert error.max() <= 1e-4
    else:
        assert 10 * np.log10(1 / np.mean(error**2)) >= 40.0


@needs_gpu
def test_tensorrt_profile_is_read_from_the_engine(trt_fp16: TensorRTBackend) -> None:
    assert trt_fp16._profile == Profile()
    with pytest.raises(BackendError, match="outside the engine profile"):
        trt_fp16.infer(np.zeros((1, 3, 64, 64), np.float32))


@needs_gpu
def test_stale_engine_is_rebuilt(tmp_path: Path, sample_batch: np.ndarray) -> None:
    from sapnet_ros.backends.engine_build import ensure_engine
    from sapnet_ros.backends.engine_cache import read_sidecar, write_sidecar
    from sapnet_ros.resources import default_onnx

    built = ensure_engine(default_onnx(), tmp_path, "fp16", Profile((240, 320), (321, 481), (480, 640)))
    key, _ = read_sidecar(built)
    write_sidecar(built, replace(key, tensorrt_version="0.0.0"))
    with create_backend("tensorrt", BackendOptions(device="cuda", precision="fp16", engine=built)) as backend:
        assert backend.infer(sample_batch).shape == sample_batch.shape
