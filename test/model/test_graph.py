import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from sapnet_ros.backends.base import BackendBase
from sapnet_ros.model.graph import build_graph, to_float16
from sapnet_ros.model.network import SAPNet
from sapnet_ros.model.weights import read_weights


@pytest.fixture(scope="module")
def fused() -> onnx.ModelProto:
    return build_graph(read_weights())


def _run(model: onnx.ModelProto, batch: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return np.asarray(session.run(None, {"rainy": batch})[0])


def test_fused_graph_matches_pytorch(fused: onnx.ModelProto, torch_backend: BackendBase) -> None:
    batch = np.random.default_rng(3).random((2, 3, 23, 37), dtype=np.float32)
    assert np.abs(_run(fused, batch) - torch_backend.infer(batch)).max() <= 1e-4


def test_gates_are_one_convolution_and_the_first_stage_skips_the_zero_state(fused: onnx.ModelProto) -> None:
    nodes = {node.name: node for node in fused.graph.node}
    weights = {init.name: init.dims for init in fused.graph.initializer}
    assert list(weights["gates_first.weight"]) == [128, 32, 3, 3]  # h == 0: feature half only
    assert list(weights["gates.weight"]) == [128, 64, 3, 3]  # shared by the later stages
    assert list(weights["conv0_first.weight"]) == [32, 3, 3, 3]  # cat(rainy, rainy) folded
    assert nodes["s3/res2/conv1"].input[1] == nodes["s5/res2/conv1"].input[1] == "res2/conv1.weight"
    assert "s0/cell_keep" not in nodes and "s1/cell_keep" in nodes  # c == 0: no f * c
    assert sum(node.op_type == "Conv" and node.name.endswith("/gates") for node in fused.graph.node) == 6
    assert not any(node.op_type == "ReduceMean" for node in fused.graph.node)


def test_metadata_names_the_weights(fused: onnx.ModelProto) -> None:
    metadata = {prop.key: prop.value for prop in fused.metadata_props}
    assert metadata["graph"] == "fused" and metadata["weights_sha256"] == read_weights().sha256


def test_stage_count_follows_the_weights_metadata() -> None:
    weights = read_weights()
    two = build_graph(
        type(weights)(weights.path, weights.sha256, weights.state_dict, {**weights.metadata, "stages": "2"})
    )
    batch = np.random.default_rng(4).random((1, 3, 16, 20), dtype=np.float32)
    model = SAPNet(stages=2).eval()
    model.load_state_dict(weights.state_dict)
    with torch.inference_mode():
        expected = model(torch.from_numpy(batch)).numpy()
    assert np.abs(_run(two, batch) - expected).max() <= 1e-4


def test_float16_copy_keeps_float32_io_and_close_results(fused: onnx.ModelProto) -> None:
    half = to_float16(fused)
    assert half.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert half.graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert any(init.data_type == onnx.TensorProto.FLOAT16 for init in half.graph.initializer)
    batch = np.random.default_rng(5).random((1, 3, 24, 31), dtype=np.float32)
    error = np.mean((_run(half, batch) - _run(fused, batch)) ** 2)
    assert 10 * np.log10(1 / error) >= 50.0  # fp16 vs fp32, PSNR in dB
