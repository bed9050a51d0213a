from pathlib import Path

import torch

from sapnet_ros.training.segmentation import LRASPPMobileNetV3

from .training_helpers import lraspp_file


def test_matches_torchvision_lraspp_mobilenet_v3_large() -> None:
    model = LRASPPMobileNetV3()
    assert sum(p.numel() for p in model.parameters()) == 3_221_538  # torchvision's published count
    keys = model.state_dict().keys()
    assert {"backbone.0.0.weight", "backbone.1.block.0.0.weight", "backbone.4.block.2.fc1.weight",
            "backbone.16.1.running_var", "classifier.cbr.0.weight", "classifier.scale.1.weight",
            "classifier.low_classifier.bias", "classifier.high_classifier.weight"} <= keys  # fmt: skip
    assert model.eval()(torch.rand(1, 3, 45, 61)).shape == (1, 21, 45, 61)


def test_loads_frozen_in_eval_mode(tmp_path: Path) -> None:
    path = lraspp_file(tmp_path / "lraspp.pth")
    model = LRASPPMobileNetV3().load(path)
    assert not model.training and not any(p.requires_grad for p in model.parameters())
    assert torch.equal(model.classifier.cbr[1].running_mean, torch.load(path)["classifier.cbr.1.running_mean"])
