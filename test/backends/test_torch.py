import numpy as np
import pytest
import torch
from conftest import tiny_rgb

from sapnet_ros.backends import BackendOptions, create_backend
from sapnet_ros.backends.base import BackendBase
from sapnet_ros.errors import BackendError
from sapnet_ros.frames import to_network


def test_bf16_channels_last_stays_close_to_fp32(torch_backend: BackendBase) -> None:
    batch = to_network(tiny_rgb(24, 31, seed=2))[None]
    with create_backend("torch", BackendOptions(precision="bf16")) as backend:
        output = backend.infer(batch)
    assert output.dtype == np.float32 and output.flags.c_contiguous
    error = np.mean((output - torch_backend.infer(batch)) ** 2)
    assert 10 * np.log10(1 / error) >= 45.0  # bf16 keeps 8 mantissa bits


def test_fp16_needs_a_gpu() -> None:
    with pytest.raises(BackendError, match="fp16 needs --device cuda"):
        create_backend("torch", BackendOptions(precision="fp16"))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device for PyTorch")
def test_cuda_fp16_stays_close_to_fp32(sample_batch: np.ndarray, torch_sample_output: np.ndarray) -> None:
    with create_backend("torch", BackendOptions(device="cuda", precision="fp16")) as backend:
        output = backend.infer(sample_batch)
    assert 10 * np.log10(1 / np.mean((output - torch_sample_output) ** 2)) >= 40.0


def test_fp32_means_fp32_tf32_is_turned_off() -> None:
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True  # cudnn: PyTorch's default
    try:
        with create_backend("torch", BackendOptions(precision="fp32")):
            assert torch.backends.cuda.matmul.allow_tf32 is False
            assert torch.backends.cudnn.allow_tf32 is False
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved
