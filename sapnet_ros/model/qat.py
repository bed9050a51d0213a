"""Quantization-aware fine-tuning of the fused graph, so that its int8 version keeps the fp32 output.

Calibration alone leaves ONNX Runtime's int8 model ~43 dB from the fp32
output, and where SAPNet's own output is only ~30 dB from the clean scene (faint
or wide rain it was not trained on) that noise costs 0.3-0.8 dB against the
clean scene. Ranges are not the cause (calibrating on those very styles changes
nothing): the rounding is. Fine-tuning the weights under that rounding teaches
them to compensate.

``GraphModule`` runs a float ONNX graph of SAPNet's operators in PyTorch, its
initializers as parameters. Given a QDQ model of the same graph
(``quantize.py``), it rounds exactly where ONNX Runtime does: per-tensor
activations with the model's own scales and zero points, per-channel symmetric
int8 weights, with straight-through gradients. ``finetune`` trains the
weights so that this simulated int8 output matches the fp32 graph's (the
teacher: no clean images are needed) and returns the graph with its new
weights, to be calibrated and quantized again. Short CPU runs did not lower
the rounding noise (docs/generalisation.md); the float weights drift from the
official ones as they learn, so the result is judged only by the figures
``make_int8`` measures against the fp32 graph of the official weights.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import numpy_helper
from torch import nn

LOG = logging.getLogger(__name__)

WEIGHT_LEVELS = 127  # symmetric int8 weights: [-127, 127] * scale per output channel


@dataclass(frozen=True)
class QAT:
    """How to fine-tune: optimizer steps, crops per step, crop side, learning rate, seed."""

    steps: int = 100
    batch: int = 4
    crop: int = 64
    lr: float = 2e-5  # 5e-5 drifted (docs/generalisation.md)
    seed: int = 0


class _Round(torch.autograd.Function):
    """Round half to even forward, identity backward (straight-through)."""

    @staticmethod
    def forward(ctx: object, x: torch.Tensor) -> torch.Tensor:
        return torch.round(x)

    @staticmethod
    def backward(ctx: object, grad: torch.Tensor) -> torch.Tensor:
        return grad


def fake_quantize(x: torch.Tensor, scale: torch.Tensor, zero_point: torch.Tensor, low: int, high: int) -> torch.Tensor:
    """QuantizeLinear then DequantizeLinear, differentiable inside the range (clipped values get no gradient)."""
    return (torch.clamp(_Round.apply(x / scale) + zero_point, low, high) - zero_point) * scale


def _fake_quantize_weight(weight: torch.Tensor) -> torch.Tensor:
    """Per-output-channel symmetric int8, as the QDQ model stores Conv weights."""
    scale = weight.detach().abs().amax(dim=tuple(range(1, weight.dim())), keepdim=True).clamp_min(1e-12)
    scale = scale / WEIGHT_LEVELS
    return _Round.apply(weight / scale).clamp(-WEIGHT_LEVELS, WEIGHT_LEVELS) * scale


@dataclass(frozen=True)
class QuantPoints:
    """Where a QDQ model rounds: activation tensors -> (scale, zero point, low, high); quantized Conv weights."""

    activations: dict[str, tuple[float, int, int, int]]
    weights: frozenset[str]

    def fake_quantize(self, name: str, value: torch.Tensor) -> torch.Tensor:
        """``value`` rounded as the tensor ``name`` is, or as it is where that tensor is not quantized."""
        if name not in self.activations:
            return value
        scale, zero, low, high = self.activations[name]
        return fake_quantize(value, torch.tensor(scale), torch.tensor(float(zero)), low, high)


def quant_points(qdq: onnx.ModelProto) -> QuantPoints:
    """Read the rounding points of a QDQ model made by ``quantize.quantize_model`` from its float graph."""
    constants = {init.name: numpy_helper.to_array(init) for init in qdq.graph.initializer}
    activations: dict[str, tuple[float, int, int, int]] = {}
    for node in qdq.graph.node:
        if node.op_type != "QuantizeLinear" or node.input[0] in constants:
            continue
        scale = float(constants[node.input[1]])
        zero = constants[node.input[2]]
        low, high = (0, 255) if zero.dtype == np.uint8 else (-128, 127)
        activations[node.input[0]] = (scale, int(zero), low, high)
    dequantized = {node.output[0]: node.input[0] for node in qdq.graph.node if node.op_type == "DequantizeLinear"}
    weights = set()
    for node in qdq.graph.node:
        if node.op_type == "Conv" and node.input[1] in dequantized:
            source = dequantized[node.input[1]]
            weights.add(source.removesuffix("_quantized"))
    return QuantPoints(activations, frozenset(weights))


class GraphModule(nn.Module):
    """A float ONNX graph (Conv, Relu, Sigmoid, Tanh, Add, Mul, Concat, Split, GlobalAveragePool, Clip) in PyTorch."""

    def __init__(self, model: onnx.ModelProto) -> None:
        super().__init__()
        self.graph = model.graph
        self.names = [init.name for init in model.graph.initializer]
        self.params = nn.ParameterList(
            nn.Parameter(torch.from_numpy(numpy_helper.to_array(init).astype(np.float32).copy()))
            for init in model.graph.initializer
        )
        self.input_name = model.graph.input[0].name
        self.output_name = model.graph.output[0].name
        self.attributes = [
            {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute} for node in self.graph.node
        ]
        self.points: QuantPoints | None = None

    def initializers(self) -> dict[str, np.ndarray]:
        """The current weights, by initializer name."""
        return {name: param.detach().numpy().copy() for name, param in zip(self.names, self.params, strict=True)}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        points = self.points
        values: dict[str, torch.Tensor] = dict(zip(self.names, self.params, strict=True))

        values[self.input_name] = x
        for node, attributes in zip(self.graph.node, self.attributes, strict=True):
            inputs = [
                values[name] if points is None else points.fake_quantize(name, values[name]) for name in node.input
            ]
            op = node.op_type
            if op == "Conv":
                weight = inputs[1]
                if points is not None and node.input[1] in points.weights:
                    weight = _fake_quantize_weight(values[node.input[1]])
                pads = attributes.get("pads", [0, 0, 0, 0])
                outputs = [
                    F.conv2d(
                        inputs[0],
                        weight,
                        inputs[2] if len(inputs) > 2 else None,
                        padding=(pads[0], pads[1]),
                        dilation=tuple(attributes.get("dilations", [1, 1])),
                        groups=attributes.get("group", 1),
                    )
                ]
            elif op in ("Relu", "Sigmoid", "Tanh"):
                outputs = [{"Relu": torch.relu, "Sigmoid": torch.sigmoid, "Tanh": torch.tanh}[op](inputs[0])]
            elif op == "Add":
                outputs = [inputs[0] + inputs[1]]
            elif op == "Mul":
                outputs = [inputs[0] * inputs[1]]
            elif op == "Concat":
                outputs = [torch.cat(inputs, dim=attributes["axis"])]
            elif op == "Split":
                outputs = list(torch.chunk(inputs[0], attributes["num_outputs"], dim=attributes["axis"]))
            elif op == "GlobalAveragePool":
                outputs = [inputs[0].mean(dim=(2, 3), keepdim=True)]
            elif op == "Clip":
                outputs = [torch.clamp(inputs[0], float(inputs[1].detach()), float(inputs[2].detach()))]
            else:
                raise ValueError(f"{node.name}: operator {op} is not supported")
            values.update(zip(node.output, outputs, strict=True))
        return values[self.output_name]


def _crops(frames: list[np.ndarray], count: int, side: int, rng: np.random.Generator) -> torch.Tensor:
    """``count`` random ``side`` x ``side`` crops of float32 (1, 3, H, W) frames, flipped at random."""
    picked = []
    for _ in range(count):
        frame = frames[int(rng.integers(len(frames)))][0]
        top = int(rng.integers(frame.shape[1] - side + 1))
        left = int(rng.integers(frame.shape[2] - side + 1))
        crop = frame[:, top : top + side, left : left + side]
        picked.append(crop[:, :, ::-1] if rng.random() < 0.5 else crop)
    return torch.from_numpy(np.ascontiguousarray(np.stack(picked)))


def finetune(
    float_model: onnx.ModelProto, qdq_model: onnx.ModelProto, frames: list[np.ndarray], qat: QAT
) -> onnx.ModelProto:
    """``float_model`` with weights fine-tuned so that its int8 version (rounded as ``qdq_model``) matches it.

    Args:
        float_model: the fused fp32 graph; also the teacher.
        qdq_model: its QDQ int8 model (where and how ONNX Runtime rounds).
        frames: float32 (1, 3, H, W) RGB [0, 1] rainy frames, at least ``qat.crop`` on each side.
        qat: steps, batch, crop, learning rate and seed.

    Returns:
        A copy of ``float_model`` with the fine-tuned initializers.
    """
    torch.manual_seed(qat.seed)
    rng = np.random.default_rng(qat.seed)
    teacher = GraphModule(float_model).eval()
    student = GraphModule(float_model)
    student.points = quant_points(qdq_model)
    optimizer = torch.optim.Adam(student.parameters(), lr=qat.lr)
    started = time.monotonic()
    for step in range(1, qat.steps + 1):
        batch = _crops(frames, qat.batch, qat.crop, rng)
        with torch.no_grad():
            target = teacher(batch)
        loss = F.mse_loss(student(batch), target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 25 == 0 or step == 1:
            psnr = -10 * np.log10(max(float(loss), 1e-12))
            LOG.info("QAT step %d/%d: %.2f dB from fp32 (%.0f s)", step, qat.steps, psnr, time.monotonic() - started)
    tuned = onnx.ModelProto()
    tuned.CopyFrom(float_model)
    weights = student.initializers()
    for init in tuned.graph.initializer:
        init.CopyFrom(numpy_helper.from_array(weights[init.name].astype(numpy_helper.to_array(init).dtype), init.name))
    return tuned
