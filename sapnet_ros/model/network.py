"""SAPNet (Zheng et al., WACV 2022, arXiv 2111.08892): the deraining network, and its smaller variants.

A recurrent CNN: each of ``stages`` passes refines the previous estimate with
a ConvLSTM cell followed by five dilated residual blocks with channel residual
attention (CRA). Module names follow the official code so that its checkpoint
loads key for key (without the ``module.`` prefix of ``nn.DataParallel``).
There is no down-sampling, so any height and width work.

``Architecture`` sizes the family: the official network is 6 stages of 32
channels with dense 3x3 convolutions; the speed ladder's rungs (``sapnet-s``,
``sapnet-xs``) are narrower, shallower and may use depthwise-separable
residual convolutions. The architecture travels in the weights file's
metadata (``Architecture.to_metadata``), so a file alone rebuilds its network.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

DILATIONS = (1, 2, 4, 8, 16)
CRA_REDUCTION = 16
MAX_CHANNELS = 1024  # far beyond any useful width


@dataclass(frozen=True)
class Architecture:
    """The size of a SAPNet: what must match between a weights file and the network built for it.

    Attributes:
        stages: recurrent passes (the official checkpoint was trained with 6).
        channels: feature width (32 in the paper).
        separable: residual blocks use depthwise 3x3 + pointwise 1x1
            convolutions instead of dense 3x3 ones (about 7x fewer MACs there).
    """

    stages: int = 6
    channels: int = 32
    separable: bool = False

    def __post_init__(self) -> None:
        if self.stages < 1:
            raise ValueError(f"stages must be >= 1, got {self.stages}")
        if self.channels < 2:
            raise ValueError(f"channels must be >= 2, got {self.channels}")

    def to_metadata(self) -> dict[str, str]:
        """The weights-file metadata entries that record this architecture."""
        return {"stages": str(self.stages), "channels": str(self.channels), "separable": str(self.separable).lower()}

    @classmethod
    def from_metadata(cls, metadata: dict[str, str]) -> Architecture:
        """The architecture a weights file records; absent keys mean the official network's values.

        Raises:
            ValueError: a recorded value is not a valid number or flag.
        """
        separable = metadata.get("separable", "false")
        if separable not in ("true", "false"):
            raise ValueError(f"separable must be 'true' or 'false', got {separable!r}")
        try:
            stages, channels = int(metadata.get("stages", 6)), int(metadata.get("channels", 32))
        except ValueError as err:
            raise ValueError(f"stages and channels must be integers ({err})") from err
        if channels > MAX_CHANNELS:  # a damaged or hostile file must not allocate gigabytes
            raise ValueError(f"channels={channels} is above {MAX_CHANNELS}")
        return cls(stages=stages, channels=channels, separable=separable == "true")

    def macs_per_pixel(self) -> int:
        """Multiply-accumulates per output pixel of the PyTorch network (convolutions only)."""
        c = self.channels
        block_conv = 9 * c + c * c if self.separable else 9 * c * c
        stage = 6 * 9 * c + 4 * 9 * 2 * c * c + 2 * len(DILATIONS) * block_conv + 9 * c * 3
        return self.stages * stage


class ChannelResidualAttention(nn.Module):
    """CRA: rescale channels by sigmoid(bottleneck(pool(x)) + 1x1(pool(x)))."""

    def __init__(self, channels: int = 32, reduction: int = CRA_REDUCTION) -> None:
        super().__init__()
        hidden = max(1, channels // reduction)
        self.conv_du = nn.Sequential(
            nn.Conv2d(channels, hidden, 1, bias=False),
            nn.ReLU(),
            nn.Conv2d(hidden, channels, 1, bias=False),
        )
        self.conv_1_1 = nn.Conv2d(channels, channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = F.adaptive_avg_pool2d(x, 1)  # (B, C, 1, 1)
        return x * torch.sigmoid(self.conv_du(pooled) + self.conv_1_1(pooled))


class SeparableConv(nn.Module):
    """Depthwise dilated 3x3 (no bias) then pointwise 1x1 (with bias): a cheap stand-in for a dense 3x3."""

    def __init__(self, channels: int, dilation: int) -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(
            channels, channels, 3, padding=dilation, dilation=dilation, groups=channels, bias=False
        )
        self.pointwise = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))


def _block_conv(channels: int, dilation: int, separable: bool) -> nn.Module:
    if separable:
        return SeparableConv(channels, dilation)
    return nn.Conv2d(channels, channels, 3, padding=dilation, dilation=dilation)


def _residual_block(channels: int, dilation: int, separable: bool) -> nn.Sequential:
    """[conv, CRA, ReLU] twice; indices 0, 1, 3, 4 carry the checkpoint's weights."""
    return nn.Sequential(
        _block_conv(channels, dilation, separable),
        ChannelResidualAttention(channels),
        nn.ReLU(),
        _block_conv(channels, dilation, separable),
        ChannelResidualAttention(channels),
        nn.ReLU(),
    )


def _gate(in_channels: int, out_channels: int, activation: nn.Module) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 3, padding=1), activation)


class SAPNet(nn.Module):
    """Progressive recurrent deraining network.

    Args:
        stages: recurrent passes; the shared weights are the same for any count,
            the official checkpoint was trained with 6.
        channels: feature width (32 in the paper).
        separable: depthwise-separable residual convolutions (see ``Architecture``).
    """

    def __init__(self, stages: int = 6, channels: int = 32, separable: bool = False) -> None:
        super().__init__()
        self.architecture = Architecture(stages, channels, separable)
        self.stages = stages
        self.channels = channels
        self.conv0 = _gate(6, channels, nn.ReLU())
        for index, dilation in enumerate(DILATIONS, start=1):
            self.add_module(f"res_conv{index}", _residual_block(channels, dilation, separable))
        self.conv_i = _gate(2 * channels, channels, nn.Sigmoid())
        self.conv_f = _gate(2 * channels, channels, nn.Sigmoid())
        self.conv_g = _gate(2 * channels, channels, nn.Tanh())
        self.conv_o = _gate(2 * channels, channels, nn.Sigmoid())
        self.conv = nn.Sequential(nn.Conv2d(channels, 3, 3, padding=1))

    @classmethod
    def build(cls, architecture: Architecture) -> SAPNet:
        """The (untrained) network of ``architecture``."""
        return cls(architecture.stages, architecture.channels, architecture.separable)

    def residual_blocks(self) -> list[nn.Module]:
        return [getattr(self, f"res_conv{index}") for index in range(1, len(DILATIONS) + 1)]

    def stage_estimates(self, rainy: torch.Tensor) -> list[torch.Tensor]:
        """Every stage's unclamped estimate, as the training losses need them.

        Args:
            rainy: float32 (B, 3, H, W), RGB in [0, 1].

        Returns:
            ``stages`` tensors of shape (B, 3, H, W), RGB, not clamped.
        """
        batch, _, height, width = rainy.shape
        h = rainy.new_zeros(batch, self.channels, height, width)  # ConvLSTM hidden state
        c = rainy.new_zeros(batch, self.channels, height, width)  # ConvLSTM cell state
        estimate = rainy
        estimates = []
        for _ in range(self.stages):
            x = self.conv0(torch.cat((rainy, estimate), 1))  # (B, C, H, W)
            x = torch.cat((x, h), 1)  # (B, 2C, H, W)
            c = self.conv_f(x) * c + self.conv_i(x) * self.conv_g(x)
            h = self.conv_o(x) * torch.tanh(c)
            x = h
            for block in self.residual_blocks():
                x = F.relu(block(x) + x)
            estimate = self.conv(x) + rainy
            estimates.append(estimate)
        return estimates

    def forward(self, rainy: torch.Tensor) -> torch.Tensor:
        """Derain a batch: float32 (B, 3, H, W) RGB [0, 1] in, same out (clamped)."""
        return self.stage_estimates(rainy)[-1].clamp(0.0, 1.0)
