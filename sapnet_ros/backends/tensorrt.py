"""TensorRT backend: the production path on Jetson and desktop NVIDIA GPUs.

One engine, one execution context, one CUDA stream. Device buffers and pinned
host buffers are allocated once, for the profile's largest shape, so a frame
costs two asynchronous copies and one ``execute_async_v3``. Tensor names,
shapes and types are read from the engine (name-based I/O, TensorRT 10),
logged at load and checked. The CUDA runtime is cuda-python (see ``cuda.py``),
made current on whichever thread calls ``infer`` — the node's worker thread.

Engines come from ``options.engine`` or are built once per machine into the
engine cache (``engine.ensure_engine``); one that does not deserialize, or
whose sidecar key does not match this TensorRT/GPU, is rebuilt with a loud log.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import numpy as np

from sapnet_ros.backends import BackendInfo, BackendOptions
from sapnet_ros.backends.base import BackendBase, onnx_model
from sapnet_ros.backends.cuda import PinnedBuffer, cuda_call, device_index, gpu_unavailable_reason, runtime
from sapnet_ros.backends.engine_build import build_engine, engine_key, ensure_engine, import_tensorrt
from sapnet_ros.backends.engine_cache import EngineKey, Profile, check_cached, engine_dir, fit_size, read_sidecar
from sapnet_ros.errors import BackendError
from sapnet_ros.model.artifacts import file_sha256, int8_model_path

LOG = logging.getLogger(__name__)


class TensorRTBackend(BackendBase):
    """Runs a serialized TensorRT engine on one CUDA stream."""

    name = "tensorrt"
    precisions = ("fp32", "fp16", "int8")

    def __init__(self, options: BackendOptions) -> None:
        super().__init__(options)
        device = options.device if options.device.startswith("cuda") else "cuda"
        self._device = device_index(device, "TensorRT")
        self._engine: Any = None
        self._context: Any = None
        self._stream: Any = None
        self._input = self._output = ""
        self._profile = Profile()
        self._buffers: dict[str, PinnedBuffer] = {}
        self._shape: tuple[int, ...] = ()
        self._graph: Any = None
        self._thread = -1

    @classmethod
    def auto_precision(cls, options: BackendOptions) -> str:
        """fp16: tensor-core speed at a PSNR against fp32 far above what the eye or a detector notices."""
        return "fp16"

    @classmethod
    def unavailable_reason(cls, options: BackendOptions) -> str | None:
        if options.device == "cpu" and options.engine is None:
            return "device is cpu (TensorRT needs --device cuda or an --engine)"
        try:
            import_tensorrt()
            runtime()
        except BackendError as err:
            return str(err)
        reason = gpu_unavailable_reason()
        if reason is not None:
            return reason
        return super().unavailable_reason(options)

    def _source_onnx(self) -> Path:
        """The ONNX to build from: the one given, else the weights' export, for int8 their Q/DQ model."""
        if self.options.onnx is not None:
            return self.options.onnx
        if self.precision == "int8":
            found = int8_model_path(self.options.weights, symmetric=True)
            if found is not None:
                return found[0]
            from sapnet_ros.model.quantize import symmetric_int8_model  # quantizing needs PyTorch

            return symmetric_int8_model(self.options.weights)
        return onnx_model(self.options.weights)

    def _engine_path(self) -> Path:
        """The engine to load: the one given (rebuilt if its key is stale) or one from the cache."""
        if self.options.engine is None:
            return ensure_engine(self._source_onnx(), engine_dir(), self.precision, self._profile, self._device)
        engine = self.options.engine
        try:
            found, document = read_sidecar(engine)
        except BackendError as err:
            LOG.warning("%s; cannot check the engine against this machine, using it as given", err)
            return engine
        self.precision, self._profile = found.precision, found.profile  # the engine's, whatever was asked
        recorded = Path(document.get("onnx", ""))
        named_model = self.options.onnx is not None or self.options.weights is not None
        if named_model:  # the engine must be of that model
            source = self._source_onnx()
            here = engine_key(source, found.precision, found.profile, self._device)
        else:  # the engine must be of the model it was built from
            source = recorded
            here = engine_key(recorded, found.precision, found.profile, self._device, onnx_sha256=found.onnx_sha256)
        reason = check_cached(engine, here)
        if reason is None:
            return engine
        LOG.error("REBUILDING TensorRT engine %s: %s", engine, reason)
        key: EngineKey | None = here
        if not named_model and not (recorded.is_file() and file_sha256(recorded) == found.onnx_sha256):
            source, key = self._source_onnx(), None  # the recorded model is gone or changed: the default one
        return build_engine(source, engine.parent, found.precision, found.profile, device=self._device, key=key)

    def _deserialize(self, trt: Any, runtime_: Any, path: Path) -> Any:
        engine = runtime_.deserialize_cuda_engine(path.read_bytes()) if path.is_file() else None
        if engine is not None:
            return engine
        LOG.error("REBUILDING TensorRT engine %s: it does not deserialize with TensorRT %s", path, trt.__version__)
        rebuilt = build_engine(self._source_onnx(), path.parent, self.precision, self._profile, device=self._device)
        engine = runtime_.deserialize_cuda_engine(rebuilt.read_bytes())
        if engine is None:
            raise BackendError(f"{rebuilt}: freshly built engine does not deserialize")
        return engine

    def load(self) -> None:
        trt = import_tensorrt()
        cudart = runtime()
        cuda_call(cudart.cudaSetDevice(self._device))
        path = self._engine_path()
        logger = trt.Logger(trt.Logger.WARNING)
        self._engine = self._deserialize(trt, trt.Runtime(logger), path)
        self._bind_io(trt)
        self._context = self._engine.create_execution_context()
        self._stream = cuda_call(cudart.cudaStreamCreate())
        shapes = self._engine.get_tensor_profile_shape(self._input, 0)  # (min, opt, max) NCHW
        minimum, optimum, maximum = (tuple(shape) for shape in shapes)
        self._profile = Profile(minimum[2:], optimum[2:], maximum[2:], maximum[0])
        count = int(np.prod(maximum))  # input and output are both (B, 3, H, W)
        self._buffers = {self._input: PinnedBuffer(count), self._output: PinnedBuffer(count)}
        for tensor, buffer in self._buffers.items():
            self._context.set_tensor_address(tensor, buffer.device_pointer)
        self._thread = threading.get_ident()
        sha = _weights_sha(path)
        self._info = BackendInfo(self.name, f"cuda:{self._device}", self.precision, sha)
        LOG.info(
            "tensorrt %s: %s, input %s, output %s, profile %s",
            trt.__version__,
            path,
            self._input,
            self._output,
            self._profile.describe(),
        )

    def _bind_io(self, trt: Any) -> None:
        """Find the one input and one output by name and check they are float32 4-D."""
        names = [self._engine.get_tensor_name(index) for index in range(self._engine.num_io_tensors)]
        modes = {name: self._engine.get_tensor_mode(name) for name in names}
        inputs = [name for name in names if modes[name] == trt.TensorIOMode.INPUT]
        outputs = [name for name in names if modes[name] == trt.TensorIOMode.OUTPUT]
        if len(inputs) != 1 or len(outputs) != 1:
            raise BackendError(f"engine has inputs {inputs} and outputs {outputs}; expected one of each")
        for name in names:
            dtype, shape = self._engine.get_tensor_dtype(name), tuple(self._engine.get_tensor_shape(name))
            if dtype != trt.DataType.FLOAT or len(shape) != 4:
                raise BackendError(f"engine tensor {name!r} is {dtype} {shape}; expected float32 (B, 3, H, W)")
        self._input, self._output = inputs[0], outputs[0]

    def fit_size(self, height: int, width: int) -> tuple[int, int]:
        """The size to run a (height, width) frame at: itself if the profile takes it.

        Raises:
            BackendError: outside the profile and ``options.outside_profile`` is "error".
        """
        if self._profile.contains(height, width) or self.options.outside_profile == "resize":
            return fit_size(height, width, self._profile)
        raise BackendError(
            f"frame {width}x{height} is outside the engine profile ({self._profile.describe()}); "
            "rebuild with sapnet-build-engine --min/--max, or set outside_profile to 'resize'"
        )

    def close(self) -> None:
        if self._stream is None:
            return
        cudart = runtime()
        cuda_call(cudart.cudaStreamSynchronize(self._stream))
        if self._graph is not None:
            cuda_call(cudart.cudaGraphExecDestroy(self._graph))
        for buffer in self._buffers.values():
            buffer.free()
        cuda_call(cudart.cudaStreamDestroy(self._stream))
        self._buffers, self._graph, self._stream = {}, None, None
        self._context = self._engine = None

    def infer(self, batch: np.ndarray) -> np.ndarray:
        context = self._require_loaded(self._context)
        self._check_batch(batch)
        size, height, width = batch.shape[0], batch.shape[2], batch.shape[3]
        if size > self._profile.max_batch or not self._profile.contains(height, width):
            raise BackendError(f"batch {batch.shape} is outside the engine profile ({self._profile.describe()})")
        cudart = runtime()
        if self._thread != threading.get_ident():  # make the primary context current on this thread
            cuda_call(cudart.cudaSetDevice(self._device))
            self._thread = threading.get_ident()
        source, target = self._buffers[self._input], self._buffers[self._output]
        np.copyto(source.host[: batch.size], batch.ravel())
        source.to_device(batch.nbytes, self._stream)
        if batch.shape != self._shape:
            self._set_shape(context, batch.shape)
        if self._graph is not None:
            cuda_call(cudart.cudaGraphLaunch(self._graph, self._stream))
        elif not context.execute_async_v3(int(self._stream)):
            raise BackendError("TensorRT execute_async_v3 failed (see the TensorRT messages above)")
        target.to_host(batch.nbytes, self._stream)
        cuda_call(cudart.cudaStreamSynchronize(self._stream))
        return target.host[: batch.size].reshape(batch.shape).copy()

    def _set_shape(self, context: Any, shape: tuple[int, ...]) -> None:
        """Set the input shape; with ``cuda_graph``, capture one graph for it (a fixed camera size)."""
        cudart = runtime()
        if not context.set_input_shape(self._input, shape):
            raise BackendError(f"engine refused input shape {shape}")
        self._shape = shape
        if self._graph is not None:
            cuda_call(cudart.cudaGraphExecDestroy(self._graph))
            self._graph = None
        if not self.options.cuda_graph:
            return
        context.execute_async_v3(int(self._stream))  # applies the shape change before capture, as TensorRT requires
        mode = cudart.cudaStreamCaptureMode.cudaStreamCaptureModeThreadLocal
        cuda_call(cudart.cudaStreamBeginCapture(self._stream, mode))
        context.execute_async_v3(int(self._stream))
        graph = cuda_call(cudart.cudaStreamEndCapture(self._stream))
        self._graph = cuda_call(cudart.cudaGraphInstantiate(graph, 0))
        cuda_call(cudart.cudaGraphDestroy(graph))
        LOG.info("tensorrt: captured a CUDA graph for input %s", shape)


def _weights_sha(engine: Path) -> str:
    """The weights hash recorded in the engine's sidecar (from its ONNX metadata), or 'unknown'."""
    try:
        _, document = read_sidecar(engine)
    except BackendError:
        return "unknown"
    return str(document.get("onnx_metadata", {}).get("weights_sha256", "unknown"))
