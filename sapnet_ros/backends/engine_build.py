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
quantized (Q/DQ) graph made by ``sapnet_ros.model.quantize`` over rainy images, the
replacement NVIDIA gives for the deprecated INT8 calibrators; what lies
outside the Q/DQ pairs (the layers kept in float) then runs in fp32. Older
TensorRT 10 releases build weakly typed: fp16 with the FP16 flag, int8 from
the same Q/DQ graph with the INT8 and FP16 flags, so the float layers may run
in fp16 (``sapnet-bench``/``gpu_check`` compare int8 with fp16 either way).
fp32 always clears the TF32 flag (on by default): fp32 means fp32.

Everything here except ``build_engine``/``ensure_engine`` runs without
TensorRT or a GPU, so the cache and profile logic is tested anywhere.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any

from sapnet_ros.backends.cuda import cuda_call, runtime
from sapnet_ros.backends.engine_cache import (
    ENGINE_PRECISIONS,
    TIMING_CACHE_NAME,
    EngineKey,
    Profile,
    check_cached,
    format_size,
    has_qdq,
    parse_size,
    sidecar_path,
    uses_strong_typing,
    write_sidecar,
)
from sapnet_ros.commands import command
from sapnet_ros.errors import BackendError, SapnetError
from sapnet_ros.io.atomic import write_atomic
from sapnet_ros.model.artifacts import file_sha256, read_metadata

LOG = logging.getLogger(__name__)
TENSORRT_HINT = "desktop: pip install -r requirements/gpu.txt; Jetson: JetPack's python3-libnvinfer (docs/install.md)"


def import_tensorrt() -> ModuleType:
    """The ``tensorrt`` module, or BackendError saying why it cannot be imported and how to install it."""
    try:
        import tensorrt as trt
    except ImportError as err:
        raise BackendError(f"TensorRT is not installed ({err}); {TENSORRT_HINT}") from err
    return trt


def device_identity(device: int = 0) -> tuple[str, str]:
    """(GPU name, compute capability "major.minor") of CUDA device ``device``."""
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
    import onnx  # here: TensorRT parses files itself, and a Jetson may have no onnx package

    model = onnx.load(str(onnx_path))
    if precision == "int8" and not has_qdq(model):
        from sapnet_ros.model.quantize import CALIBRATION_IMAGES, calibration_batches, quantize_model

        LOG.info("int8: quantizing %s explicitly (Q/DQ, symmetric, for TensorRT)", onnx_path)
        return quantize_model(
            onnx_path, scratch / "int8.onnx", calibration_batches(calib, CALIBRATION_IMAGES), symmetric=True
        )
    if precision == "fp16" and strong:
        from sapnet_ros.model.graph import to_float16  # here only: graph.py needs PyTorch, a Jetson may not

        onnx.save(to_float16(model), str(scratch / "fp16.onnx"))
        return scratch / "fp16.onnx"
    return onnx_path


def set_precision_flags(trt: ModuleType, config: Any, precision: str, strong: bool) -> None:
    """Builder flags for ``precision``: TF32 off for fp32; weakly typed, FP16 (and INT8 for Q/DQ int8).

    Strongly typed networks take their types from the graph and refuse these
    flags, except TF32, which TensorRT enables by default.
    """
    if precision == "fp32" and hasattr(trt.BuilderFlag, "TF32"):
        config.clear_flag(trt.BuilderFlag.TF32)  # fp32 means fp32: TF32 convolutions drift by ~1e-3
    if strong:
        return
    if precision in ("fp16", "int8"):
        config.set_flag(trt.BuilderFlag.FP16)
    if precision == "int8":
        config.set_flag(trt.BuilderFlag.INT8)


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
    strong = uses_strong_typing(trt.__version__)
    cuda_call(runtime().cudaSetDevice(device))  # TensorRT builds on the current device
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
    set_precision_flags(trt, config, precision, strong)
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


@command("sapnet-build-engine")
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
