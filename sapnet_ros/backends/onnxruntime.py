"""ONNX Runtime backend: the fast CPU path (fp32, int8) and NVIDIA GPUs through its providers.

On the CPU, fp32 runs the exported graph and int8 the quantized fused graph
made by ``sapnet-quantize`` (``model/quantize.py``). With ``device`` cuda, providers
are tried in order TensorRT (fp16/int8, engines cached on disk), CUDA, CPU,
and frames go through an IOBinding so the output is allocated on the device
and copied back once.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
from google.protobuf.message import DecodeError
from onnxruntime.capi.onnxruntime_pybind11_state import Fail, InvalidGraph, InvalidProtobuf, NoSuchFile

from sapnet_ros.backends import BackendInfo, BackendOptions
from sapnet_ros.backends.base import BackendBase
from sapnet_ros.backends.cuda import device_index
from sapnet_ros.backends.engine_cache import Profile, engine_dir, has_qdq
from sapnet_ros.errors import BackendError
from sapnet_ros.model.export import metadata_of, onnx_for_weights, read_metadata
from sapnet_ros.model.graph import to_float16
from sapnet_ros.model.quantize import int8_model_path, quality_holds
from sapnet_ros.resources import cache_dir

LOG = logging.getLogger(__name__)

GPU_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider")


def _gpu_providers() -> list[str]:
    return [name for name in GPU_PROVIDERS if name in ort.get_available_providers()]


def _shape_text(input_name: str, shape: tuple[int, ...]) -> str:
    return f"{input_name}:{'x'.join(str(dim) for dim in shape)}"


def providers_for(available: list[str], precision: str, device_id: int, input_name: str) -> list[Any]:
    """Execution providers for a GPU session, best first: TensorRT, CUDA, then the CPU for what is left.

    TensorRT gets the precision (fp16/int8), an engine and timing cache on disk
    and the default shape profile; CUDA computes fp32 without TF32, so fp32
    means fp32.
    """
    providers: list[Any] = []
    if "TensorrtExecutionProvider" in available:
        minimum, optimum, maximum = Profile().shapes()
        cache = engine_dir() / "onnxruntime"
        providers.append(
            (
                "TensorrtExecutionProvider",
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
    if "CUDAExecutionProvider" in available:
        providers.append(("CUDAExecutionProvider", {"device_id": device_id, "use_tf32": 0}))
    return [*providers, "CPUExecutionProvider"]


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
            return "int8" if has_qdq(onnx.load(str(options.onnx), load_external_data=False)) else "fp32"
        found = int8_model_path(options.weights)
        if found is not None and quality_holds(found[1]):
            return "int8"
        LOG.info("precision auto: fp32 (no int8 model passing the quality gate; make one with sapnet-quantize)")
        return "fp32"

    @classmethod
    def unavailable_reason(cls, options: BackendOptions) -> str | None:
        precision = cls.requested_precision(options)
        gpu = _gpu_providers()
        if options.device.startswith("cuda") and not gpu:
            return "CUDA requested but this onnxruntime build has no CUDA or TensorRT provider"
        if precision == "fp16" and not options.device.startswith("cuda"):
            return "fp16 needs a GPU provider (--device cuda); on the CPU use int8 or fp32"
        if precision == "int8" and options.device.startswith("cuda") and "TensorrtExecutionProvider" not in gpu:
            return "int8 on the GPU needs the TensorRT provider"
        if precision == "int8" and options.onnx is None and int8_model_path(options.weights) is None:
            return "no int8 model for these weights; make one with sapnet-quantize"
        return cls.precision_reason(precision)

    def _model_path(self) -> Path:
        """The graph for this precision and device (see the module docstring)."""
        if self.options.onnx is not None:
            return self.options.onnx
        if self.precision == "int8":
            found = int8_model_path(self.options.weights)
            if found is None:
                raise BackendError("no int8 model for these weights; make one with sapnet-quantize")
            return found[0]
        exported = onnx_for_weights(self.options.weights)
        if self.precision == "fp16" and "TensorrtExecutionProvider" not in _gpu_providers():
            return self._float16_copy(exported)  # CUDA alone runs what the graph's types say
        return exported

    @staticmethod
    def _float16_copy(path: Path) -> Path:
        cached = cache_dir() / f"{path.stem}-fp16-{read_metadata(path).get('weights_sha256', 'unknown')[:16]}.onnx"
        if not cached.is_file():
            LOG.info("writing an fp16 copy of %s to %s (once)", path, cached)
            cached.parent.mkdir(parents=True, exist_ok=True)
            onnx.save(to_float16(onnx.load(str(path))), str(cached))
        return cached

    def load(self) -> None:
        path = self._model_path()
        try:
            header = onnx.load(str(path), load_external_data=False)
        except (OSError, DecodeError) as err:
            raise BackendError(f"{path}: ONNX Runtime cannot load it ({err})") from err
        if self.precision == "int8" and not has_qdq(header):
            raise BackendError(f"{path}: not a quantized (Q/DQ) model; make one with sapnet-quantize")
        settings = ort.SessionOptions()
        settings.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if self.options.threads:
            settings.intra_op_num_threads = self.options.threads
        providers: list[Any] = ["CPUExecutionProvider"]
        if self._gpu:
            input_name = header.graph.input[0].name if header.graph.input else ""
            providers = providers_for(ort.get_available_providers(), self.precision, self._device_id, input_name)
            (engine_dir() / "onnxruntime").mkdir(parents=True, exist_ok=True)
        try:
            session = ort.InferenceSession(str(path), settings, providers=providers)
        except (Fail, InvalidGraph, InvalidProtobuf, NoSuchFile) as err:
            raise BackendError(f"{path}: ONNX Runtime cannot load it ({str(err).splitlines()[0]})") from err
        metadata = metadata_of(header)
        inputs, outputs = session.get_inputs(), session.get_outputs()
        if len(inputs) != 1 or len(outputs) != 1 or len(inputs[0].shape) != 4:
            raise BackendError(
                f"{path}: expected one 4-D input and one output, got {len(inputs)} in, {len(outputs)} out"
            )
        self._input, self._output = inputs[0].name, outputs[0].name
        self._session = session
        device = session.get_providers()[0]
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
