"""PyTorch eager backend: the reference every other backend is checked against."""

from __future__ import annotations

import numpy as np
import torch

from sapnet_ros.backends import BackendInfo, BackendOptions
from sapnet_ros.backends.base import BackendBase
from sapnet_ros.model import SAPNet
from sapnet_ros.weights import load_model


class TorchBackend(BackendBase):
    """Runs ``SAPNet`` in eval mode under ``torch.inference_mode``."""

    name = "torch"
    precisions = ("fp32",)

    def __init__(self, options: BackendOptions) -> None:
        super().__init__(options)
        self._model: SAPNet | None = None
        self._device = torch.device(options.device)

    @classmethod
    def unavailable_reason(cls, options: BackendOptions) -> str | None:
        if options.device.startswith("cuda") and not torch.cuda.is_available():
            return "CUDA requested but torch.cuda.is_available() is False"
        return super().unavailable_reason(options)

    def load(self) -> None:
        if self.options.threads:
            torch.set_num_threads(self.options.threads)
        model, weights = load_model(self.options.weights)
        self._model = model.to(self._device)
        self._info = BackendInfo(self.name, str(self._device), self.options.precision, weights.sha256)

    def close(self) -> None:
        self._model = None
        if self._device.type == "cuda":
            torch.cuda.empty_cache()

    def infer(self, batch: np.ndarray) -> np.ndarray:
        model = self._require_loaded(self._model)
        self._check_batch(batch)
        with torch.inference_mode():
            output = model(torch.from_numpy(batch).to(self._device))
        return output.cpu().numpy()
