"""Helpers of the training tests: tiny rain data sets, backbone files in their published layouts, a fast config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from skimage import data as photos

from sapnet_ros.synth import add_rain
from sapnet_ros.training.backbones import LPIPS_CHANNELS, LPIPS_TAPS, VGG16Features
from sapnet_ros.training.config import TrainConfig, load_config
from sapnet_ros.training.pairs import PairWriter
from sapnet_ros.training.segmentation import LRASPPMobileNetV3

SIDE = 48


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


def tiny_config(run_dir: Path, train: Path, *overrides: str, **sections: dict[str, Any]) -> TrainConfig:
    """A configuration that trains in seconds on a CPU: 1 stage, 32 px patches, 1 thread."""
    values: dict[str, Any] = {
        "model": {"stages": 1},
        "data": {"train": str(train), "patch_size": 32, "crops_per_image": 1, "workers": 0},
        "optim": {"batch_size": 4, "epochs": 2},
        "runtime": {"threads": 1},
        "log": {"run_dir": str(run_dir), "every_steps": 1, "tensorboard": False, "progress": False},
        "export": {"onnx": False},
    }
    for section, entries in sections.items():
        values.setdefault(section, {}).update(entries)
    return load_config(values, list(overrides))


def torchvision_vgg16_file(path: Path, seed: int = 0) -> Path:
    """A VGG16 state dict laid out as torchvision's ``vgg16().state_dict()`` (random values)."""
    torch.manual_seed(seed)
    state = VGG16Features(LPIPS_TAPS).state_dict()
    state["classifier.0.weight"] = torch.zeros(4, 4)  # the real file has a classifier; it must be ignored
    torch.save(state, path)
    return path


def lpips_heads_file(path: Path, seed: int = 0) -> Path:
    """LPIPS v0.1 heads as the ``lpips`` package stores them (non-negative 1x1 weights)."""
    generator = torch.Generator().manual_seed(seed)
    state = {
        f"lin{k}.model.1.weight": torch.rand(1, c, 1, 1, generator=generator) for k, c in enumerate(LPIPS_CHANNELS)
    }
    torch.save(state, path)
    return path


def lraspp_file(path: Path, seed: int = 0) -> Path:
    """A state dict in torchvision's ``lraspp_mobilenet_v3_large`` layout (random values)."""
    torch.manual_seed(seed)
    torch.save(LRASPPMobileNetV3().state_dict(), path)
    return path
