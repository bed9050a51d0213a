"""Frozen feature networks for the perceptual losses: VGG16 and the LPIPS-VGG heads.

torchvision is not a dependency (its wheels do not import beside every torch
build), so the networks are defined here with torchvision's and LPIPS's key
names, and their weights are only ever read from local files:

- VGG16 (Simonyan & Zisserman): ``features.N.weight`` of torchvision's
  ``vgg16-397923af.pth``; the classifier keys are ignored.
- LPIPS v0.1 VGG heads (Zhang et al. 2018): ``linK.model.1.weight`` of the
  ``lpips`` package's ``weights/v0.1/vgg.pth`` (a full LPIPS state dict works too).

LPIPS scales its [-1, 1] input by shift (-.030, -.088, -.188) and scale
(.458, .448, .450), which is exactly ImageNet's mean/std normalization of a
[0, 1] input, so one VGG pass serves both the contrastive loss and LPIPS.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from sapnet_ros.model.weights import check_state_dict, read_state_dict

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# VGG16 "D": convolution widths, "M" for 2x2 max pooling.
VGG16_LAYOUT = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512)
# Index in torchvision's ``vgg16().features`` of the ReLU output each name denotes.
VGG16_TAPS = {"relu1_2": 3, "relu2_2": 8, "relu3_3": 15, "relu4_3": 22, "relu5_3": 29}
LPIPS_TAPS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3")
LPIPS_CHANNELS = (64, 128, 256, 512, 512)


def load_frozen(
    module: nn.Module, path: Path, network: str, rename: Callable[[str], str | None] = lambda key: key
) -> nn.Module:
    """Load ``path`` into ``module`` strictly, then freeze it (eval mode, no gradients).

    Args:
        module: the network, freshly built.
        path: its weights, ``.pth`` (read with ``weights_only=True``) or ``.safetensors``.
        network: its name in error messages.
        rename: maps each key of the file to the module's key, or None to drop it.

    Raises:
        WeightsError: unreadable file, or keys/shapes that do not fit ``module``.
    """
    state, _ = read_state_dict(path)
    selected = {new: value for key, value in state.items() if (new := rename(key)) is not None}
    check_state_dict(path, selected, module, network)
    module.load_state_dict(selected)
    return module.eval().requires_grad_(False)


class ImageNetNormalize(nn.Module):
    """RGB [0, 1] -> ImageNet-normalized input of torchvision's pretrained networks."""

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, rgb: torch.Tensor) -> torch.Tensor:
        return (rgb - self.mean) / self.std


class VGG16Features(nn.Module):
    """VGG16's convolutional trunk up to the deepest of ``taps``; returns those activations.

    Args:
        taps: names from VGG16_TAPS, in network order.
    """

    def __init__(self, taps: tuple[str, ...]) -> None:
        super().__init__()
        self.taps = taps
        self.normalize = ImageNetNormalize()
        layers: list[nn.Module] = []
        channels = 3
        for width in VGG16_LAYOUT:
            if width == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(channels, int(width), 3, padding=1), nn.ReLU()]
                channels = int(width)
        self.features = nn.Sequential(*layers[: max(VGG16_TAPS[tap] for tap in taps) + 1])
        self._tap_indices = {VGG16_TAPS[tap] for tap in taps}

    def forward(self, rgb: torch.Tensor) -> list[torch.Tensor]:
        """Activations at ``taps`` of (B, 3, H, W) RGB in [0, 1]."""
        x = self.normalize(rgb)
        found = []
        for index, layer in enumerate(self.features):
            x = layer(x)
            if index in self._tap_indices:
                found.append(x)
        return found

    def load(self, path: Path) -> VGG16Features:
        """Read torchvision VGG16 weights (its classifier is ignored) and freeze."""
        depth = len(self.features)

        def rename(key: str) -> str | None:
            match = re.fullmatch(r"features\.(\d+)\.(weight|bias)", key)
            return key if match and int(match.group(1)) < depth else None

        load_frozen(self, path, "VGG16 (torchvision layout)", rename)
        return self


def _unit_channels(features: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
    """Scale each pixel's feature vector to unit length, as LPIPS does."""
    return features / (features.pow(2).sum(dim=1, keepdim=True).sqrt() + eps)


class LPIPSHeads(nn.Module):
    """LPIPS's learned per-channel weights on the five VGG16 taps (``LPIPS_TAPS``)."""

    def __init__(self) -> None:
        super().__init__()
        self.heads = nn.ModuleList(nn.Conv2d(channels, 1, 1, bias=False) for channels in LPIPS_CHANNELS)

    def forward(self, features: list[torch.Tensor], reference: list[torch.Tensor]) -> torch.Tensor:
        """LPIPS distance per image, (B,), from VGG16 activations of two batches."""
        total = features[0].new_zeros(features[0].shape[0])
        for head, x, y in zip(self.heads, features, reference, strict=True):
            difference = (_unit_channels(x.float()) - _unit_channels(y.float())).pow(2)  # (B, C, h, w)
            total = total + head(difference).mean(dim=(1, 2, 3))
        return total

    def load(self, path: Path) -> LPIPSHeads:
        """Read LPIPS v0.1 VGG heads (``linK.model.1.weight``) and freeze."""

        def rename(key: str) -> str | None:
            match = re.fullmatch(r"lin(\d)\.model\.1\.weight", key)
            return f"heads.{match.group(1)}.weight" if match else None

        load_frozen(self, path, "LPIPS v0.1 VGG heads", rename)
        return self
