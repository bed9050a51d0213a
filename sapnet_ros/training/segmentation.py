"""The frozen segmentation network of the UBS loss: LR-ASPP on MobileNetV3-Large.

The official SAPNet script scores the derained image with a segmentation
network (an FPN on ImageNet ResNet-101 with a 21-class head that it re-creates,
randomly initialized, at every step). Here the network is a real, small one
with the same 21 Pascal VOC classes: torchvision's ``lraspp_mobilenet_v3_large``
(Howard et al. 2019; 3.2 M parameters, 57.9 mIoU on COCO-val with VOC labels),
built once, loaded from a local file in torchvision's key layout
(``lraspp_mobilenet_v3_large-d234d4ea.pth``) and frozen.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from sapnet_ros.training.backbones import ImageNetNormalize, load_frozen

VOC_CLASSES = 21
# MobileNetV3-Large blocks: input, kernel, expanded, output, squeeze-excite, hard-swish, stride, dilation.
# The last three are dilated instead of strided (output stride 16), as for segmentation.
BLOCKS = (
    (16, 3, 16, 16, False, False, 1, 1),
    (16, 3, 64, 24, False, False, 2, 1),
    (24, 3, 72, 24, False, False, 1, 1),
    (24, 5, 72, 40, True, False, 2, 1),
    (40, 5, 120, 40, True, False, 1, 1),
    (40, 5, 120, 40, True, False, 1, 1),
    (40, 3, 240, 80, False, True, 2, 1),
    (80, 3, 200, 80, False, True, 1, 1),
    (80, 3, 184, 80, False, True, 1, 1),
    (80, 3, 184, 80, False, True, 1, 1),
    (80, 3, 480, 112, True, True, 1, 1),
    (112, 3, 672, 112, True, True, 1, 1),
    (112, 5, 672, 160, True, True, 2, 2),
    (160, 5, 960, 160, True, True, 1, 2),
    (160, 5, 960, 160, True, True, 1, 2),
)
LOW_INDEX = 4  # backbone output at stride 8 (40 channels) feeds the low-level classifier
HIGH_CHANNELS = 960


def _divisible_by_8(value: float) -> int:
    """Round to a multiple of 8 without losing more than 10 % (MobileNet's channel rule)."""
    rounded = max(8, int(value + 4) // 8 * 8)
    return rounded + 8 if rounded < 0.9 * value else rounded


def _conv_bn(
    inputs: int,
    outputs: int,
    kernel: int,
    stride: int = 1,
    dilation: int = 1,
    groups: int = 1,
    activation: type[nn.Module] | None = None,
) -> nn.Sequential:
    layers: list[nn.Module] = [
        nn.Conv2d(inputs, outputs, kernel, stride, (kernel - 1) // 2 * dilation, dilation, groups, bias=False),
        nn.BatchNorm2d(outputs, eps=0.001, momentum=0.01),
    ]
    if activation is not None:
        layers.append(activation())
    return nn.Sequential(*layers)


class SqueezeExcite(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        squeezed = _divisible_by_8(channels // 4)
        self.fc1 = nn.Conv2d(channels, squeezed, 1)
        self.fc2 = nn.Conv2d(squeezed, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = self.fc2(F.relu(self.fc1(F.adaptive_avg_pool2d(x, 1))))  # (B, C, 1, 1)
        return x * F.hardsigmoid(scale)


class InvertedResidual(nn.Module):
    """Expand (1x1), depthwise (kxk), optional squeeze-excite, project (1x1); residual when shapes allow."""

    def __init__(
        self, inputs: int, kernel: int, expanded: int, outputs: int, se: bool, hswish: bool, stride: int, dilation: int
    ) -> None:
        super().__init__()
        activation = nn.Hardswish if hswish else nn.ReLU
        layers: list[nn.Module] = []
        if expanded != inputs:
            layers.append(_conv_bn(inputs, expanded, 1, activation=activation))
        depthwise_stride = 1 if dilation > 1 else stride
        layers.append(_conv_bn(expanded, expanded, kernel, depthwise_stride, dilation, expanded, activation))
        if se:
            layers.append(SqueezeExcite(expanded))
        layers.append(_conv_bn(expanded, outputs, 1))
        self.block = nn.Sequential(*layers)
        self.residual = stride == 1 and inputs == outputs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.block(x)
        return out + x if self.residual else out


class LRASPPHead(nn.Module):
    """Lite R-ASPP: high-level features gated by their global context, plus a low-level shortcut."""

    def __init__(self, low_channels: int, high_channels: int, classes: int, inter: int = 128) -> None:
        super().__init__()
        self.cbr = nn.Sequential(nn.Conv2d(high_channels, inter, 1, bias=False), nn.BatchNorm2d(inter), nn.ReLU())
        self.scale = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Conv2d(high_channels, inter, 1, bias=False), nn.Sigmoid()
        )
        self.low_classifier = nn.Conv2d(low_channels, classes, 1)
        self.high_classifier = nn.Conv2d(inter, classes, 1)

    def forward(self, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
        x = self.cbr(high) * self.scale(high)
        x = F.interpolate(x, size=low.shape[-2:], mode="bilinear", align_corners=False)
        return self.low_classifier(low) + self.high_classifier(x)


class LRASPPMobileNetV3(nn.Module):
    """Semantic segmentation logits (B, 21, H, W) of (B, 3, H, W) RGB in [0, 1]."""

    def __init__(self, classes: int = VOC_CLASSES) -> None:
        super().__init__()
        self.normalize = ImageNetNormalize()
        layers: list[nn.Module] = [_conv_bn(3, 16, 3, stride=2, activation=nn.Hardswish)]
        layers += [InvertedResidual(*block) for block in BLOCKS]
        layers.append(_conv_bn(160, HIGH_CHANNELS, 1, activation=nn.Hardswish))
        self.backbone = nn.Sequential(*layers)
        self.classifier = LRASPPHead(BLOCKS[LOW_INDEX - 1][3], HIGH_CHANNELS, classes)

    def forward(self, rgb: torch.Tensor) -> torch.Tensor:
        x = self.normalize(rgb)
        low = x
        for index, layer in enumerate(self.backbone):
            x = layer(x)
            if index == LOW_INDEX:
                low = x
        logits = self.classifier(low, x)  # (B, classes, H/8, W/8)
        return F.interpolate(logits, size=rgb.shape[-2:], mode="bilinear", align_corners=False)

    def load(self, path: Path) -> LRASPPMobileNetV3:
        """Read torchvision ``lraspp_mobilenet_v3_large`` weights and freeze."""
        load_frozen(self, path, "LR-ASPP MobileNetV3-Large (torchvision layout)")
        return self
