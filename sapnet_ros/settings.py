"""How to derain: one settings object, its options declared once.

Every consumer that derains (the node, ``sapnet-derain``, the bag evaluation,
the benchmark) describes *how* with a ``DerainSettings``: backend and its
options, processing size, fast mode and the rain gate. The options behind it
are declared once, in ``DERAIN_OPTIONS``; the node declares them as ROS
parameters (``ros/parameters.py``), the command-line tools as flags
(``cli/arguments.py``), and both turn the flat values back into settings with
``DerainSettings.from_values``. ``open_derainer`` (``derainer.py``) opens a
derainer, gate included, from one settings object.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sapnet_ros import resources
from sapnet_ros.backends import BACKENDS, OUTSIDE_PROFILE, PRECISION_CHOICES, BackendOptions
from sapnet_ros.gate.rain_gate import GateSettings
from sapnet_ros.io.headers import MAX_PIXELS

OptionValue = bool | int | float | str


@dataclass(frozen=True)
class OptionSpec:
    """One derain option as users see it: name, default, one line of help, allowed values.

    Attributes:
        name: the settings name, also the node's parameter field
            (``rain_gate_open_level`` is the ROS parameter ``rain_gate.open_level``).
        default: the default value; its type is the option's type ("" for a
            file means the shipped or derived default).
        help: one line for ``--help`` and ``ros2 param describe``.
        choices: allowed string values (empty: any).
        low, high: inclusive numeric range (None: unbounded).
        flag: the command-line flag.
        is_file: the value names a file that must exist when given.
    """

    name: str
    default: OptionValue
    help: str
    choices: tuple[str, ...] = ()
    low: float | None = None
    high: float | None = None
    flag: str = ""
    is_file: bool = False

    @property
    def cli_flag(self) -> str:
        return self.flag or "--" + self.name.replace("_", "-")


_GATE = GateSettings()
DERAIN_OPTIONS: tuple[OptionSpec, ...] = (
    OptionSpec("backend", "auto", "inference backend; auto takes the fastest one available", ("auto", *BACKENDS)),
    OptionSpec(
        "model",
        resources.DEFAULT_MODEL,
        "speed ladder rung: sapnet (best), sapnet-s (~3x faster), sapnet-xs (~6x), sapnet-xxs (~10x); models/README.md",
        resources.MODEL_NAMES,
    ),
    OptionSpec("weights", "", "SAPNet weights (.safetensors or official .pth); empty: the shipped ones", is_file=True),
    OptionSpec("onnx", "", "ONNX model for onnxruntime/tensorrt; empty: exported from the weights", is_file=True),
    OptionSpec("engine", "", "serialized TensorRT engine; empty: built and cached for this GPU"),
    OptionSpec(
        "precision", "auto", "inference precision; auto: the fastest whose measured quality holds", PRECISION_CHOICES
    ),
    OptionSpec("device", "auto", "auto (a GPU when one is visible), cpu, cuda or cuda:N"),
    OptionSpec("threads", 0, "CPU inference threads; 0: the library default", low=0, high=256),
    OptionSpec("outside_profile", "error", "TensorRT, frames outside the engine's size range", OUTSIDE_PROFILE),
    OptionSpec("cuda_graph", False, "TensorRT: replay one CUDA graph per frame (fixed camera size)"),
    OptionSpec("max_side", 0, "0: derain at native size; N: derain at most at longer side N", low=0, high=16384),
    OptionSpec(
        "max_pixels",
        MAX_PIXELS,
        "larger frames and files are refused before decoding (from their declared size: image bombs)",
        low=1,
        high=1 << 30,
    ),
    OptionSpec(
        "fast_scale", 1.0, "below 1: find the rain at this scale, remove it at full resolution", low=0.05, high=1.0
    ),
    OptionSpec(
        "rain_gate_enabled", False, "derain only while it rains: dry frames pass through untouched", flag="--rain-gate"
    ),
    OptionSpec("rain_gate_model", "", "rain estimator ONNX model; empty: the shipped one", is_file=True),
    OptionSpec("rain_gate_open_level", _GATE.open_level, "smoothed rain level at which the gate opens", low=0, high=1),
    OptionSpec(
        "rain_gate_close_level", _GATE.close_level, "smoothed rain level at which the gate closes", low=0, high=1
    ),
    OptionSpec(
        "rain_gate_smoothing",
        _GATE.smoothing,
        "weight of the newest rain level in the moving average",
        low=0.01,
        high=1.0,
    ),
    OptionSpec(
        "rain_gate_dwell_frames",
        _GATE.dwell_frames,
        "frames a gate holds a state before it may switch back",
        low=0,
        high=10000,
    ),
    OptionSpec(
        "rain_gate_fade_frames",
        _GATE.fade_frames,
        "frames of cross-fade between pass-through and derained",
        low=0,
        high=1000,
    ),
)
DEFAULTS: dict[str, OptionValue] = {spec.name: spec.default for spec in DERAIN_OPTIONS}


def optional_path(value: str) -> Path | None:
    """A file option as a path (``~`` expanded); None for empty, which means the default file."""
    return Path(value).expanduser() if value else None


@dataclass(frozen=True)
class DerainSettings:
    """How to derain.

    Constructed directly, the backend options default to exact fp32 on the
    CPU (``BackendOptions()``), as library code and tests want; the node and
    the command-line tools build settings with ``from_values``, whose defaults
    are the declared ones (precision and device ``auto``).

    Attributes:
        backend: ``auto`` or a name from ``BACKENDS``.
        options: the backend's model files, precision, device and threads.
        max_side: 0 derains at native size; otherwise at most at this longer side.
        max_pixels: frames and files with more pixels are refused before
            decoding (checked from the header of encoded images).
        fast_scale: below 1, fast mode (see ``Derainer``).
        gate: the rain gate's settings; None derains every frame.
        gate_model: the rain estimator's ONNX model; None: the shipped one.
    """

    backend: str = "auto"
    options: BackendOptions = field(default_factory=BackendOptions)
    max_side: int = 0
    max_pixels: int = MAX_PIXELS
    fast_scale: float = 1.0
    gate: GateSettings | None = None
    gate_model: Path | None = None

    @classmethod
    def from_values(cls, values: Mapping[str, OptionValue]) -> DerainSettings:
        """Settings from flat option values by ``DERAIN_OPTIONS`` name; missing ones take their default.

        Raises:
            ValueError: the rain gate's levels contradict each other.
        """

        def get(name: str) -> OptionValue:
            return values.get(name, DEFAULTS[name])

        options = BackendOptions(
            model=str(get("model")),
            weights=optional_path(str(get("weights"))),
            onnx=optional_path(str(get("onnx"))),
            engine=optional_path(str(get("engine"))),
            precision=str(get("precision")),
            device=str(get("device")),
            threads=int(get("threads")),
            outside_profile=str(get("outside_profile")),
            cuda_graph=bool(get("cuda_graph")),
        )
        gate = None
        if get("rain_gate_enabled"):
            gate = GateSettings(
                open_level=float(get("rain_gate_open_level")),
                close_level=float(get("rain_gate_close_level")),
                smoothing=float(get("rain_gate_smoothing")),
                dwell_frames=int(get("rain_gate_dwell_frames")),
                fade_frames=int(get("rain_gate_fade_frames")),
            )
        return cls(
            backend=str(get("backend")),
            options=options,
            max_side=int(get("max_side")),
            max_pixels=int(get("max_pixels")),
            fast_scale=float(get("fast_scale")),
            gate=gate,
            gate_model=optional_path(str(get("rain_gate_model"))),
        )
