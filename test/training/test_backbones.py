from pathlib import Path

import pytest
import torch

from sapnet_ros.errors import WeightsError
from sapnet_ros.training.backbones import LPIPS_TAPS, LPIPSHeads, VGG16Features

from .training_helpers import lpips_heads_file, torchvision_vgg16_file


def test_vgg16_taps_have_torchvision_shapes() -> None:
    vgg = VGG16Features(("relu1_2", "relu2_2", "relu3_3", "relu4_3"))
    assert len(vgg.features) == 23  # up to relu4_3, nothing deeper is computed
    shapes = [tuple(t.shape) for t in vgg(torch.rand(1, 3, 32, 32))]
    assert shapes == [(1, 64, 32, 32), (1, 128, 16, 16), (1, 256, 8, 8), (1, 512, 4, 4)]
    assert sum(p.numel() for p in VGG16Features(LPIPS_TAPS).parameters()) == 14_714_688  # torchvision's trunk


def test_vgg16_loads_torchvision_layout_and_freezes(tmp_path: Path) -> None:
    path = torchvision_vgg16_file(tmp_path / "vgg16.pth")
    vgg = VGG16Features(("relu1_2", "relu2_2")).load(path)
    assert torch.equal(vgg.features[2].weight, torch.load(path)["features.2.weight"])
    assert not vgg.training and not any(p.requires_grad for p in vgg.parameters())


def test_wrong_vgg_file_is_refused(tmp_path: Path) -> None:
    state = VGG16Features(LPIPS_TAPS).state_dict()
    state["features.0.weight"] = torch.zeros(64, 1, 3, 3)
    torch.save(state, tmp_path / "grey.pth")
    with pytest.raises(WeightsError, match=r"does not fit VGG16 .*features\.0\.weight \(64, 1, 3, 3\)"):
        VGG16Features(LPIPS_TAPS).load(tmp_path / "grey.pth")
    torch.save({"lin0.model.1.weight": torch.zeros(1, 64, 1, 1)}, tmp_path / "partial.pth")
    with pytest.raises(WeightsError, match=r"does not fit LPIPS v0\.1 VGG heads: missing 4 keys"):
        LPIPSHeads().load(tmp_path / "partial.pth")


def test_lpips_distance_matches_its_definition(tmp_path: Path) -> None:
    heads = LPIPSHeads().load(lpips_heads_file(tmp_path / "vgg.pth"))
    x = [torch.rand(2, c, 3, 3) for c in (64, 128, 256, 512, 512)]
    y = [torch.rand(2, c, 3, 3) for c in (64, 128, 256, 512, 512)]
    assert torch.allclose(heads(x, x), torch.zeros(2))
    expected = sum(
        (head.weight.view(1, -1, 1, 1) * (a / a.norm(dim=1, keepdim=True) - b / b.norm(dim=1, keepdim=True)) ** 2)
        .sum(dim=1)
        .mean(dim=(1, 2))
        for head, a, b in zip(heads.heads, x, y, strict=True)
    )
    assert torch.allclose(heads(x, y), expected, rtol=1e-5)
