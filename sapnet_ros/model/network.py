"""SAPNet (Zheng et al., WACV 2022, arXiv 2111.08892): the deraining network.

A recurrent CNN: each of ``stages`` passes refines the previous estimate with
a ConvLSTM cell followed by five dilated residual blocks with channel residual
attention (CRA). Module names follow the official code so that its checkpoint
loads key for key (without the ``module.`` prefix of ``nn.DataParallel``).
There is no down-sampling, so any height and width work.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

DILATIONS = (1, 2, 4, 8, 16)


class ChannelResidualAttention(nn.Module):
    """CRA: rescale channels by sigmoid(bottleneck(pool(x)) + 1x1(pool(x)))."""

    def __init__(self, channels: int = 32, reduction: int = 16) -> None:
        super().__init__()
        self.conv_du = nn.Sequential(
            nn.Conv2d(channels, channels // reduction, 1, bias=False),
            nn.ReLU(),
            nn.Conv2d(channels // reduction, channels, 1, bias=False),
        )
        self.conv_1_1 = nn.Conv2d(channels, channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = F.adaptive_avg_pool2d(x, 1)  # (B, C, 1, 1)
        return x * torch.sigmoid(self.conv_du(pooled) + self.conv_1_1(pooled))


def _residual_block(channels: int, dilation: int) -> nn.Sequential:
    """[conv, CRA, ReLU] twice; indices 0, 1, 3, 4 carry the checkpoint's weights."""
    return nn.Sequential(
        nn.Conv2d(channels, channels, 3, padding=dilation, dilation=dilation),
        ChannelResidualAttention(channels),
        nn.ReLU(),
        nn.Conv2d(channels, channels, 3, padding=dilation, dilation=dilation),
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
    """

    def __init__(self, stages: int = 6, channels: int = 32) -> None:
        super().__init__()
        if stages < 1:
            raise ValueError(f"stages must be >= 1, got {stages}")
        self.stages = stages
        self.channels = channels
        self.conv0 = _gate(6, channels, nn.ReLU())
        for index, dilation in enumerate(DILATIONS, start=1):
            self.add_module(f"res_conv{index}", _residual_block(channels, dilation))
        self.conv_i = _gate(2 * channels, channels, nn.Sigmoid())
        self.conv_f = _gate(2 * channels, channels, nn.Sigmoid())
        self.conv_g = _gate(2 * channels, channels, nn.Tanh())
        self.conv_o = _gate(2 * channels, channels, nn.Sigmoid())
        self.conv = nn.Sequential(nn.Conv2d(channels, 3, 3, padding=1))

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
            x = self.conv0(torch.cat((rainy, estimate), 1))  # (B, 32, H, W)
            x = torch.cat((x, h), 1)  # (B, 64, H, W)
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
