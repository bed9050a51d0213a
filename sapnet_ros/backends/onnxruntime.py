"""ONNX Runtime backend: the fast CPU path, and CUDA where the GPU build is installed."""

from __future__ import annotations

import logging

import numpy as np
import onnxruntime as ort
from onnxruntime.capi.onnxruntime_pybind11_state import Fail, InvalidGraph, InvalidProtobuf, NoSuchFile

from sapnet_ros.backends import BackendInfo, BackendOptions
from sapnet_ros.backends.base import BackendBase
from sapnet_ros.errors import BackendError
from sapnet_ros.export import onnx_for_weights, read_metadata

LOG = logging.getLogger(__name__)


class OnnxRuntimeBackend(BackendBase):
    """Runs the exported ONNX graph in an ``InferenceSession``."""

    name = "onnxruntime"
    precisions = ("fp32",)

    def __init__(self, options: BackendOptions) -> None:
        super().__init__(options)
        self._session: ort.InferenceSession | None = None
        self._input = self._output = ""

    @classmethod
    def unavailable_reason(cls, options: BackendOptions) -> str | None:
        if options.device.startswith("cuda") and "CUDAExecutionProvider" not in ort.get_available_providers():
            return "CUDA requested but this onnxruntime build has no CUDAExecutionProvider"
        return super().unavailable_reason(options)

    def _providers(self) -> list[str]:
        if self.options.device.startswith("cuda"):
            return ["CUDAExecutionProvider", "CPUExecutionProvider"]
        return ["CPUExecutionProvider"]

    def load(self) -> None:
        path = self.options.onnx or onnx_for_weights(self.options.weights)
        settings = ort.SessionOptions()
        settings.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if self.options.threads:
            settings.intra_op_num_threads = self.options.threads
        try:
            session = ort.InferenceSession(str(path), settings, providers=self._providers())
        except (Fail, InvalidGraph, InvalidProtobuf, NoSuchFile) as err:
            raise BackendError(f"{path}: ONNX Runtime cannot load it ({str(err).splitlines()[0]})") from err
        inputs, outputs = session.get_inputs(), session.get_outputs()
        if len(inputs) != 1 or len(outputs) != 1 or len(inputs[0].shape) != 4:
            raise BackendError(
                f"{path}: expected one 4-D input and one output, got {len(inputs)} in, {len(outputs)} out"
            )
        self._input, self._output = inputs[0].name, outputs[0].name
        self._session = session
        sha = read_metadata(path).get("weights_sha256", "unknown")
        device = session.get_providers()[0]
        self._info = BackendInfo(self.name, device, self.options.precision, sha)
        LOG.info(
            "onnxruntime: %s, input %s %s, output %s, providers %s",
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
        (output,) = session.run([self._output], {self._input: batch})
        return np.asarray(output)
