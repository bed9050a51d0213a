"""Validation of the model being trained: whole images, PSNR/SSIM on RGB and Y, sample triptychs."""

from __future__ import annotations

import numpy as np
import torch

from sapnet_ros.metrics import Quality, mean_quality, quality
from sapnet_ros.model.network import SAPNet
from sapnet_ros.training.data import PairDataset
from sapnet_ros.training.monitor import triptych


@torch.no_grad()
def validate_model(
    model: SAPNet, dataset: PairDataset, device: torch.device, samples: int = 0
) -> tuple[Quality, list[tuple[str, np.ndarray]]]:
    """Derain every pair whole, in fp32, and compare with its clean image.

    Returns:
        Mean quality of the derained images and (name, rainy | derained | clean
        uint8 BGR) for the first ``samples`` pairs. The model is left in eval mode.
    """
    model.eval()
    derained_quality, strips = [], []
    for index in range(len(dataset)):
        rainy, clean, name = dataset[index]  # (3, H, W) RGB [0, 1]
        derained = model(rainy[None].to(device)).float().cpu()  # (1, 3, H, W), clamped
        derained_quality.append(quality(derained, clean[None]))
        if index < samples:
            strips.append((name, triptych(rainy, derained[0], clean)))
    return mean_quality(derained_quality), strips


def input_quality(dataset: PairDataset) -> Quality:
    """Mean quality of the rainy inputs against their clean images: the baseline, the same every epoch."""
    qualities = []
    for index in range(len(dataset)):
        rainy, clean, _ = dataset[index]
        qualities.append(quality(rainy[None], clean[None]))
    return mean_quality(qualities)
