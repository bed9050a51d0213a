"""Shared fixtures: the sample image, the official reference output, loaded backends."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data as photos

from sapnet_ros.backends import BackendOptions, create_backend
from sapnet_ros.backends.base import BackendBase
from sapnet_ros.frames import to_network
from sapnet_ros.synthesis.rain import add_rain
from sapnet_ros.training.pairs import PairWriter

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


def corrupt_second_chunk(bag: Path) -> None:
    """Break the zstd frame of the mcap's second chunk, as a bad sector or a failed copy would."""
    (data_file,) = bag.glob("*.mcap")
    data = bytearray(data_file.read_bytes())
    chunks = [m.start() for m in re.finditer(re.escape(b"\x28\xb5\x2f\xfd"), bytes(data))]  # zstd frame magic
    assert len(chunks) >= 2
    data[chunks[1] : chunks[1] + 4] = bytes(4)
    data_file.write_bytes(bytes(data))


SIDE = 48  # side of the paired crops below


def clean_crops(count: int, offset: int = 0) -> list[np.ndarray]:
    """``count`` distinct SIDE x SIDE uint8 BGR crops of real photos (no download)."""
    sources = [photos.coffee(), photos.astronaut(), photos.chelsea(), photos.rocket()]
    crops = []
    for index in range(offset, offset + count):
        photo = sources[index % len(sources)]
        top = 40 + (index // len(sources)) * 57 % (photo.shape[0] - SIDE - 40)
        left = 60 + (index // len(sources)) * 83 % (photo.shape[1] - SIDE - 60)
        crops.append(np.ascontiguousarray(photo[top : top + SIDE, left : left + SIDE, ::-1]))
    return crops


def write_pairs(folder: Path, crops: list[np.ndarray], seed: int) -> Path:
    writer = PairWriter(folder)
    for index, clean in enumerate(crops):
        writer.write(f"img{index}", add_rain(clean, seed=seed + index), clean)
    return folder


@pytest.fixture(scope="session")
def train_pairs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """8 synthesized heavy-rain pairs of 48x48 in input/ + target/."""
    return write_pairs(tmp_path_factory.mktemp("train_pairs"), clean_crops(8), seed=0)


@pytest.fixture(scope="session")
def val_pairs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """4 held-out pairs: other crops, other rain."""
    return write_pairs(tmp_path_factory.mktemp("val_pairs"), clean_crops(4, offset=8), seed=100)
