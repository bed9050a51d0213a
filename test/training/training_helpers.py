"""Helpers of the training tests: tiny rain data sets, backbone files in their published layouts, a fast config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from sapnet_ros.training.backbones import LPIPS_CHANNELS, LPIPS_TAPS, VGG16Features
from sapnet_ros.training.config import TrainConfig, load_config
from sapnet_ros.training.segmentation import LRASPPMobileNetV3


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
