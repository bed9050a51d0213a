"""Image quality metrics used by training, evaluation and the benchmark.

One implementation for all of them, in PyTorch so that SSIM is also the
training loss: PSNR and SSIM (Wang et al. 2004: Gaussian window 11, sigma
1.5, K1 0.01, K2 0.03), on RGB and on the luma channel Y of ITU-R BT.601
(``16 + 65.481 R + 128.553 G + 24.966 B``, MATLAB's ``rgb2ycbcr``), which is
how deraining papers report Rain100H figures.

``flicker`` measures temporal stability: the mean absolute change of luma
between consecutive frames over static background, in 8-bit levels. On a
still scene with moving rain it is the visible shimmer that a detector
downstream sees as change.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from itertools import pairwise

import numpy as np
import torch
import torch.nn.functional as F

from sapnet_ros.frames import LUMA_BT601, ColorOrder, to_network

_Y_WEIGHTS = (65.481 / 255.0, 128.553 / 255.0, 24.966 / 255.0)
_Y_OFFSET = 16.0 / 255.0


def rgb_to_y(rgb: torch.Tensor) -> torch.Tensor:
    """BT.601 luma of (B, 3, H, W) RGB in [0, 1]; returns (B, 1, H, W) in [16/255, 235/255]."""
    weights = rgb.new_tensor(_Y_WEIGHTS).view(1, 3, 1, 1)
    return (rgb * weights).sum(dim=1, keepdim=True) + _Y_OFFSET


def psnr(estimate: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """PSNR in dB per image of (B, C, H, W) tensors in [0, 1]; returns (B,). Identical images give inf."""
    mse = (estimate - target).pow(2).flatten(1).mean(dim=1)
    return 10.0 * torch.log10(1.0 / mse)


def _gaussian_kernel(size: int, sigma: float, like: torch.Tensor) -> torch.Tensor:
    """1-D Gaussian of ``size`` taps summing to 1; the 2-D window is its outer product."""
    coords = torch.arange(size, dtype=like.dtype, device=like.device) - (size - 1) / 2
    kernel = torch.exp(-(coords**2) / (2 * sigma**2))
    return kernel / kernel.sum()


def ssim(estimate: torch.Tensor, target: torch.Tensor, window: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """Mean SSIM per image of (B, C, H, W) tensors in [0, 1]; returns (B,). Differentiable.

    Images smaller than the window are compared with a window of their own size.
    """
    window = min(window, estimate.shape[-1], estimate.shape[-2])
    kernel = _gaussian_kernel(window, sigma, estimate)
    rows, columns = kernel.view(1, 1, 1, window), kernel.view(1, 1, window, 1)

    def blur(x: torch.Tensor) -> torch.Tensor:
        """Separable Gaussian over "valid" windows, as in Wang et al.; 2 x 11 taps instead of 121."""
        planes = x.reshape(-1, 1, *x.shape[-2:])  # (B * C, 1, H, W)
        blurred = F.conv2d(F.conv2d(planes, rows), columns)
        return blurred.reshape(*x.shape[:2], *blurred.shape[-2:])

    c1, c2 = 0.01**2, 0.03**2
    mu_x, mu_y = blur(estimate), blur(target)
    var_x = blur(estimate * estimate) - mu_x**2
    var_y = blur(target * target) - mu_y**2
    cov = blur(estimate * target) - mu_x * mu_y
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    return ssim_map.flatten(1).mean(dim=1)


@dataclass(frozen=True)
class Quality:
    """PSNR (dB) and SSIM of one image against its reference, on RGB and on Y."""

    psnr_rgb: float
    ssim_rgb: float
    psnr_y: float
    ssim_y: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


QUALITY_FIELDS = tuple(f.name for f in fields(Quality))  # the metric names, in Quality's order, for columns and options


def mean_quality(qualities: Sequence[Quality]) -> Quality:
    """Field-wise mean over images (PSNR averaged in dB, as deraining papers report it)."""
    if not qualities:
        raise ValueError("no image qualities to average")
    return Quality(**{name: float(np.mean([getattr(q, name) for q in qualities])) for name in Quality.__annotations__})


def quality(estimate: torch.Tensor, reference: torch.Tensor) -> Quality:
    """Compare one (1, 3, H, W) RGB [0, 1] tensor with its reference, in float64."""
    with torch.no_grad():
        x64, y64 = estimate.detach().double().cpu(), reference.detach().double().cpu()
        x_luma, y_luma = rgb_to_y(x64), rgb_to_y(y64)
        return Quality(
            psnr_rgb=float(psnr(x64, y64)),
            ssim_rgb=float(ssim(x64, y64)),
            psnr_y=float(psnr(x_luma, y_luma)),
            ssim_y=float(ssim(x_luma, y_luma)),
        )


def image_quality(image: np.ndarray, reference: np.ndarray, order: ColorOrder = "rgb") -> Quality:
    """Compare two arrays of the same shape (H, W[, C]), uint8 or uint16, colours in ``order``."""
    return image_qualities([image], reference, order)[0]


def image_qualities(images: Sequence[np.ndarray], reference: np.ndarray, order: ColorOrder = "rgb") -> list[Quality]:
    """``image_quality`` of each image against one reference, which is converted once."""
    for image in images:
        if image.shape != reference.shape or image.dtype != reference.dtype:
            raise ValueError(f"cannot compare {image.dtype} {image.shape} with {reference.dtype} {reference.shape}")
    y = torch.from_numpy(to_network(reference, order))[None]  # (1, 3, H, W) RGB [0, 1]
    return [quality(torch.from_numpy(to_network(image, order))[None], y) for image in images]


def luma(frame: np.ndarray, order: ColorOrder = "rgb") -> np.ndarray:
    """BT.601 luma of (H, W[, C]) uint8/uint16 in ``order``: float64 (H, W) in 8-bit levels (16-bit scaled down)."""
    return np.tensordot(LUMA_BT601, to_network(frame, order), axes=1) * 255.0


def luma_change(before: np.ndarray, after: np.ndarray, where: np.ndarray) -> float:
    """Mean |after - before| of two ``luma`` planes over the bool (H, W) mask ``where``."""
    return float(np.abs(after - before)[where].mean())


def flicker(frames: Sequence[np.ndarray], order: ColorOrder = "rgb", static: np.ndarray | None = None) -> float:
    """Mean absolute frame-to-frame change of BT.601 luma, in 8-bit levels (0..255).

    Args:
        frames: two or more arrays of one shape, (H, W[, C]) uint8/uint16 in
            ``order`` (16-bit is scaled to the same 0..255 levels).
        order: their colour order.
        static: bool (H, W), the static background to measure on; None: every
            pixel (a still scene).

    Returns:
        The mean over consecutive pairs of the mean |Y_t - Y_(t-1)| on ``static``.
    """
    if len(frames) < 2 or len({frame.shape for frame in frames}) > 1:
        raise ValueError(f"flicker needs two or more frames of one shape, got {[f.shape for f in frames]}")
    lumas = [luma(frame, order) for frame in frames]  # (H, W)
    where = np.ones(lumas[0].shape, bool) if static is None else static
    if where.shape != lumas[0].shape or not where.any():
        raise ValueError(f"static mask {where.shape} must match the frames {lumas[0].shape} and select pixels")
    return float(np.mean([luma_change(before, after, where) for before, after in pairwise(lumas)]))
