import numpy as np
import torch

from sapnet_ros.model.network import SAPNet
from sapnet_ros.model.weights import load_model


def test_reproduces_official_output(torch_sample_output: np.ndarray, reference: np.ndarray) -> None:
    ours = torch_sample_output[0].transpose(1, 2, 0)  # (H, W, 3) RGB
    assert ours.shape == reference.shape == (321, 481, 3)
    assert np.abs(ours - reference).max() <= 1e-4


def test_parameter_count_matches_paper() -> None:
    assert sum(p.numel() for p in SAPNet().parameters()) == 180_483


def test_stage_estimates_end_in_forward_output() -> None:
    model, _ = load_model()
    rainy = torch.rand(2, 3, 19, 27)
    with torch.inference_mode():
        stages = model.stage_estimates(rainy)
        final = model(rainy)
    assert len(stages) == 6
    assert all(stage.shape == rainy.shape for stage in stages)
    torch.testing.assert_close(final, stages[-1].clamp(0, 1))
    assert final.min() >= 0 and final.max() <= 1


def test_stage_count_is_configurable() -> None:
    model, _ = load_model(stages=2)
    with torch.inference_mode():
        assert len(model.stage_estimates(torch.rand(1, 3, 8, 8))) == 2
