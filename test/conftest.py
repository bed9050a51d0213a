"""Shared fixtures: the sample image, the official reference output, loaded backends."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from sapnet_ros.backends import BackendOptions, create_backend
from sapnet_ros.backends.base import BackendBase
from sapnet_ros.derainer import to_network

# ROS tests talk over real DDS: keep it on this machine, in a domain of this test run's own.
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ["ROS_DOMAIN_ID"] = str(1 + os.getpid() % 100)

DATA = Path(__file__).parent / "data"
SAMPLES = Path(__file__).parent.parent / "sapnet_ros" / "data"


@pytest.fixture(scope="session")
def sample_path() -> Path:
    return SAMPLES / "rain100h_064_rain.jpg"


@pytest.fixture(scope="session")
def sample_rgb(sample_path: Path) -> np.ndarray:
    """The Rain100H sample as the official test reads it: uint8 (H, W, 3) RGB."""
    return np.ascontiguousarray(cv2.imread(str(sample_path))[:, :, ::-1])


@pytest.fixture(scope="session")
def reference() -> np.ndarray:
    """The official code's output on the sample: float32 (321, 481, 3) RGB in [0, 1]."""
    return np.load(DATA / "rain100h_064_rain.npy")


@pytest.fixture(scope="session")
def sample_batch(sample_rgb: np.ndarray) -> np.ndarray:
    return to_network(sample_rgb)[None]


@pytest.fixture(scope="session")
def torch_backend() -> Iterator[BackendBase]:
    with create_backend("torch", BackendOptions()) as backend:
        yield backend  # type: ignore[misc]


@pytest.fixture(scope="session")
def ort_backend() -> Iterator[BackendBase]:
    with create_backend("onnxruntime", BackendOptions()) as backend:
        yield backend  # type: ignore[misc]


@pytest.fixture(scope="session")
def node_backend() -> Iterator[BackendBase]:
    """What derain_node and sapnet-derain run by default on this machine's CPU: onnxruntime, precision auto."""
    with create_backend("onnxruntime", BackendOptions(precision="auto", device="cpu")) as backend:
        yield backend  # type: ignore[misc]


@pytest.fixture(scope="session")
def torch_sample_output(torch_backend: BackendBase, sample_batch: np.ndarray) -> np.ndarray:
    """PyTorch fp32 output on the sample: float32 (1, 3, H, W)."""
    return torch_backend.infer(sample_batch)


def tiny_rgb(height: int = 24, width: int = 31, seed: int = 0) -> np.ndarray:
    """A small random uint8 (H, W, 3) image; odd sizes on purpose."""
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


class CountingBackend:
    """A real, loaded backend that also records the batch size of every inference call."""

    def __init__(self, backend: BackendBase) -> None:
        self.backend = backend
        self.info = backend.info
        self.batches: list[int] = []

    def infer(self, batch: np.ndarray) -> np.ndarray:
        self.batches.append(len(batch))
        return self.backend.infer(batch)
