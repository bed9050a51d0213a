"""TensorRT engine building, its cache key and sidecar; ``sapnet-build-engine``.

An engine is only valid for the TensorRT version, GPU (name and compute
capability), precision, shape profile and ONNX file it was built from, so
each engine file is named by a digest of exactly those (``EngineKey``) and a
JSON sidecar beside it records them in clear. A cached engine whose sidecar
does not match is rebuilt with a loud log, never silently used.

Precision follows TensorRT 10's direction: networks are *strongly typed* (the
types in the ONNX graph decide) wherever TensorRT deprecates the weak-typing
builder flags (10.12 and later; 11 removed them). fp16 then builds from an
fp16 copy of the graph (fp32 inputs and outputs kept), int8 from an explicitly
quantized (Q/DQ) graph made by ``sapnet_ros.quantize`` over rainy images, the
replacement NVIDIA gives for the deprecated INT8 calibrators. Older TensorRT 10
releases build fp16 with the FP16 builder flag.

Everything here except ``build_engine``/``ensure_engine`` runs without
TensorRT or a GPU, so the cache and profile logic is tested anywhere.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import re
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from types import ModuleType
from typing import Any

import onnx

from sapnet_ros import __version__
from sapnet_ros.errors import BackendError, SapnetError
from sapnet_ros.export import cache_dir, read_metadata
from sapnet_ros.graph import to_float16
from sapnet_ros.images import write_atomic
from sapnet_ros.weights import file_sha256

LOG = logging.getLogger(__name__)

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


# --- everything below needs TensorRT and a GPU ---------------------------------------------------


def import_tensorrt() -> ModuleType:
    """The ``tensorrt`` module, or BackendError saying why it cannot be imported."""
    try:
        import tensorrt as trt
    except ImportError as err:
        raise BackendError(f"TensorRT is not installed ({err}); install the tensorrt wheel or JetPack") from err
    return trt


def device_identity(device: int = 0) -> tuple[str, str]:
    """(GPU name, compute capability "major.minor") of CUDA device ``device``."""
    from sapnet_ros.backends.cuda import cuda_call, runtime

    cudart = runtime()
    properties = cuda_call(cudart.cudaGetDeviceProperties(device))
    name = properties.name.decode() if isinstance(properties.name, bytes) else str(properties.name)
    return name.strip("\x00 "), f"{properties.major}.{properties.minor}"


def engine_key(
    onnx_path: Path, precision: str, profile: Profile, device: int = 0, onnx_sha256: str | None = None
) -> EngineKey:
    """The key of an engine for ``onnx_path`` on this machine's TensorRT and GPU ``device``.

    ``onnx_sha256``: the file's hash when the caller already knows it (hashing is not free on a Jetson).
    """
    trt = import_tensorrt()
    name, capability = device_identity(device)
    sha256 = onnx_sha256 or file_sha256(onnx_path)
    return EngineKey(trt.__version__, name, capability, precision, profile, sha256)


def _progress_monitor(trt: ModuleType) -> Any:
    """A ``trt.IProgressMonitor`` that logs phases and, at most every 10 s, their steps."""

    class LoggingProgress(trt.IProgressMonitor):  # type: ignore[name-defined]
        def __init__(self) -> None:
            trt.IProgressMonitor.__init__(self)
            self._last_log = 0.0

        def phase_start(self, phase_name: str, parent_phase: str | None, num_steps: int) -> None:
            if parent_phase is None:
                LOG.info("TensorRT build: %s (%d steps)", phase_name, num_steps)

        def step_complete(self, phase_name: str, step: int) -> bool:
            now = time.monotonic()
            if now - self._last_log > 10.0:
                LOG.info("TensorRT build: %s, step %d", phase_name, step + 1)
                self._last_log = now
            return True  # never cancel

        def phase_finish(self, phase_name: str) -> None:
            LOG.debug("TensorRT build: %s done", phase_name)

    return LoggingProgress()


def _network_onnx(onnx_path: Path, precision: str, strong: bool, calib: Path | None, scratch: Path) -> Path:
    """The ONNX file TensorRT parses for ``precision``: as given, an fp16 copy, or a Q/DQ-quantized copy."""
    model = onnx.load(str(onnx_path))
    if precision == "int8" and not has_qdq(model):
        from sapnet_ros.quantize import quantize_model

        LOG.info("int8: quantizing %s explicitly (Q/DQ, symmetric, for TensorRT)", onnx_path)
        return quantize_model(onnx_path, scratch / "int8.onnx", calib_dir=calib, symmetric=True)
    if precision == "fp16" and strong:
        onnx.save(to_float16(model), str(scratch / "fp16.onnx"))
        return scratch / "fp16.onnx"
    return onnx_path


def _load_timing_cache(config: Any, path: Path) -> Any:
    blob = path.read_bytes() if path.is_file() else b""
    cache = config.create_timing_cache(blob)
    if not config.set_timing_cache(cache, ignore_mismatch=False):
        LOG.warning("timing cache %s is from another TensorRT or GPU; starting a fresh one", path)
        cache = config.create_timing_cache(b"")
        config.set_timing_cache(cache, ignore_mismatch=False)
    return cache


def build_engine(
    onnx_path: Path,
    output_dir: Path,
    precision: str = "fp16",
    profile: Profile | None = None,
    calib: Path | None = None,
    device: int = 0,
    workspace_gib: float = 0.0,
    key: EngineKey | None = None,
) -> Path:
    """Build a TensorRT engine for ``onnx_path`` into ``output_dir``; returns the engine path.

    The engine is named by its ``EngineKey`` (``key``, when the caller has
    computed it for these arguments); a JSON sidecar and the shared timing
    cache (``timing.cache``) are written beside it. Builds take minutes on a
    Jetson: progress is logged.

    Raises:
        BackendError: TensorRT or CUDA is missing, the ONNX does not parse, or the build fails.
    """
    if precision not in ENGINE_PRECISIONS:
        raise BackendError(f"unknown engine precision {precision!r}; choose one of: {', '.join(ENGINE_PRECISIONS)}")
    profile = profile or Profile()
    trt = import_tensorrt()
    key = key or engine_key(onnx_path, precision, profile, device)
    output_dir.mkdir(parents=True, exist_ok=True)
    engine_path = output_dir / key.file_name()
    strong = uses_strong_typing(trt.__version__) or precision == "int8"
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    flags = 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED) if strong else 0
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as scratch:
        source = _network_onnx(onnx_path, precision, strong, calib, Path(scratch))
        if not parser.parse_from_file(str(source)):
            errors = "; ".join(str(parser.get_error(index)) for index in range(parser.num_errors))
            raise BackendError(f"{onnx_path}: TensorRT cannot parse it ({errors})")
    inputs = [network.get_input(index) for index in range(network.num_inputs)]
    if len(inputs) != 1 or len(inputs[0].shape) != 4:
        raise BackendError(f"{onnx_path}: expected one 4-D input, got {[tuple(i.shape) for i in inputs]}")
    config = builder.create_builder_config()
    if workspace_gib > 0:
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_gib * (1 << 30)))
    if precision == "fp16" and not strong:
        config.set_flag(trt.BuilderFlag.FP16)
    if precision == "fp32" and hasattr(trt.BuilderFlag, "TF32"):
        config.clear_flag(trt.BuilderFlag.TF32)  # fp32 means fp32: TF32 convolutions drift by ~1e-3
    optimization = builder.create_optimization_profile()
    optimization.set_shape(inputs[0].name, *profile.shapes())
    config.add_optimization_profile(optimization)
    monitor = _progress_monitor(trt)  # kept referenced until the build ends
    config.progress_monitor = monitor
    timing_path = output_dir / TIMING_CACHE_NAME
    timing_cache = _load_timing_cache(config, timing_path)
    LOG.info(
        "building %s engine for %s on %s (sm %s), TensorRT %s, %s typing, profile %s: this takes minutes",
        precision,
        onnx_path.name,
        key.device_name,
        key.compute_capability,
        key.tensorrt_version,
        "strong" if strong else "weak",
        profile.describe(),
    )
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise BackendError(f"{onnx_path}: TensorRT engine build failed (see the TensorRT messages above)")
    write_atomic(engine_path, bytes(memoryview(serialized)))
    write_atomic(timing_path, bytes(memoryview(timing_cache.serialize())))
    metadata = read_metadata(onnx_path)
    write_sidecar(
        engine_path,
        key,
        {
            "onnx": str(onnx_path),
            "onnx_metadata": metadata,
            "strongly_typed": strong,
            "build_seconds": round(time.monotonic() - started, 1),
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        },
    )
    LOG.info("built %s in %.0f s", engine_path, time.monotonic() - started)
    return engine_path


def ensure_engine(
    onnx_path: Path, output_dir: Path, precision: str, profile: Profile | None = None, device: int = 0
) -> Path:
    """A usable engine for these settings: the cached one if its key matches, else a fresh build."""
    profile = profile or Profile()
    key = engine_key(onnx_path, precision, profile, device)
    candidate = output_dir / key.file_name()
    reason = check_cached(candidate, key)
    if reason is None:
        return candidate
    if candidate.exists():
        LOG.warning("REBUILDING TensorRT engine %s: %s", candidate, reason)
    return build_engine(onnx_path, output_dir, precision, profile, device=device, key=key)


def main(argv: list[str] | None = None) -> int:
    default = Profile()
    parser = argparse.ArgumentParser(
        prog="sapnet-build-engine",
        description="Build a TensorRT engine from the SAPNet ONNX model for this GPU. "
        "Sizes are WIDTHxHEIGHT; the engine accepts any size between --min and --max.",
        epilog="examples:\n  sapnet-build-engine --onnx models/sapnet.onnx --output models/ --precision fp16\n"
        "  sapnet-build-engine --onnx models/sapnet.onnx --output models/ --opt 1280x720 --max 1920x1080\n"
        "  sapnet-build-engine --onnx models/sapnet.onnx --output models/ --precision int8 --calib rainy_frames/",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--onnx", type=Path, required=True, help="the ONNX model (fp32, or Q/DQ for int8)")
    parser.add_argument(
        "--output", type=Path, required=True, help="folder for the engine, its sidecar and timing cache"
    )
    parser.add_argument("--precision", default="fp16", choices=ENGINE_PRECISIONS, help="default: %(default)s")
    parser.add_argument("--min", default=format_size(default.min), help="smallest frame (default: %(default)s)")
    parser.add_argument("--opt", default=format_size(default.opt), help="frame size to tune for (default: %(default)s)")
    parser.add_argument("--max", default=format_size(default.max), help="largest frame (default: %(default)s)")
    parser.add_argument("--max-batch", type=int, default=1, help="largest batch, e.g. one per camera (default: 1)")
    parser.add_argument("--calib", type=Path, default=None, help="int8: folder of rainy images to calibrate on")
    parser.add_argument("--device", type=int, default=0, help="CUDA device index (default: 0)")
    parser.add_argument("--workspace", type=float, default=0.0, help="builder workspace limit, GiB; 0 = TensorRT's")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    try:
        profile = Profile(parse_size(args.min), parse_size(args.opt), parse_size(args.max), args.max_batch)
        if not args.onnx.is_file():
            raise BackendError(f"{args.onnx}: ONNX file not found")
        path = build_engine(args.onnx, args.output, args.precision, profile, args.calib, args.device, args.workspace)
    except (SapnetError, ValueError) as err:
        parser.exit(2, f"sapnet-build-engine: error: {err}\n")
    print(f"wrote {path} and {sidecar_path(path).name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
