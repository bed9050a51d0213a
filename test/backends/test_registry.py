from pathlib import Path

import numpy as np
import pytest

from sapnet_ros.backends import BackendOptions, create_backend, resolve_name
from sapnet_ros.backends.base import BackendBase
from sapnet_ros.errors import BackendError


def test_onnxruntime_matches_torch_on_sample(
    ort_backend: BackendBase, sample_batch: np.ndarray, torch_sample_output: np.ndarray
) -> None:
    assert np.abs(ort_backend.infer(sample_batch) - torch_sample_output).max() <= 1e-4


def test_auto_prefers_onnxruntime_on_cpu() -> None:
    assert resolve_name("auto", BackendOptions()) == "onnxruntime"


def test_info_names_backend_and_model(ort_backend: BackendBase, torch_backend: BackendBase) -> None:
    assert ort_backend.info.name == "onnxruntime" and torch_backend.info.name == "torch"
    assert ort_backend.info.model_sha256 == torch_backend.info.model_sha256


@pytest.mark.parametrize(
    ("name", "options", "message"),
    [
        ("tensorflow", BackendOptions(), "unknown backend 'tensorflow'"),
        ("torch", BackendOptions(precision="fp64"), "unknown precision 'fp64'"),
        ("onnxruntime", BackendOptions(precision="int4"), "unknown precision"),
    ],
)
def test_bad_choices_are_refused(name: str, options: BackendOptions, message: str) -> None:
    with pytest.raises(BackendError, match=message):
        create_backend(name, options)


def test_used_before_load_is_an_error() -> None:
    backend = create_backend("torch")
    with pytest.raises(BackendError, match="before load"):
        backend.infer(np.zeros((1, 3, 4, 4), np.float32))
    with pytest.raises(BackendError, match="before load"):
        _ = backend.info


def test_wrong_batch_layout_is_an_error(torch_backend: BackendBase) -> None:
    with pytest.raises(BackendError, match=r"expected float32 \(B, 3, H, W\)"):
        torch_backend.infer(np.zeros((1, 4, 4, 3), np.float32))


def test_corrupt_onnx_file_gives_one_line(tmp_path: Path) -> None:
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"\x08\x01garbage")
    backend = create_backend("onnxruntime", BackendOptions(onnx=broken))
    with pytest.raises(BackendError) as caught:
        backend.load()
    assert str(broken) in str(caught.value) and "\n" not in str(caught.value)


def test_cuda_request_without_cuda_is_explained() -> None:
    with pytest.raises(BackendError, match="unavailable: CUDA requested"):
        create_backend("torch", BackendOptions(device="cuda"))
