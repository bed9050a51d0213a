"""TensorRT engine cache keys, sidecars and shape profiles: everything about engines that needs no TensorRT.

An engine is only valid for the TensorRT version, GPU (name and compute
capability), precision, shape profile and ONNX file it was built from, so
each engine file is named by a digest of exactly those (``EngineKey``) and a
JSON sidecar beside it records them in clear. A cached engine whose sidecar
does not match is rebuilt with a loud log, never silently used. The builder
(``engine_build``) and the ONNX Runtime TensorRT provider both use this module.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sapnet_ros import __version__
from sapnet_ros.errors import BackendError
from sapnet_ros.io.atomic import write_atomic
from sapnet_ros.resources import cache_dir

if TYPE_CHECKING:  # only annotations: reading engine keys needs no onnx (a bare GPU check imports this)
    import onnx

ENGINE_PRECISIONS = ("fp32", "fp16", "int8")
STRONG_TYPING_SINCE = (10, 12)  # weak-typing builder flags deprecated from here on
TIMING_CACHE_NAME = "timing.cache"
Size = tuple[int, int]  # (height, width)


def parse_size(text: str) -> Size:
    """``"640x480"`` (WIDTHxHEIGHT, as cameras are named) -> (height, width) = (480, 640)."""
    match = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
    if not match or 0 in (int(match[1]), int(match[2])):
        raise ValueError(f"invalid size {text!r}; expected WIDTHxHEIGHT such as 640x480")
    return int(match[2]), int(match[1])


def format_size(size: Size) -> str:
    """(height, width) -> ``"WIDTHxHEIGHT"``."""
    return f"{size[1]}x{size[0]}"


@dataclass(frozen=True)
class Profile:
    """The range of input shapes an engine accepts: (height, width) per bound, and the largest batch.

    TensorRT tunes kernels for ``opt`` and accepts anything between ``min`` and
    ``max`` in each dimension; device buffers are sized for ``max``.
    """

    min: Size = (240, 320)
    opt: Size = (480, 640)
    max: Size = (1080, 1920)
    max_batch: int = 1

    def __post_init__(self) -> None:
        if self.max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {self.max_batch}")
        for low, high, names in ((self.min, self.opt, "min <= opt"), (self.opt, self.max, "opt <= max")):
            if min(low) < 1 or low[0] > high[0] or low[1] > high[1]:
                raise ValueError(
                    f"invalid profile: need {names} in both height and width, got min {format_size(self.min)}, "
                    f"opt {format_size(self.opt)}, max {format_size(self.max)}"
                )

    def shapes(self) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
        """(min, opt, max) NCHW shapes; the batch runs from 1, optimized for 1."""
        return (1, 3, *self.min), (1, 3, *self.opt), (self.max_batch, 3, *self.max)

    def contains(self, height: int, width: int) -> bool:
        return self.min[0] <= height <= self.max[0] and self.min[1] <= width <= self.max[1]

    def describe(self) -> str:
        return (
            f"min {format_size(self.min)}, opt {format_size(self.opt)}, max {format_size(self.max)}, "
            f"batch <= {self.max_batch}"
        )

    def as_dict(self) -> dict[str, Any]:
        return {"min": list(self.min), "opt": list(self.opt), "max": list(self.max), "max_batch": self.max_batch}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Profile:
        return cls(tuple(values["min"]), tuple(values["opt"]), tuple(values["max"]), int(values["max_batch"]))


def fit_size(height: int, width: int, profile: Profile) -> Size:
    """The size closest to (height, width) that ``profile`` accepts, keeping the aspect ratio where possible.

    Frames larger than ``max`` shrink, smaller than ``min`` grow, by one
    factor; a frame whose aspect ratio no size in the profile has is then
    clamped per dimension.
    """
    if profile.contains(height, width):
        return height, width
    shrink = min(profile.max[0] / height, profile.max[1] / width, 1.0)
    grow = max(profile.min[0] / height, profile.min[1] / width, 1.0)
    factor = shrink if shrink < 1.0 else grow
    fitted_h = min(max(round(height * factor), profile.min[0]), profile.max[0])
    fitted_w = min(max(round(width * factor), profile.min[1]), profile.max[1])
    return fitted_h, fitted_w


@dataclass(frozen=True)
class EngineKey:
    """Everything an engine depends on; its digest names the engine file."""

    tensorrt_version: str
    device_name: str
    compute_capability: str
    precision: str
    profile: Profile
    onnx_sha256: str

    def as_dict(self) -> dict[str, Any]:
        values = asdict(self)
        values["profile"] = self.profile.as_dict()
        return values

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> EngineKey:
        names = {field.name for field in fields(cls)}
        if set(values) != names:
            raise ValueError(f"engine key fields {sorted(values)} differ from {sorted(names)}")
        return cls(**{**values, "profile": Profile.from_dict(values["profile"])})

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.as_dict(), sort_keys=True).encode()).hexdigest()

    def file_name(self) -> str:
        return f"sapnet-{self.precision}-{self.digest()[:16]}.engine"

    def differences(self, engine: EngineKey) -> list[str]:
        """One ``field: engine X, wanted Y`` line for every field where ``engine`` differs from this key."""
        wanted, found = self.as_dict(), engine.as_dict()
        return [
            f"{name}: engine {found[name]}, wanted {wanted[name]}" for name in wanted if wanted[name] != found[name]
        ]


def sidecar_path(engine: Path) -> Path:
    return engine.with_suffix(".json")


def write_sidecar(engine: Path, key: EngineKey, extra: dict[str, Any] | None = None) -> Path:
    """Write ``engine``'s JSON sidecar atomically: the key, and ``extra`` (build time, ONNX metadata)."""
    path = sidecar_path(engine)
    document = {"key": key.as_dict(), "digest": key.digest(), "sapnet_ros_version": __version__, **(extra or {})}
    write_atomic(path, (json.dumps(document, indent=2, sort_keys=True) + "\n").encode())
    return path


def read_sidecar(engine: Path) -> tuple[EngineKey, dict[str, Any]]:
    """The key and full document of ``engine``'s sidecar.

    Raises:
        BackendError: the sidecar is missing or unreadable.
    """
    path = sidecar_path(engine)
    try:
        document = json.loads(path.read_text())
        return EngineKey.from_dict(document["key"]), document
    except FileNotFoundError as err:
        raise BackendError(f"{path}: engine sidecar not found") from err
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise BackendError(f"{path}: unreadable engine sidecar ({err})") from err


def check_cached(engine: Path, expected: EngineKey) -> str | None:
    """Why the engine file at ``engine`` cannot be used for ``expected`` (None: it can)."""
    if not engine.is_file():
        return "no engine file"
    try:
        found, _ = read_sidecar(engine)
    except BackendError as err:
        return str(err)
    differences = expected.differences(found)
    return f"built for a different setup ({'; '.join(differences)})" if differences else None


def uses_strong_typing(tensorrt_version: str) -> bool:
    """Whether to build strongly typed networks with this TensorRT (True from 10.12 on)."""
    parts = tuple(int(part) for part in re.findall(r"\d+", tensorrt_version)[:2])
    return parts >= STRONG_TYPING_SINCE


def has_qdq(model: onnx.ModelProto) -> bool:
    """Whether ``model`` is explicitly quantized (contains QuantizeLinear nodes)."""
    return any(node.op_type == "QuantizeLinear" for node in model.graph.node)


def engine_dir() -> Path:
    """Where engines built on demand are cached (``$XDG_CACHE_HOME/sapnet_ros/engines``)."""
    return cache_dir() / "engines"
