from pathlib import Path

import pytest

from sapnet_ros.errors import ConfigError
from sapnet_ros.training.config import TrainConfig, load_config, read_yaml, save_config, to_dict

SHIPPED = Path(__file__).parent.parent.parent / "config" / "train.yaml"


def test_defaults_are_the_papers() -> None:
    config = TrainConfig()
    assert config.model.stages == 6
    assert (config.optim.lr, config.optim.milestones, config.optim.gamma) == (1e-3, [30, 50, 80], 0.2)
    assert (config.optim.epochs, config.data.patch_size, config.optim.batch_size) == (100, 100, 12)
    assert config.loss.contrastive_layers == [1 / 32, 1 / 16, 1 / 8, 1 / 4]
    assert (config.loss.ubs.weight, config.loss.ubs.start_epoch) == (0.1, 51)


def test_shipped_yaml_states_the_defaults() -> None:
    assert load_config(read_yaml(SHIPPED)) == TrainConfig()


def test_overrides_parse_yaml_values() -> None:
    config = load_config({}, ["optim.lr=1e-4", "optim.milestones=[2, 4]", "data.val=pairs/val", "loss.ubs.weight=0"])
    assert config.optim.lr == 1e-4 and config.optim.milestones == [2, 4]
    assert config.data.val == Path("pairs/val")
    assert config.loss.ubs.weight == 0.0 and isinstance(config.loss.ubs.weight, float)


@pytest.mark.parametrize(
    ("values", "overrides", "message"),
    [
        ({"optim": {"lr": 1e-3, "learning_rate": 1}}, [], r"unknown key learning_rate in optim; allowed: lr, "),
        ({"modle": {}}, [], r"unknown key modle; allowed: model, data"),
        ({}, ["loss.ssim.wieght=2"], r"unknown key wieght in loss\.ssim"),
        ({}, ["optim.epochs=ten"], r"optim\.epochs: expected int, got 'ten'"),
        ({}, ["runtime.channels_last=1"], r"runtime\.channels_last: expected bool, got 1"),
        ({}, ["optim.milestones=5"], r"optim\.milestones: expected a list"),
        ({}, ["optim.lr=0", "runtime.precision=fp8"], r"optim\.lr=0\.0, runtime\.precision='fp8'"),
        ({}, ["runtime.device=gpu"], r"runtime\.device: 'gpu' is not one of"),
        ({}, ["optim.lr"], r"expected section\.key=value"),
    ],
)
def test_bad_configuration_is_named(values: dict[str, object], overrides: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(values, overrides)


def test_resolved_config_round_trips(tmp_path: Path) -> None:
    config = load_config({}, ["data.train=some/where", "loss.vgg_weights=~/vgg16.pth"])
    assert config.loss.vgg_weights == Path.home() / "vgg16.pth"
    saved = save_config(config, tmp_path / "config.yaml")
    assert load_config(read_yaml(saved)) == config
    assert to_dict(config)["data"]["train"] == "some/where"


def test_unreadable_yaml(tmp_path: Path) -> None:
    broken = tmp_path / "bad.yaml"
    broken.write_text("optim: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        read_yaml(broken)
    broken.write_text("- a list\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        read_yaml(broken)
