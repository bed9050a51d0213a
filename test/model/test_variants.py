"""Smaller SAPNet variants: the architecture travels in the weights file and rebuilds the same network everywhere.

The dynamo ONNX export of the shipped rungs is checked in test_rungs.py (on their files, without re-exporting).
"""

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from safetensors.torch import save_file

from sapnet_ros.errors import WeightsError
from sapnet_ros.model import quantize
from sapnet_ros.model.graph import build_graph
from sapnet_ros.model.network import Architecture, SAPNet
from sapnet_ros.model.quantize import quantize_model
from sapnet_ros.model.weights import load_model, read_weights, save_weights

# Tiny stand-ins for the rungs: a dense narrow one and a separable one (both paths of every writer).
VARIANTS = [Architecture(stages=2, channels=8), Architecture(stages=1, channels=8, separable=True)]


def _saved(tmp_path: Path, architecture: Architecture, seed: int = 0) -> Path:
    torch.manual_seed(seed)
    path = tmp_path / f"variant-{architecture.stages}-{architecture.channels}-{architecture.separable}.safetensors"
    return save_weights(SAPNet.build(architecture).state_dict(), path, architecture.to_metadata())


def _run(model: onnx.ModelProto | Path, batch: np.ndarray) -> np.ndarray:
    source = model.SerializeToString() if isinstance(model, onnx.ModelProto) else str(model)
    session = ort.InferenceSession(source, providers=["CPUExecutionProvider"])
    return np.asarray(session.run(None, {"rainy": batch})[0])


def _ops(model: onnx.ModelProto) -> set[str]:
    return {node.op_type for node in model.graph.node}


def _torch(path: Path, batch: np.ndarray) -> np.ndarray:
    model, _ = load_model(path)
    with torch.inference_mode():
        return model(torch.from_numpy(batch)).numpy()


def test_architecture_metadata_round_trip() -> None:
    for architecture in [Architecture(), *VARIANTS]:
        assert Architecture.from_metadata(architecture.to_metadata()) == architecture
    assert Architecture.from_metadata({}) == Architecture(6, 32, False)  # official files record only stages
    assert Architecture(2, 16).macs_per_pixel() * 11 < Architecture().macs_per_pixel() < 1.02e6


@pytest.mark.parametrize("architecture", VARIANTS, ids=str)
def test_weights_file_alone_rebuilds_the_network(tmp_path: Path, architecture: Architecture) -> None:
    path = _saved(tmp_path, architecture)
    model, weights = load_model(path)
    assert weights.architecture == architecture and model.architecture == architecture
    assert sum(p.numel() for p in model.parameters()) < sum(p.numel() for p in SAPNet().parameters()) / 10


@pytest.mark.parametrize("architecture", VARIANTS, ids=str)
def test_fused_graph_and_int8_follow_the_architecture(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, architecture: Architecture
) -> None:
    path = _saved(tmp_path, architecture)
    fused = build_graph(read_weights(path))
    assert _ops(fused) <= _ops(build_graph(read_weights()))  # nothing the full model's engine build has not met
    assert {prop.key: prop.value for prop in fused.metadata_props}["channels"] == "8"
    batch = np.random.default_rng(1).random((1, 3, 20, 27), dtype=np.float32)
    expected = _torch(path, batch)
    assert np.abs(_run(fused, batch) - expected).max() <= 1e-4
    onnx.save(fused, str(tmp_path / "fused.onnx"))
    monkeypatch.setattr(quantize, "CALIBRATION_SIZE", (32, 48))
    int8 = quantize_model(tmp_path / "fused.onnx", tmp_path / "int8.onnx", quantize.calibration_batches(None, 2))
    assert _ops(onnx.load(str(int8))) - _ops(fused) == {"QuantizeLinear", "DequantizeLinear"}
    assert np.abs(_run(int8, batch) - expected).mean() < 0.05


def test_weights_of_another_architecture_are_refused(tmp_path: Path) -> None:
    path = _saved(tmp_path, VARIANTS[0])
    wrong = tmp_path / "wrong.safetensors"
    save_file(read_weights(path).state_dict, str(wrong), {"stages": "2", "channels": "16"})
    with pytest.raises(WeightsError, match="does not fit SAPNet 2 stages x 16 channels"):
        read_weights(wrong)
    save_file(read_weights(path).state_dict, str(wrong), {"channels": "eight"})
    with pytest.raises(WeightsError, match="bad architecture metadata"):
        read_weights(wrong)
