"""The derain node's parameters: names, defaults, ranges and checks, without ROS.

``NodeConfig`` is the typed configuration; each field's metadata carries what
the node declares to ROS (description, choices, range) and whether a change
takes effect at once (``live``) or at the next lifecycle configure.
``config/derain.yaml`` documents the same parameters for users, and a test
keeps the two equal.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from sapnet_ros.backends import BACKENDS, PRECISIONS, BackendOptions

ParameterValue = bool | int | float | str
RELIABILITIES = ("best_effort", "reliable")
DEVICE = re.compile(r"cpu|cuda(:\d+)?")


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
    """

    description: str
    choices: tuple[str, ...] = ()
    low: float | None = None
    high: float | None = None
    live: bool = False
    read_only: bool = False


def _param(default: ParameterValue, description: str, **spec: Any) -> Any:
    return field(default=default, metadata={"spec": ParameterSpec(description, **spec)})


@dataclass(frozen=True)
class NodeConfig:
    """Every parameter of ``derain_node`` with its default (see config/derain.yaml)."""

    # inference, read at configure
    backend: str = _param(
        "auto", "inference backend; auto takes the fastest one available", choices=("auto", *BACKENDS)
    )
    weights: str = _param("", "SAPNet weights (.safetensors or official .pth); empty: the shipped weights")
    onnx: str = _param("", "ONNX model for onnxruntime/tensorrt; empty: exported from the weights")
    engine: str = _param("", "serialized TensorRT engine; empty: built and cached for this GPU")
    precision: str = _param("fp32", "inference precision (each backend supports a subset)", choices=PRECISIONS)
    device: str = _param("cpu", "cpu, cuda or cuda:N")
    threads: int = _param(0, "CPU inference threads; 0: the library default", low=0, high=256)
    max_side: int = _param(
        0, "0: derain at native size; N: derain at most at longer side N, resize back", low=0, high=16384
    )
    # topics and QoS, read at configure
    input_transport: str = _param(
        "raw", "raw: subscribe image; compressed: subscribe image/compressed", choices=("raw", "compressed")
    )
    use_camera_info: bool = _param(True, "republish camera_info beside the output, stamp-matched")
    input_reliability: str = _param(
        "best_effort", "input QoS reliability (sensor data: best_effort)", choices=RELIABILITIES
    )
    input_depth: int = _param(1, "input QoS keep-last depth", low=1, high=100)
    output_reliability: str = _param("reliable", "output QoS reliability", choices=RELIABILITIES)
    output_depth: int = _param(5, "output QoS keep-last depth", low=1, high=100)
    diagnostics_period_s: float = _param(1.0, "seconds between /diagnostics messages", low=0.1, high=60.0)
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
        return cls(**values)  # type: ignore[arg-type]

    def backend_options(self) -> BackendOptions:
        return BackendOptions(
            weights=Path(self.weights).expanduser() if self.weights else None,
            onnx=Path(self.onnx).expanduser() if self.onnx else None,
            engine=Path(self.engine).expanduser() if self.engine else None,
            precision=self.precision,
            device=self.device,
            threads=self.threads,
        )


SPECS: dict[str, ParameterSpec] = {f.name: f.metadata["spec"] for f in fields(NodeConfig)}
DEFAULTS: dict[str, ParameterValue] = {f.name: f.default for f in fields(NodeConfig)}  # type: ignore[misc]


def check(name: str, value: object) -> str | None:
    """Why ``value`` is not acceptable for parameter ``name``, or None if it is."""
    spec = SPECS.get(name)
    if spec is None:
        return f"unknown parameter {name!r}; known: {', '.join(SPECS)}"
    expected = type(DEFAULTS[name])
    if type(value) is not expected:
        return f"{name} must be a {expected.__name__}, got {value!r}"
    if spec.choices and value not in spec.choices:
        return f"{name} {value!r} is not one of: {', '.join(spec.choices)}"
    bounded = spec.low is not None and spec.high is not None
    if bounded and isinstance(value, int | float) and not spec.low <= value <= spec.high:  # type: ignore[operator]
        return f"{name} {value!r} is outside [{spec.low}, {spec.high}]"
    if name in ("weights", "onnx") and value and not Path(str(value)).expanduser().is_file():
        return f"{name} {value!r}: file not found"
    if name == "device" and not DEVICE.fullmatch(str(value)):
        return f"device {value!r} is not cpu, cuda or cuda:N"
    return None
