"""ONNX Runtime backend: the fast CPU path (fp32, int8) and NVIDIA GPUs through its providers.

On the CPU, fp32 runs the exported graph and int8 the quantized fused graph
made by ``sapnet-quantize`` (``model/quantize.py``, uint8 activations). With ``device`` cuda,
providers are tried in order TensorRT (fp16/int8, engines cached on disk),
CUDA, CPU, and frames go through an IOBinding so the output is allocated on
the device and copied back once. int8 on the GPU takes the symmetric model
(``sapnet-quantize --symmetric``): TensorRT refuses asymmetric Q/DQ.

fp32 means fp32: the CUDA provider runs with ``use_tf32`` 0, and fp32 skips
the TensorRT provider, whose builder enables TF32 on Ampere and newer and
offers no option to turn it off. ONNX Runtime lists providers it cannot load
(TensorRT without its libraries) and silently falls back to the next one with
the options dropped, so ``load`` checks which provider actually runs and
either refuses or says so loudly (``running_provider``).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort

from sapnet_ros.backends import BackendInfo, BackendOptions
from sapnet_ros.backends.base import BackendBase, onnx_model
from sapnet_ros.backends.cuda import device_index
from sapnet_ros.backends.engine_cache import Profile, engine_dir, has_qdq
from sapnet_ros.errors import BackendError
from sapnet_ros.model.artifacts import file_sha256, int8_model_path, metadata_of, quality_holds
from sapnet_ros.model.sessions import inference_session, read_onnx
from sapnet_ros.resources import cache_dir

LOG = logging.getLogger(__name__)

TENSORRT = "TensorrtExecutionProvider"
CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"
GPU_PROVIDERS = (TENSORRT, CUDA)


def _gpu_providers() -> list[str]:
    return [name for name in GPU_PROVIDERS if name in ort.get_available_providers()]


def _shape_text(input_name: str, shape: tuple[int, ...]) -> str:
    return f"{input_name}:{'x'.join(str(dim) for dim in shape)}"


def provider_name(provider: Any) -> str:
    """The name of a provider entry: a name, or a (name, options) pair."""
    return provider if isinstance(provider, str) else str(provider[0])


def providers_for(available: list[str], precision: str, device_id: int, input_name: str) -> list[Any]:
    """Execution providers for a GPU session, best first: TensorRT, CUDA, then the CPU for what is left.

    TensorRT (fp16 and int8 only) gets the precision, an engine and timing
    cache on disk and the default shape profile; CUDA computes without TF32.
    fp32 leaves TensorRT out: its TF32 cannot be turned off from here.
    """
    providers: list[Any] = []
    if TENSORRT in available and precision != "fp32":
        minimum, optimum, maximum = Profile().shapes()
        cache = engine_dir() / "onnxruntime"
        providers.append(
            (
                TENSORRT,
                {
                    "device_id": device_id,
                    "trt_fp16_enable": precision == "fp16",
                    "trt_int8_enable": precision == "int8",
                    "trt_engine_cache_enable": True,
                    "trt_engine_cache_path": str(cache),
                    "trt_timing_cache_enable": True,
                    "trt_timing_cache_path": str(cache),
                    "trt_profile_min_shapes": _shape_text(input_name, minimum),
                    "trt_profile_opt_shapes": _shape_text(input_name, optimum),
                    "trt_profile_max_shapes": _shape_text(input_name, maximum),
                },
            )
        )
    if CUDA in available:
        providers.append((CUDA, {"device_id": device_id, "use_tf32": 0}))
    return [*providers, CPU]


def running_provider(session: Any, requested: list[Any], precision: str) -> str:
    """The provider that runs ``session``'s graph; BackendError where a fallback would not run ``precision``.

    ONNX Runtime drops a provider whose libraries do not load (TensorRT
    without libnvinfer, CUDA without cuDNN) and runs on the next one, with
    a warning in its own log only. A fallback to the CPU, or away from
    TensorRT for int8, is refused; one from TensorRT to CUDA for fp16 is
    logged as an error and returned, so the caller can give CUDA an fp16 graph.
    """
    wanted = provider_name(requested[0])
    active = list(session.get_providers())
    running = active[0] if active else CPU
    if running == wanted:
        return running
    message = (
        f"ONNX Runtime could not start {wanted} (its libraries did not load; see ONNX Runtime's warnings) "
        f"and fell back to {running}"
    )
    if running == CPU:
        raise BackendError(f"{message}: the GPU would not be used; fix the CUDA/cuDNN install or use --device cpu")
    if precision == "int8":
        raise BackendError(f"{message}: int8 on the GPU needs TensorRT (install it, or use fp16)")
    LOG.error("%s: running %s on %s instead", message.upper(), precision, running)
    return running


def _rgb_batches(shape: list[Any]) -> bool:
    """Whether a graph tensor is (N, 3, H, W): four axes, the channel axis 3 or dynamic (a name)."""
    return len(shape) == 4 and (shape[1] == 3 or not isinstance(shape[1], int))


class OnnxRuntimeBackend(BackendBase):
    """Runs an ONNX graph in an ``InferenceSession``."""

    name = "onnxruntime"
    precisions = ("fp32", "fp16", "int8")

    def __init__(self, options: BackendOptions) -> None:
        super().__init__(options)
        self._session: ort.InferenceSession | None = None
        self._input = self._output = ""
        self._gpu = options.device.startswith("cuda")
        self._device_id = device_index(options.device, "ONNX Runtime's GPU providers") if self._gpu else 0

    @classmethod
    def auto_precision(cls, options: BackendOptions) -> str:
        """GPU: fp16. CPU: int8 where a quantized model for the weights passed the quality gate, else fp32."""
        if options.device.startswith("cuda"):
            return "fp16"
        if options.onnx is not None:
            return "int8" if has_qdq(read_onnx(options.onnx, BackendError)) else "fp32"
        found = int8_model_path(options.weights)
        if found is not None and quality_holds(found[1]):
            return "int8"
        LOG.info("precision auto: fp32 (no int8 model passing the quality gate; make one with sapnet-quantize)")
        return "fp32"

    @classmethod
    def unavailable_reason(cls, options: BackendOptions) -> str | None:
        precision = cls.requested_precision(options)
        gpu = options.device.startswith("cuda")
        providers = _gpu_providers()
        if gpu and not providers:
            return "CUDA requested but this onnxruntime has no CUDA or TensorRT provider (pip install onnxruntime-gpu)"
        if precision == "fp16" and not gpu:
            return "fp16 needs a GPU provider (--device cuda); on the CPU use int8 or fp32"
        if precision == "int8" and gpu and TENSORRT not in providers:
            return "int8 on the GPU needs the TensorRT provider"
        if precision == "int8" and options.onnx is None and int8_model_path(options.weights, symmetric=gpu) is None:
            if gpu:
                return "no symmetric int8 model for these weights; make one with sapnet-quantize --symmetric"
            return "no int8 model for these weights; make one with sapnet-quantize"
        return cls.precision_reason(precision)

    def _model_path(self) -> Path:
        """The graph for this precision and device (see the module docstring)."""
        if self.options.onnx is not None:
            return self.options.onnx
        if self.precision == "int8":
            found = int8_model_path(self.options.weights, symmetric=self._gpu)
            if found is None:
                raise BackendError("no int8 model for these weights; make one with sapnet-quantize")
            return found[0]
        return onnx_model(self.options.weights)

    @staticmethod
    def _float16_copy(path: Path) -> Path:
        """An fp16 copy of ``path`` (fp32 input and output kept), written once into the cache."""
        cached = cache_dir() / f"{path.stem}-fp16-{file_sha256(path)[:16]}.onnx"
        if not cached.is_file():
            from sapnet_ros.model.graph import to_float16  # graph building needs PyTorch; the copy only onnx

            LOG.info("writing an fp16 copy of %s to %s (once)", path, cached)
            cached.parent.mkdir(parents=True, exist_ok=True)
            onnx.save(to_float16(onnx.load(str(path))), str(cached))
        return cached

    def _open(self, path: Path, providers: list[Any]) -> ort.InferenceSession:
        settings = ort.SessionOptions()
        settings.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if self.options.threads:
            settings.intra_op_num_threads = self.options.threads
        return inference_session(path, settings, providers, BackendError)

    def load(self) -> None:
        path = self._model_path()
        header = read_onnx(path, BackendError)
        if self.precision == "int8" and not has_qdq(header):
            raise BackendError(f"{path}: not a quantized (Q/DQ) model; make one with sapnet-quantize")
        providers: list[Any] = [CPU]
        if self._gpu:
            input_name = header.graph.input[0].name if header.graph.input else ""
            providers = providers_for(ort.get_available_providers(), self.precision, self._device_id, input_name)
            (engine_dir() / "onnxruntime").mkdir(parents=True, exist_ok=True)
            if self.precision == "fp16" and provider_name(providers[0]) != TENSORRT:
                path = self._float16_copy(path)  # CUDA runs what the graph's types say
        session = self._open(path, providers)
        running = session.get_providers()[0]
        if self._gpu:
            running = running_provider(session, providers, self.precision)
            if self.precision == "fp16" and provider_name(providers[0]) == TENSORRT and running == CUDA:
                path = self._float16_copy(path)
                session = self._open(path, [p for p in providers if provider_name(p) != TENSORRT])
        metadata = metadata_of(header)
        inputs, outputs = session.get_inputs(), session.get_outputs()
        one_each = len(inputs) == len(outputs) == 1
        if not (one_each and _rgb_batches(inputs[0].shape) and _rgb_batches(outputs[0].shape)):
            raise BackendError(
                f"{path}: expected one (N, 3, H, W) input and one output of that shape, got inputs "
                f"{[i.shape for i in inputs]} and outputs {[o.shape for o in outputs]}"
            )
        self._input, self._output = inputs[0].name, outputs[0].name
        self._session = session
        device = f"{running} (cuda:{self._device_id})" if self._gpu else running
        self._info = BackendInfo(self.name, device, self.precision, metadata.get("weights_sha256", "unknown"))
        LOG.info(
            "onnxruntime %s: %s, input %s %s, output %s, providers %s",
            self.precision,
            path,
            self._input,
            inputs[0].shape,
            self._output,
            session.get_providers(),
        )

    def close(self) -> None:
        self._session = None

    def infer(self, batch: np.ndarray) -> np.ndarray:
        session: ort.InferenceSession = self._require_loaded(self._session)
        self._check_batch(batch)
        if not self._gpu:
            (output,) = session.run([self._output], {self._input: batch})
            return np.asarray(output)
        binding = session.io_binding()
        binding.bind_cpu_input(self._input, batch)
        binding.bind_output(self._output, "cuda", self._device_id)
        session.run_with_iobinding(binding)
        return np.asarray(binding.copy_outputs_to_cpu()[0])
