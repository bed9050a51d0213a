"""PyTorch eager backend: the reference every other backend is checked against.

fp32 is the reference. bf16 (CPU or GPU) and fp16 (GPU) run the model in
that type with channels-last memory, the layout oneDNN and cuDNN are fastest
with; frames still enter and leave as float32.

fp32 means fp32: PyTorch lets cuDNN convolutions use TF32 on Ampere and newer
by default (10 mantissa bits, ~1e-3 from fp32), so loading an fp32 backend
turns TF32 off for convolutions and matmuls. The flags are process-wide;
fp16/bf16 are not affected by them.
"""

from __future__ import annotations

import numpy as np
import torch

from sapnet_ros.backends import BackendInfo, BackendOptions
from sapnet_ros.backends.base import BackendBase
from sapnet_ros.model.network import SAPNet
from sapnet_ros.model.weights import load_model

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def disable_tf32() -> None:
    """Make CUDA fp32 convolutions and matmuls compute in IEEE fp32, not TF32 (see the module docstring)."""
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False


class TorchBackend(BackendBase):
    """Runs ``SAPNet`` in eval mode under ``torch.inference_mode``."""

    name = "torch"
    precisions = ("fp32", "bf16", "fp16")

    def __init__(self, options: BackendOptions) -> None:
        super().__init__(options)
        self._model: SAPNet | None = None
        self._device = torch.device(options.device)
        self._dtype = DTYPES[self.precision]
        self._layout = torch.contiguous_format if self.precision == "fp32" else torch.channels_last

    @classmethod
    def auto_precision(cls, options: BackendOptions) -> str:
        """fp16 on a GPU; fp32 on the CPU, where bf16 is only faster with native AVX-512 BF16/AMX."""
        return "fp16" if options.device.startswith("cuda") else "fp32"

    @classmethod
    def unavailable_reason(cls, options: BackendOptions) -> str | None:
        precision = cls.requested_precision(options)
        if options.device.startswith("cuda") and not torch.cuda.is_available():
            return "CUDA requested but torch.cuda.is_available() is False"
        if precision == "fp16" and not options.device.startswith("cuda"):
            return "fp16 needs --device cuda (CPUs have no fast fp16 convolutions; use bf16)"
        return cls.precision_reason(precision)

    def load(self) -> None:
        if self.options.threads:
            torch.set_num_threads(self.options.threads)
        if self.precision == "fp32":
            disable_tf32()
        model, weights = load_model(self.options.weights)
        model = model.to(self._device, self._dtype)
        self._model = model.to(memory_format=self._layout)  # type: ignore[call-overload]
        self._info = BackendInfo(self.name, str(self._device), self.precision, weights.sha256)

    def close(self) -> None:
        self._model = None
        if self._device.type == "cuda":
            torch.cuda.empty_cache()

    def infer(self, batch: np.ndarray) -> np.ndarray:
        model = self._require_loaded(self._model)
        self._check_batch(batch)
        with torch.inference_mode():
            frames = torch.from_numpy(batch).to(self._device, self._dtype, memory_format=self._layout)
            output = model(frames)
        return output.float().contiguous().cpu().numpy()
