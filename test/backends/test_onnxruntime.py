import logging
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from sapnet_ros.backends import BackendOptions, create_backend, unavailable_reason
from sapnet_ros.backends import onnxruntime as ort_backend
from sapnet_ros.backends.onnxruntime import CPU, CUDA, TENSORRT, OnnxRuntimeBackend, providers_for, running_provider
from sapnet_ros.errors import BackendError
from sapnet_ros.model.artifacts import int8_model_path, quality_holds
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


def test_fp32_on_the_gpu_leaves_tensorrt_out_because_its_tf32_cannot_be_turned_off() -> None:
    everything = [TENSORRT, CUDA, CPU]
    fp32 = providers_for(everything, "fp32", 0, "rainy")
    assert fp32 == [(CUDA, {"device_id": 0, "use_tf32": 0}), CPU]
    assert [ort_backend.provider_name(p) for p in providers_for(everything, "int8", 0, "rainy")] == everything


def test_gpu_int8_takes_the_symmetric_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ort_backend, "_gpu_providers", lambda: [TENSORRT, CUDA])
    backend = OnnxRuntimeBackend(BackendOptions(device="cuda", precision="int8"))
    path = backend._model_path()
    assert path.name == "sapnet_int8_symmetric.onnx"
    graph = onnx.load(str(path))
    zero_points = {init.name for init in graph.graph.initializer if init.data_type == onnx.TensorProto.INT8}
    assert all(node.input[2] in zero_points for node in graph.graph.node if node.op_type == "QuantizeLinear")
    assert OnnxRuntimeBackend(BackendOptions(precision="int8"))._model_path().name == "sapnet_int8.onnx"


def test_gpu_int8_without_a_symmetric_model_says_how_to_make_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ort_backend, "_gpu_providers", lambda: [TENSORRT, CUDA])
    monkeypatch.setattr(ort_backend, "int8_model_path", lambda weights, symmetric=False: None)
    reason = unavailable_reason("onnxruntime", BackendOptions(device="cuda", precision="int8"))
    assert reason is not None and "sapnet-quantize --symmetric" in reason


class FakeSession:
    """An InferenceSession whose providers fail to load as named: what ONNX Runtime does without libnvinfer."""

    broken: ClassVar[tuple[str, ...]] = (TENSORRT,)
    made: ClassVar[list[tuple[str, list[str]]]] = []

    def __init__(self, path: str, settings: Any, providers: list[Any]) -> None:
        self.path = path
        names = [ort_backend.provider_name(p) for p in providers]
        self.providers = [name for name in names if name not in self.broken]
        FakeSession.made.append((Path(path).name, self.providers))

    def get_providers(self) -> list[str]:
        return self.providers

    def get_inputs(self) -> list[SimpleNamespace]:
        return [SimpleNamespace(name="rainy", shape=["batch", 3, "height", "width"])]

    def get_outputs(self) -> list[SimpleNamespace]:
        return [SimpleNamespace(name="derained", shape=["batch", 3, "height", "width"])]


def test_a_fallback_that_would_change_the_precision_or_leave_the_gpu_is_refused() -> None:
    requested = providers_for([TENSORRT, CUDA, CPU], "int8", 0, "rainy")
    without_tensorrt = FakeSession(str(default_onnx()), None, requested)
    with pytest.raises(BackendError, match="int8 on the GPU needs TensorRT"):
        running_provider(without_tensorrt, requested, "int8")
    FakeSession.broken = (TENSORRT, CUDA)
    try:
        cpu_only = FakeSession(str(default_onnx()), None, requested)
        with pytest.raises(BackendError, match="the GPU would not be used"):
            running_provider(cpu_only, requested, "fp16")
    finally:
        FakeSession.broken = (TENSORRT,)


def test_fp16_falling_back_from_tensorrt_to_cuda_gets_an_fp16_graph_and_says_so(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(ort, "get_available_providers", lambda: [TENSORRT, CUDA, CPU])
    monkeypatch.setattr(ort, "InferenceSession", FakeSession)
    FakeSession.made = []
    backend = OnnxRuntimeBackend(BackendOptions(device="cuda:1", precision="fp16"))
    with caplog.at_level(logging.ERROR):
        backend.load()
    assert "COULD NOT START TENSORRTEXECUTIONPROVIDER" in caplog.text
    assert FakeSession.made[0] == ("sapnet.onnx", [CUDA, CPU])  # TensorRT asked for, CUDA running
    name, providers = FakeSession.made[1]
    assert name.startswith("sapnet-fp16-") and providers == [CUDA, CPU]
    copy = onnx.load(str(next(tmp_path.rglob(name))))
    assert any(init.data_type == onnx.TensorProto.FLOAT16 for init in copy.graph.initializer)
    assert (backend.info.device, backend.info.precision) == ("CUDAExecutionProvider (cuda:1)", "fp16")


@pytest.mark.skipif(not GPU, reason="this onnxruntime build has no CUDAExecutionProvider (CPU wheel)")
@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_gpu_providers_match_torch(precision: str, sample_batch: np.ndarray, torch_sample_output: np.ndarray) -> None:
    with create_backend("onnxruntime", BackendOptions(device="cuda", precision=precision)) as backend:
        output = backend.infer(sample_batch)
    if precision == "fp32":
        assert np.abs(output - torch_sample_output).max() <= 1e-4
    else:
        assert _psnr(output, torch_sample_output) >= 40.0
