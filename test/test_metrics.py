import numpy as np
import pytest
import torch
from conftest import tiny_rgb
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from sapnet_ros.metrics import flicker, image_quality, psnr, rgb_to_y, ssim


def _pair(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    clean = tiny_rgb(48, 64, seed)
    noisy = np.clip(clean + np.random.default_rng(seed + 1).normal(0, 12, clean.shape), 0, 255).astype(np.uint8)
    return noisy, clean


def test_psnr_and_ssim_match_scikit_image() -> None:
    noisy, clean = _pair()
    quality = image_quality(noisy, clean)
    assert quality.psnr_rgb == pytest.approx(peak_signal_noise_ratio(clean, noisy), abs=1e-6)
    expected_ssim = structural_similarity(
        clean / 255.0, noisy / 255.0, channel_axis=2, gaussian_weights=True, sigma=1.5,
        use_sample_covariance=False, data_range=1.0,
    )  # fmt: skip
    assert quality.ssim_rgb == pytest.approx(expected_ssim, abs=1e-6)


def test_y_channel_uses_bt601_studio_range() -> None:
    white = torch.ones(1, 3, 2, 2, dtype=torch.float64)
    assert torch.allclose(rgb_to_y(white), torch.full((1, 1, 2, 2), 235 / 255, dtype=torch.float64))
    noisy, clean = _pair(3)
    quality = image_quality(noisy, clean)
    assert quality.psnr_y != quality.psnr_rgb


def test_identical_images() -> None:
    _, clean = _pair()
    quality = image_quality(clean, clean)
    assert quality.psnr_rgb == float("inf") and quality.ssim_rgb == pytest.approx(1.0)


def test_ssim_is_differentiable() -> None:
    estimate = torch.rand(2, 3, 20, 20, requires_grad=True)
    (1 - ssim(estimate, torch.rand(2, 3, 20, 20))).mean().backward()
    assert estimate.grad is not None and estimate.grad.abs().sum() > 0
    assert psnr(estimate.detach(), estimate.detach() + 0.1).allclose(torch.full((2,), 20.0))


def test_mismatched_shapes_are_refused() -> None:
    with pytest.raises(ValueError, match="cannot compare"):
        image_quality(tiny_rgb(8, 8), tiny_rgb(8, 9))


def test_flicker_is_the_mean_absolute_luma_change_between_frames() -> None:
    still = np.full((4, 6, 3), 100, np.uint8)
    assert flicker([still, still, still]) == 0.0
    brighter = still + np.uint8(10)
    assert flicker([still, brighter, still]) == pytest.approx(10.0, abs=1e-3)  # grey: luma moves with it
    red = still.copy()
    red[:, :, 0] += 10
    assert flicker([still, red], "rgb") == pytest.approx(2.99, abs=1e-3)  # 0.299 of 10 levels
    assert flicker([still, red], "bgr") == pytest.approx(1.14, abs=1e-3)  # the same change in blue
    static = np.zeros((4, 6), bool)
    static[:, :3] = True
    half = still.copy()
    half[:, 3:] = 200  # only the moving half changes
    assert flicker([still, half], static=static) == 0.0
    assert flicker([still.astype(np.uint16) * 257, brighter.astype(np.uint16) * 257]) == pytest.approx(10.0, abs=1e-3)
    with pytest.raises(ValueError, match="two or more frames of one shape"):
        flicker([still])
