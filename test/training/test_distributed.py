import pytest
import torch

from sapnet_ros.errors import ConfigError
from sapnet_ros.training.distributed import Ranks, choose_device, from_environment, mean_across


def test_torchrun_environment_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    assert from_environment() == Ranks(0, 1, 0) and not from_environment().enabled
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("LOCAL_RANK", "1")
    ranks = from_environment()
    assert ranks == Ranks(3, 4, 1) and ranks.enabled and not ranks.is_main


def test_device_choice() -> None:
    assert choose_device("cpu", Ranks()) == torch.device("cpu")
    if torch.cuda.is_available():
        assert choose_device("auto", Ranks(1, 2, 1)) == torch.device("cuda", 1)
    else:
        assert choose_device("auto", Ranks()) == torch.device("cpu")
        with pytest.raises(ConfigError, match=r"runtime\.device='cuda' but torch\.cuda\.is_available\(\) is False"):
            choose_device("cuda", Ranks())


def test_single_process_mean_is_the_value() -> None:
    assert float(mean_across(torch.tensor(2.5), Ranks())) == 2.5
