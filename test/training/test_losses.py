import logging
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from sapnet_ros.model.network import SAPNet
from sapnet_ros.training.config import LossConfig, LossTerm
from sapnet_ros.training.losses import TrainingLoss, contrastive_loss, self_focal_loss

from .training_helpers import lpips_heads_file, lraspp_file, torchvision_vgg16_file


@pytest.fixture(scope="module")
def backbone_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("backbones")
    return {
        "vgg_weights": torchvision_vgg16_file(folder / "vgg16-397923af.pth"),
        "lpips_weights": lpips_heads_file(folder / "vgg.pth"),
        "seg_weights": lraspp_file(folder / "lraspp_mobilenet_v3_large.pth"),
    }


def only(term: str, files: dict[str, Path], start_epoch: int = 0) -> LossConfig:
    """A loss configuration where ``term`` alone counts."""
    terms = {name: LossTerm(weight=0.0) for name in ("ssim", "contrastive", "lpips", "ubs")}
    terms[term] = LossTerm(weight=1.0, start_epoch=start_epoch)
    return LossConfig(**terms, **files)  # type: ignore[arg-type]


@pytest.mark.parametrize("term", ["ssim", "contrastive", "lpips", "ubs"])
def test_each_term_trains_the_network(term: str, backbone_files: dict[str, Path]) -> None:
    torch.manual_seed(0)
    model = SAPNet(stages=1)
    criterion = TrainingLoss(only(term, backbone_files))
    rainy, clean = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)
    total, terms = criterion(model.stage_estimates(rainy)[-1], clean, rainy, epoch=0)
    assert set(terms) == {term} and torch.isfinite(total)
    total.backward()
    gradients = [p.grad for p in model.parameters()]
    assert all(g is not None for g in gradients)
    assert sum(float(g.abs().sum()) for g in gradients if g is not None) > 0
    assert not any(p.requires_grad for p in criterion.parameters())  # the loss networks stay frozen


def test_missing_backbones_disable_their_terms_loudly(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        criterion = TrainingLoss(LossConfig(ubs=LossTerm(0.1, 0)))
    assert criterion.active(epoch=60) == {"ssim": 1.0}
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 3 and all("DISABLED" in w and "nothing is downloaded" in w for w in warnings)
    assert "--vgg-weights" in warnings[0] and "--seg-weights" in warnings[2]


def test_terms_start_at_their_epoch(backbone_files: dict[str, Path]) -> None:
    config = only("ubs", backbone_files, start_epoch=51)
    config.ssim = LossTerm(1.0)
    criterion = TrainingLoss(config)
    assert criterion.active(50) == {"ssim": 1.0}
    assert criterion.active(51) == {"ssim": 1.0, "ubs": 1.0}


def test_contrastive_is_a_ratio_of_distances() -> None:
    anchor = [torch.ones(1, 2, 4, 4)]
    positive, negative = [torch.zeros(1, 2, 4, 4)], [torch.full((1, 2, 4, 4), 5.0)]
    assert float(contrastive_loss(anchor, positive, negative, [0.5])) == pytest.approx(0.5 * 1 / 4)
    assert float(contrastive_loss(anchor, anchor, negative, [0.5])) == 0.0


def test_self_focal_loss_matches_the_official_formula() -> None:
    logits = torch.randn(2, 21, 5, 7, generator=torch.Generator().manual_seed(3))
    target = logits.argmax(dim=1)  # the official get_NoGT_target
    probs = (F.softmax(logits, dim=1) * F.one_hot(target, 21).permute(0, 3, 1, 2)).sum(1).clamp(1e-7, 1 - 1e-7)
    expected = (-((1 - probs) ** 2) * probs.log()).mean()
    assert float(self_focal_loss(logits, gamma=2.0)) == pytest.approx(float(expected), rel=1e-5)
