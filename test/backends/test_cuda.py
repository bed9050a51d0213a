import importlib.util

import pytest
import torch

from sapnet_ros.backends import resolve_device
from sapnet_ros.backends.cuda import cuda_device_count, runtime
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
