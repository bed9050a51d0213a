from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from sapnet_ros.backends import BackendOptions, create_backend, unavailable_reason
from sapnet_ros.backends.onnxruntime import providers_for
from sapnet_ros.errors import BackendError
from sapnet_ros.model.quantize import int8_model_path, quality_holds
from sapnet_ros.resources import default_onnx

GPU = "CUDAExecutionProvider" in ort.get_available_providers()


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(1.0 / np.mean((a - b) ** 2)))


def test_int8_stays_close_to_fp32_on_sample(sample_batch: np.ndarray, torch_sample_output: np.ndarray) -> None:
    with create_backend("onnxruntime", BackendOptions(precision="int8")) as backend:
        assert backend.info.precision == "int8"
        output = backend.infer(sample_batch)
    assert output.shape == torch_sample_output.shape
    assert _psnr(output, torch_sample_output) >= 35.0


def test_auto_runs_int8_on_the_cpu_only_where_its_quality_holds() -> None:
    """The shipped int8 model loses more than the bound on rain its calibration never saw: auto keeps fp32."""
    found = int8_model_path()
    assert found is not None
    backend = create_backend("auto", BackendOptions(precision="auto", device="cpu"))
    expected = "int8" if quality_holds(found[1]) else "fp32"
    assert (backend.name, backend.precision) == ("onnxruntime", expected)
    assert create_backend("auto", BackendOptions(precision="fp32")).precision == "fp32"


def test_fp16_on_the_cpu_is_refused_with_the_reason() -> None:
    assert "fp16 needs a GPU provider" in str(unavailable_reason("onnxruntime", BackendOptions(precision="fp16")))
    with pytest.raises(BackendError, match="fp16 needs a GPU provider"):
        create_backend("onnxruntime", BackendOptions(precision="fp16"))


def test_int8_with_an_unquantized_model_is_an_error() -> None:
    backend = create_backend("onnxruntime", BackendOptions(precision="int8", onnx=default_onnx()))
    with pytest.raises(BackendError, match="not a quantized"):
        backend.load()


def test_int8_for_weights_without_a_model_says_how_to_make_one(tmp_path: Path) -> None:
    other = tmp_path / "other.safetensors"
    other.write_bytes(b"not the shipped weights")
    assert "sapnet-quantize" in str(unavailable_reason("onnxruntime", BackendOptions(precision="int8", weights=other)))


def test_gpu_providers_are_ordered_tensorrt_cuda_cpu() -> None:
    everything = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
    providers = providers_for(everything, "fp16", 1, "rainy")
    assert [p if isinstance(p, str) else p[0] for p in providers] == everything
    tensorrt = providers[0][1]
    assert tensorrt["trt_fp16_enable"] and not tensorrt["trt_int8_enable"] and tensorrt["device_id"] == 1
    assert tensorrt["trt_profile_min_shapes"] == "rainy:1x3x240x320"
    assert tensorrt["trt_profile_max_shapes"] == "rainy:1x3x1080x1920"
    assert providers[1][1] == {"device_id": 1, "use_tf32": 0}
    assert (
        providers_for(["CUDAExecutionProvider", "CPUExecutionProvider"], "fp32", 0, "x")[-1] == "CPUExecutionProvider"
    )


@pytest.mark.skipif(not GPU, reason="this onnxruntime build has no CUDAExecutionProvider (CPU wheel)")
@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_gpu_providers_match_torch(precision: str, sample_batch: np.ndarray, torch_sample_output: np.ndarray) -> None:
    with create_backend("onnxruntime", BackendOptions(device="cuda", precision=precision)) as backend:
        output = backend.infer(sample_batch)
    if precision == "fp32":
        assert np.abs(output - torch_sample_output).max() <= 1e-4
    else:
        assert _psnr(output, torch_sample_output) >= 40.0
