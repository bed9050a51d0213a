"""SAPNet's inference graph written directly in ONNX, with the fusions an exporter does not make.

``export.py`` traces ``network.py`` and gives the reference graph. This module
writes the same network node by node for inference only, so that it can be
faster on every runtime and quantized with control:

- the four ConvLSTM gate convolutions (i, f, g, o; 3x3, 2C->C each, C = 32 in
  the official network) are one 2C->4C convolution followed by a split: one
  large GEMM instead of four;
- the first stage knows its hidden and cell states are zero: its gate
  convolution reads only the 32 feature channels (half the work), ``c = i * g``,
  and its ``conv0`` folds the duplicated input into a 3-channel convolution;
- the channel attention pools with ``GlobalAveragePool`` (a layout-aware
  operator that ONNX Runtime quantizes and keeps in NHWC) instead of
  ``ReduceMean``;
- every node has a readable, stable name (``s2/res3/conv1``, ``s2/res3/cra1/scale``)
  so that quantization can include or exclude nodes by name.

Every ``Architecture`` is written, depthwise-separable residual convolutions
included (``s2/res3/conv1/dw`` then ``s2/res3/conv1``). The result matches
``SAPNet.forward`` to float rounding (tested to 1e-4).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from sapnet_ros.model.export import INPUT_NAME, OPSET, OUTPUT_NAME, metadata_for
from sapnet_ros.model.network import DILATIONS
from sapnet_ros.model.weights import Weights

GATES = ("i", "f", "g", "o")  # the fused gate output order: split back into these


class _GraphWriter:
    """Accumulates nodes and initializers; every tensor is named after its node."""

    def __init__(self, state: Mapping[str, np.ndarray]) -> None:
        self.state = state
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: dict[str, np.ndarray] = {}

    def constant(self, name: str, value: np.ndarray) -> str:
        self.initializers.setdefault(name, value)
        return name

    def op(self, op_type: str, name: str, inputs: list[str], outputs: int = 1, **attributes: Any) -> list[str]:
        names = [name] if outputs == 1 else [f"{name}:{index}" for index in range(outputs)]
        self.nodes.append(helper.make_node(op_type, inputs, names, name=name, **attributes))
        return names

    def conv(
        self,
        name: str,
        x: str,
        weight: np.ndarray,
        bias: np.ndarray | None,
        dilation: int = 1,
        key: str = "",
        group: int = 1,
    ) -> str:
        """3x3 (dilated, 'same' padded) or 1x1 convolution, NCHW; ``group`` = channels makes it depthwise.

        Weights are stored once under ``key`` (default: ``name`` without its
        stage prefix), so the stages share them as the network does.
        """
        key = key or name.split("/", 1)[-1]
        inputs = [x, self.constant(f"{key}.weight", weight)]
        if bias is not None:
            inputs.append(self.constant(f"{key}.bias", bias))
        pad = dilation * (weight.shape[-1] // 2)
        shape = list(weight.shape[2:])
        attributes: dict[str, Any] = {"pads": [pad] * 4, "dilations": [dilation] * 2, "kernel_shape": shape}
        if group > 1:
            attributes["group"] = group
        return self.op("Conv", name, inputs, **attributes)[0]

    def channel_attention(self, name: str, x: str, key: str) -> str:
        """CRA: x * sigmoid(conv_du(pool(x)) + conv_1_1(pool(x))); pool is (B, C, 1, 1)."""
        pooled = self.op("GlobalAveragePool", f"{name}/pool", [x])[0]
        squeezed = self.conv(f"{name}/du1", pooled, self.state[f"{key}.conv_du.0.weight"], None)
        squeezed = self.op("Relu", f"{name}/du_relu", [squeezed])[0]
        squeezed = self.conv(f"{name}/du2", squeezed, self.state[f"{key}.conv_du.2.weight"], None)
        direct = self.conv(f"{name}/direct", pooled, self.state[f"{key}.conv_1_1.weight"], None)
        logits = self.op("Add", f"{name}/logits", [squeezed, direct])[0]
        weights = self.op("Sigmoid", f"{name}/sigmoid", [logits])[0]
        return self.op("Mul", f"{name}/scale", [x, weights])[0]

    def block_conv(self, name: str, x: str, key: str, dilation: int) -> str:
        """A residual block's convolution: dense dilated 3x3, or depthwise 3x3 (``name/dw``) then pointwise 1x1."""
        depthwise = self.state.get(f"{key}.depthwise.weight")
        if depthwise is None:
            return self.conv(name, x, self.state[f"{key}.weight"], self.state[f"{key}.bias"], dilation)
        y = self.conv(f"{name}/dw", x, depthwise, None, dilation, group=depthwise.shape[0])
        return self.conv(name, y, self.state[f"{key}.pointwise.weight"], self.state[f"{key}.pointwise.bias"])

    def residual_block(self, name: str, x: str, index: int, dilation: int) -> str:
        """relu(x + [conv, CRA, relu, conv, CRA, relu](x)) with dilated 3x3 convolutions."""
        key = f"res_conv{index}"
        y = x
        for half, (conv_index, cra_index) in enumerate(((0, 1), (3, 4)), start=1):
            y = self.block_conv(f"{name}/conv{half}", y, f"{key}.{conv_index}", dilation)
            y = self.channel_attention(f"{name}/cra{half}", y, f"{key}.{cra_index}")
            y = self.op("Relu", f"{name}/relu{half}", [y])[0]
        total = self.op("Add", f"{name}/skip", [y, x])[0]
        return self.op("Relu", f"{name}/out", [total])[0]

    def stage(self, index: int, rainy: str, estimate: str | None, h: str | None, c: str | None) -> tuple[str, str, str]:
        """One recurrent pass; ``estimate``, ``h`` and ``c`` are None in the first (zero state)."""
        name = f"s{index}"
        conv0_weight, conv0_bias = self.state["conv0.0.weight"], self.state["conv0.0.bias"]
        if estimate is None:  # conv0(cat(rainy, rainy)) == conv0 with the two input halves summed
            folded = conv0_weight[:, :3] + conv0_weight[:, 3:]
            features = self.conv(f"{name}/conv0", rainy, folded, conv0_bias, key="conv0_first")
        else:
            joined = self.op("Concat", f"{name}/cat_input", [rainy, estimate], axis=1)[0]
            features = self.conv(f"{name}/conv0", joined, conv0_weight, conv0_bias)
        features = self.op("Relu", f"{name}/conv0_relu", [features])[0]  # (B, C, H, W)

        gate_weight = np.concatenate([self.state[f"conv_{gate}.0.weight"] for gate in GATES])  # (4C, 2C, 3, 3)
        gate_bias = np.concatenate([self.state[f"conv_{gate}.0.bias"] for gate in GATES])
        if h is None:  # h == 0: only the feature half of the gate weights contributes
            half = gate_weight[:, : gate_weight.shape[1] // 2]
            gates = self.conv(f"{name}/gates", features, half, gate_bias, key="gates_first")
        else:
            joined = self.op("Concat", f"{name}/cat_hidden", [features, h], axis=1)[0]  # (B, 2C, H, W)
            gates = self.conv(f"{name}/gates", joined, gate_weight, gate_bias)  # (B, 4C, H, W)
        i, f, g, o = self.op("Split", f"{name}/split", [gates], outputs=4, axis=1, num_outputs=4)
        i = self.op("Sigmoid", f"{name}/gate_i", [i])[0]
        g = self.op("Tanh", f"{name}/gate_g", [g])[0]
        o = self.op("Sigmoid", f"{name}/gate_o", [o])[0]
        c_new = self.op("Mul", f"{name}/cell_in", [i, g])[0]
        if c is not None:
            f = self.op("Sigmoid", f"{name}/gate_f", [f])[0]
            kept = self.op("Mul", f"{name}/cell_keep", [f, c])[0]
            c_new = self.op("Add", f"{name}/cell", [kept, c_new])[0]
        h_new = self.op("Mul", f"{name}/hidden", [o, self.op("Tanh", f"{name}/cell_tanh", [c_new])[0]])[0]

        x = h_new
        for block, dilation in enumerate(DILATIONS, start=1):
            x = self.residual_block(f"{name}/res{block}", x, block, dilation)
        residual = self.conv(f"{name}/conv_out", x, self.state["conv.0.weight"], self.state["conv.0.bias"])
        return self.op("Add", f"{name}/estimate", [residual, rainy])[0], h_new, c_new


def build_graph(weights: Weights) -> onnx.ModelProto:
    """SAPNet's fused inference graph for ``weights``: float32 (B, 3, H, W) RGB [0, 1] in and out.

    Dynamic batch, height and width; the output is clamped to [0, 1] as the
    official test does. Metadata as ``export.metadata_for`` plus ``graph: fused``.
    """
    state = {key: value.detach().cpu().numpy().astype(np.float32) for key, value in weights.state_dict.items()}
    writer = _GraphWriter(state)
    estimate = h = c = None
    for index in range(weights.stages):
        estimate, h, c = writer.stage(index, INPUT_NAME, estimate, h, c)
    assert estimate is not None
    low, high = writer.constant("zero", np.array(0.0, np.float32)), writer.constant("one", np.array(1.0, np.float32))
    writer.nodes.append(helper.make_node("Clip", [estimate, low, high], [OUTPUT_NAME], name="clamp"))

    dims: list[str | int] = ["batch", 3, "height", "width"]
    graph = helper.make_graph(
        writer.nodes,
        "sapnet_fused",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, dims)],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, dims)],
        [numpy_helper.from_array(np.asarray(value, np.float32), name) for name, value in writer.initializers.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="sapnet_ros")
    model.ir_version = 10
    for key, value in metadata_for(weights, {"graph": "fused"}).items():
        model.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(model, full_check=True)
    return model


def to_float16(model: onnx.ModelProto) -> onnx.ModelProto:
    """An fp16 copy of a float32 graph with float32 input and output kept, for GPUs.

    Global pooling stays in float32 (a mean over a whole frame loses digits in
    fp16). Uses ONNX Runtime's converter, which rewrites initializers, constant
    attributes and value types consistently.
    """
    from onnxruntime.transformers.float16 import convert_float_to_float16

    half: onnx.ModelProto = convert_float_to_float16(
        model, keep_io_types=True, op_block_list=["GlobalAveragePool", "ReduceMean"]
    )
    return half
