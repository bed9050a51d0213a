"""The node's parameter schema: checks with reasons, and config/derain.yaml documenting exactly it."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from sapnet_ros.backends import BACKENDS, PRECISIONS, BackendOptions
from sapnet_ros.ros.node import describe
from sapnet_ros.ros.parameters import DEFAULTS, SPECS, NodeConfig, check, unknown

CONFIG = Path(__file__).parents[2] / "config" / "derain.yaml"


def test_config_file_documents_every_parameter_with_its_default() -> None:
    documented = yaml.safe_load(CONFIG.read_text())["/**"]["ros__parameters"]
    assert documented == DEFAULTS  # same names, same values, same types
    text = CONFIG.read_text()
    for name in SPECS:
        assert f"    {name}: " in text and "#" in text.split(f"    {name}: ", 1)[1].split("\n", 1)[0], name


def test_choices_come_from_the_backend_registry() -> None:
    assert SPECS["backend"].choices == ("auto", *BACKENDS)
    assert SPECS["precision"].choices == ("auto", *PRECISIONS)


@pytest.mark.parametrize(
    ("name", "value", "reason"),
    [
        ("backend", "nope", "backend 'nope' is not one of: auto, "),
        ("precision", "fp8", "precision 'fp8' is not one of: auto, fp32, "),
        ("jpeg_quality", 101, "jpeg_quality 101 is outside [1, 100]"),
        ("max_rate_hz", -1.0, "max_rate_hz -1.0 is outside [0.0, 1000.0]"),
        ("max_rate_hz", 5, "max_rate_hz must be a float, got 5"),
        ("use_camera_info", 1, "use_camera_info must be a bool, got 1"),
        ("weights", "/no/such/file.safetensors", "weights '/no/such/file.safetensors': file not found"),
        ("device", "gpu0", "device 'gpu0' is not auto, cpu, cuda or cuda:N"),
        ("colour", "red", "unknown parameter 'colour'; see config/derain.yaml"),
        ("backnd", "torch", "unknown parameter 'backnd' (did you mean 'backend'?)"),
    ],
)
def test_bad_values_are_refused_with_the_reason(name: str, value: object, reason: str) -> None:
    problem = check(name, value)
    assert problem is not None and problem.startswith(reason), problem


@pytest.mark.parametrize(
    ("name", "value"), [("backend", "torch"), ("device", "cuda:1"), ("max_side", 0), ("weights", __file__)]
)
def test_good_values_pass(name: str, value: object) -> None:
    assert check(name, value) is None


def test_unknown_names_get_the_nearest_known_one() -> None:
    assert unknown(["backend", "max_side"]) is None
    assert unknown(["max_sdie", "rain_gate.enable", "zzz"]) == (
        "unknown parameters 'max_sdie' (did you mean 'max_side'?), 'rain_gate.enable' (did you mean "
        "'rain_gate.enabled'?), 'zzz'; see config/derain.yaml"
    )


def test_config_builds_backend_options() -> None:
    config = NodeConfig.from_values({"backend": "torch", "threads": 2, "onnx": __file__})
    assert config.derain_settings().options == BackendOptions(
        onnx=Path(__file__), precision="auto", device="auto", threads=2
    )
    with pytest.raises(ValueError, match="threads -1 is outside"):
        NodeConfig.from_values({"threads": -1})


def test_descriptors_carry_ranges_choices_and_when_a_change_applies() -> None:
    quality = describe("jpeg_quality", SPECS["jpeg_quality"])
    assert (quality.integer_range[0].from_value, quality.integer_range[0].to_value) == (1, 100)
    assert quality.additional_constraints == ""  # live
    rate = describe("max_rate_hz", SPECS["max_rate_hz"])
    assert rate.floating_point_range[0].to_value == 1000.0
    backend = describe("backend", SPECS["backend"])
    assert (
        backend.additional_constraints.startswith("one of: auto, ")
        and "read at configure" in backend.additional_constraints
    )
    assert describe("managed", SPECS["managed"]).read_only


def test_av_profile_keeps_the_rain_gate_off_and_sets_only_known_parameters() -> None:
    profile = yaml.safe_load((CONFIG.parent / "derain_av.yaml").read_text())["/**"]["ros__parameters"]
    assert profile["rain_gate.enabled"] is False  # the estimator misses too much unseen rain (issue 13)
    assert all(check(name, value) is None for name, value in profile.items())


def test_grouped_parameters_are_declared_with_dots_and_build_the_gate_settings() -> None:
    assert "rain_gate.enabled" in SPECS and DEFAULTS["rain_gate.enabled"] is False
    assert NodeConfig().derain_settings().gate is None
    config = NodeConfig.from_values({"rain_gate.enabled": True, "rain_gate.fade_frames": 3})
    settings = config.derain_settings().gate
    assert settings is not None and (settings.fade_frames, settings.open_level) == (3, 0.6)
    contradicting = config.updated({"rain_gate.open_level": 0.2})
    with pytest.raises(ValueError, match="close_level < open_level"):
        contradicting.derain_settings()


def test_cameras_are_relative_namespaces_listed_once() -> None:
    config = NodeConfig.from_values({"cameras": ["front", "car/rear"]})
    assert config.cameras == ("front", "car/rear") and config.camera_names() == ["front", "car/rear"]
    assert NodeConfig().camera_names() == [""]
    assert check("cameras", ["/front"]) == "cameras: '/front' is not a relative namespace like 'front' or 'car/front'"
    assert check("cameras", ["front", "front"]) == "cameras: 'front' is listed twice"
    assert check("cameras", "front") == "cameras must be a list, got 'front'"
