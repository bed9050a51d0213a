"""The derain node's parameters: names, defaults, ranges and checks, without ROS.

``NodeConfig`` is the typed configuration; each field's metadata carries what
the node declares to ROS (description, choices, range) and whether a change
takes effect at once (``live``) or at the next lifecycle configure. Fields of a
group are named ``<group>_<name>`` and declared as ``<group>.<name>`` (e.g.
``rain_gate.enabled``), as ROS nests parameters.
The options that say how to derain (backend, model files, sizes, rain gate)
are declared once, in ``settings.DERAIN_OPTIONS``, and taken from there.
``config/derain.yaml`` documents the same parameters for users, and a test
keeps the two equal.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from sapnet_ros.settings import DERAIN_OPTIONS, DerainSettings

ParameterValue = bool | int | float | str | list[str]
RELIABILITIES = ("best_effort", "reliable")
DEVICE = re.compile(r"auto|cpu|cuda(:\d+)?")
CAMERA_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*(/[A-Za-z][A-Za-z0-9_]*)*")  # a relative ROS namespace
GROUPS = ("rain_gate",)


@dataclass(frozen=True)
class ParameterSpec:
    """What the node declares for one parameter.

    Attributes:
        description: one line for ``ros2 param describe``.
        choices: allowed string values (empty: any).
        low, high: inclusive numeric range (None: unbounded).
        live: takes effect at once; otherwise read at configure and refused
            while the node is configured.
        read_only: set once at startup (``--ros-args -p``/params file).
        is_file: a non-empty value names a file that must exist.
    """

    description: str
    choices: tuple[str, ...] = ()
    low: float | None = None
    high: float | None = None
    live: bool = False
    read_only: bool = False
    is_file: bool = False


def _param(default: ParameterValue | tuple[str, ...], description: str, **spec: Any) -> Any:
    return field(default=default, metadata={"spec": ParameterSpec(description, **spec)})


_DERAIN = {spec.name: spec for spec in DERAIN_OPTIONS}


def _derain(name: str) -> Any:
    """A field for derain option ``name``, declared once in ``settings.DERAIN_OPTIONS``."""
    spec = _DERAIN[name]
    return _param(spec.default, spec.help, choices=spec.choices, low=spec.low, high=spec.high, is_file=spec.is_file)


def parameter_name(field_name: str) -> str:
    """The ROS name of a config field: ``rain_gate_enabled`` -> ``rain_gate.enabled``."""
    group = next((g for g in GROUPS if field_name.startswith(f"{g}_")), None)
    return f"{group}.{field_name.removeprefix(f'{group}_')}" if group else field_name


@dataclass(frozen=True)
class NodeConfig:
    """Every parameter of ``derain_node`` with its default (see config/derain.yaml)."""

    # how to derain (settings.DERAIN_OPTIONS), read at configure
    backend: str = _derain("backend")
    model: str = _derain("model")
    weights: str = _derain("weights")
    onnx: str = _derain("onnx")
    engine: str = _derain("engine")
    precision: str = _derain("precision")
    device: str = _derain("device")
    threads: int = _derain("threads")
    outside_profile: str = _derain("outside_profile")
    cuda_graph: bool = _derain("cuda_graph")
    max_side: int = _derain("max_side")
    max_pixels: int = _derain("max_pixels")
    fast_scale: float = _derain("fast_scale")
    rain_gate_enabled: bool = _derain("rain_gate_enabled")
    rain_gate_model: str = _derain("rain_gate_model")
    rain_gate_open_level: float = _derain("rain_gate_open_level")
    rain_gate_close_level: float = _derain("rain_gate_close_level")
    rain_gate_smoothing: float = _derain("rain_gate_smoothing")
    rain_gate_dwell_frames: int = _derain("rain_gate_dwell_frames")
    rain_gate_fade_frames: int = _derain("rain_gate_fade_frames")
    # topics and QoS, read at configure
    input_transport: str = _param(
        "raw", "raw: subscribe image; compressed: subscribe image/compressed", choices=("raw", "compressed")
    )
    use_camera_info: bool = _param(True, "republish camera_info beside the output, stamp-matched")
    input_reliability: str = _param(
        "auto",
        "input QoS reliability; auto: reliable when every publisher is, else best_effort (as rosbag2)",
        choices=("auto", *RELIABILITIES),
    )
    input_depth: int = _param(1, "input QoS keep-last depth", low=1, high=100)
    output_reliability: str = _param("reliable", "output QoS reliability", choices=RELIABILITIES)
    output_depth: int = _param(5, "output QoS keep-last depth", low=1, high=100)
    diagnostics_period_s: float = _param(1.0, "seconds between /diagnostics messages", low=0.1, high=60.0)
    # cameras, read at configure
    cameras: tuple[str, ...] = _param(
        (), "camera namespaces served by this node, e.g. [front, rear]; empty: one camera on image, camera_info"
    )
    max_batch: int = _param(4, "at most this many cameras' frames of equal size in one inference call", low=1, high=64)
    lazy: bool = _param(
        False, "subscribe to a camera only while its outputs have subscribers (idle cameras cost nothing)"
    )
    # take effect at once
    max_rate_hz: float = _param(
        0.0, "at most this many frames per second; 0: as fast as inference allows", low=0.0, high=1000.0, live=True
    )
    publish_compressed: bool = _param(False, "also publish image_derained/compressed", live=True)
    compressed_format: str = _param(
        "jpeg", "format of image_derained/compressed (16-bit or alpha: png)", choices=("jpeg", "png"), live=True
    )
    jpeg_quality: int = _param(90, "JPEG quality of image_derained/compressed", low=1, high=100, live=True)
    # startup
    managed: bool = _param(
        False, "wait for a lifecycle manager instead of configuring and activating at start", read_only=True
    )

    @classmethod
    def from_values(cls, values: Mapping[str, ParameterValue]) -> NodeConfig:
        """Build a config from parameter values; unknown names or bad values raise ValueError."""
        problems = [check(name, value) for name, value in values.items()]
        reasons = [reason for reason in problems if reason]
        if reasons:
            raise ValueError("; ".join(reasons))
        return cls().updated(values)

    def updated(self, values: Mapping[str, ParameterValue]) -> NodeConfig:
        """This config with parameters (by ROS name) replaced; values are not checked here."""
        changes = {FIELDS[name]: tuple(value) if isinstance(value, list) else value for name, value in values.items()}
        return replace(self, **changes)  # type: ignore[arg-type]

    def derain_settings(self) -> DerainSettings:
        """How to derain, from the derain options; ValueError if the rain gate's levels contradict each other."""
        return DerainSettings.from_values({spec.name: getattr(self, spec.name) for spec in DERAIN_OPTIONS})

    def camera_names(self) -> list[str]:
        """The cameras to serve: the configured namespaces, or "" for the single-camera layout."""
        return list(self.cameras) or [""]


FIELDS: dict[str, str] = {parameter_name(f.name): f.name for f in fields(NodeConfig)}  # ROS name -> field
SPECS: dict[str, ParameterSpec] = {parameter_name(f.name): f.metadata["spec"] for f in fields(NodeConfig)}
DEFAULTS: dict[str, ParameterValue] = {
    parameter_name(f.name): list(f.default) if isinstance(f.default, tuple) else f.default  # type: ignore[misc]
    for f in fields(NodeConfig)
}


def unknown(names: Iterable[str]) -> str | None:
    """Why parameters ``names`` are refused (each unknown one with the nearest known name), or None."""
    problems = []
    for name in names:
        if name in SPECS:
            continue
        nearest = difflib.get_close_matches(name, SPECS, n=1, cutoff=0.6)
        problems.append(f"{name!r} (did you mean {nearest[0]!r}?)" if nearest else repr(name))
    if not problems:
        return None
    return f"unknown parameter{'s' if len(problems) > 1 else ''} {', '.join(problems)}; see config/derain.yaml"


def check(name: str, value: object) -> str | None:
    """Why ``value`` is not acceptable for parameter ``name``, or None if it is."""
    spec = SPECS.get(name)
    if spec is None:
        return unknown([name])
    expected = type(DEFAULTS[name])
    if type(value) is not expected:
        return f"{name} must be a {expected.__name__}, got {value!r}"
    if spec.choices and value not in spec.choices:
        return f"{name} {value!r} is not one of: {', '.join(spec.choices)}"
    bounded = spec.low is not None and spec.high is not None
    if bounded and isinstance(value, int | float) and not spec.low <= value <= spec.high:  # type: ignore[operator]
        return f"{name} {value!r} is outside [{spec.low}, {spec.high}]"
    if spec.is_file and value and not Path(str(value)).expanduser().is_file():
        return f"{name} {value!r}: file not found"
    if name == "device" and not DEVICE.fullmatch(str(value)):
        return f"device {value!r} is not auto, cpu, cuda or cuda:N"
    if name == "cameras":
        return _check_cameras(value)  # type: ignore[arg-type]
    return None


def _check_cameras(names: list[object]) -> str | None:
    bad = [name for name in names if not isinstance(name, str) or not CAMERA_NAME.fullmatch(name)]
    if bad:
        return f"cameras: {bad[0]!r} is not a relative namespace like 'front' or 'car/front'"
    twice = sorted({str(name) for name in names if names.count(name) > 1})
    return f"cameras: {twice[0]!r} is listed twice" if twice else None
