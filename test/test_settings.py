"""One declaration of how to derain: the node's parameters, the CLI flags and the YAML stay in step."""

import argparse
from pathlib import Path

import pytest
import yaml

from sapnet_ros.backends import BackendOptions
from sapnet_ros.cli.arguments import add_derain_arguments, derain_settings
from sapnet_ros.gate.rain_gate import GateSettings
from sapnet_ros.ros.parameters import DEFAULTS, SPECS, NodeConfig, parameter_name
from sapnet_ros.settings import DERAIN_OPTIONS, DerainSettings

CONFIG = Path(__file__).parents[1] / "config" / "derain.yaml"


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="test")
    add_derain_arguments(parser)
    return parser


def cli_settings(*argv: str) -> DerainSettings:
    tool = parser()
    return derain_settings(tool, tool.parse_args(list(argv)))


def test_every_derain_option_is_a_node_parameter_a_cli_flag_and_a_yaml_entry() -> None:
    documented = yaml.safe_load(CONFIG.read_text())["/**"]["ros__parameters"]
    flags = {action.dest: action for action in parser()._actions}
    for spec in DERAIN_OPTIONS:
        ros_name = parameter_name(spec.name)
        assert DEFAULTS[ros_name] == spec.default == documented[ros_name], spec.name
        assert SPECS[ros_name].description == spec.help and SPECS[ros_name].choices == spec.choices
        default = flags[spec.name].default
        assert default == spec.default or (default is False and spec.default is False), spec.name
        assert tuple(flags[spec.name].choices or ()) == spec.choices, spec.name


def test_defaults_give_the_same_settings_everywhere() -> None:
    declared = DerainSettings(options=BackendOptions(precision="auto", device="auto"))  # the tools' defaults
    assert cli_settings() == NodeConfig().derain_settings() == DerainSettings.from_values({}) == declared


def test_the_same_values_give_the_same_settings_from_node_and_cli() -> None:
    node = NodeConfig.from_values(
        {
            "backend": "onnxruntime",
            "onnx": __file__,
            "threads": 2,
            "max_side": 640,
            "fast_scale": 0.5,
            "rain_gate.enabled": True,
            "rain_gate.open_level": 0.7,
            "rain_gate.dwell_frames": 3,
        }
    ).derain_settings()
    cli = cli_settings(
        "--backend", "onnxruntime", "--onnx", __file__, "--threads", "2", "--max-side", "640", "--fast-scale", "0.5",
        "--rain-gate", "--rain-gate-open-level", "0.7", "--rain-gate-dwell-frames", "3",
    )  # fmt: skip
    assert (
        node
        == cli
        == DerainSettings(
            backend="onnxruntime",
            options=BackendOptions(onnx=Path(__file__), precision="auto", device="auto", threads=2),
            max_side=640,
            fast_scale=0.5,
            gate=GateSettings(open_level=0.7, dwell_frames=3),
        )
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--fast-scale", "0"], "outside [0.05, 1.0]"),
        (["--max-side", "-5"], "outside [0, 16384]"),
        (["--precision", "int4"], "invalid choice"),
        (["--rain-gate", "--rain-gate-open-level", "0.1"], "close_level < open_level"),
    ],
)
def test_bad_flags_end_in_one_usage_error(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        cli_settings(*argv)
    assert stopped.value.code == 2
    assert message in capsys.readouterr().err
