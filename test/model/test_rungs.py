"""The shipped rungs of the speed ladder: files that belong together, graphs TensorRT parses, recorded quality."""

import csv
import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from sapnet_ros import resources
from sapnet_ros.backends import BackendOptions
from sapnet_ros.bench.ladder import write_pairs
from sapnet_ros.evaluation.paired import main as evaluate
from sapnet_ros.model.artifacts import file_sha256, int8_model_path, read_metadata
from sapnet_ros.model.export import TENSORRT_SAFE_OPS, onnx_for_weights
from sapnet_ros.model.graph import build_graph
from sapnet_ros.model.weights import load_model, read_weights
from sapnet_ros.training.distill import EVALUATION_SIZE

RUNGS = resources.MODEL_NAMES[1:]


def _ops(model: onnx.ModelProto) -> set[str]:
    return {node.op_type for node in model.graph.node}


@pytest.mark.parametrize("name", RUNGS)
def test_name_resolves_to_the_rungs_files(name: str) -> None:
    files = resources.model_files(name)
    assert BackendOptions(model=name).weights == files.weights
    assert onnx_for_weights(files.weights) == files.onnx
    found = int8_model_path(files.weights)
    assert found is not None and found[0] == files.int8
    with pytest.raises(ValueError, match="not both"):
        BackendOptions(model=name, weights=resources.default_weights())
    with pytest.raises(ValueError, match="unknown model"):
        resources.model_files("sapnet-xxl")


@pytest.mark.parametrize("name", RUNGS)
def test_rung_is_smaller_and_its_onnx_graphs_pass_the_full_models_checks(name: str) -> None:
    files = resources.model_files(name)
    weights = read_weights(files.weights)
    assert weights.metadata["model"] == name and weights.metadata["training_command"].startswith("sapnet-distill")
    assert weights.architecture.macs_per_pixel() < read_weights().architecture.macs_per_pixel() / 2.5
    sha256 = file_sha256(files.weights)
    assert read_metadata(files.onnx)["weights_sha256"] == read_metadata(files.int8)["weights_sha256"] == sha256
    assert _ops(onnx.load(str(files.onnx))) <= TENSORRT_SAFE_OPS
    full_fused = _ops(build_graph(read_weights()))
    assert _ops(onnx.load(str(files.int8))) <= full_fused | {"QuantizeLinear", "DequantizeLinear"}
    batch = np.random.default_rng(0).random((1, 3, 24, 32), dtype=np.float32)
    model, _ = load_model(files.weights)
    with torch.inference_mode():
        expected = model(torch.from_numpy(batch)).numpy()
    session = ort.InferenceSession(str(files.onnx), providers=["CPUExecutionProvider"])
    assert np.abs(session.run(None, {"rainy": batch})[0] - expected).max() <= 1e-4


@pytest.mark.parametrize("name", RUNGS)
def test_recorded_quality_is_reproduced_by_sapnet_evaluate(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    recorded = json.loads(read_weights(resources.model_files(name).weights).metadata["evaluation"])
    data = write_pairs(tmp_path / "pairs", EVALUATION_SIZE)
    output = tmp_path / "evaluation.csv"
    args = ["--data", str(data), "--model", name, "--backend", "torch", "--precision", "fp32", "--device", "cpu"]
    assert evaluate([*args, "--csv", str(output)]) == 0
    mean = next(row for row in csv.DictReader(output.open()) if row["name"] == "mean")
    assert abs(float(mean["psnr_rgb"]) - recorded["psnr_rgb"]) <= 0.05
    assert abs(float(mean["psnr_y"]) - recorded["psnr_y"]) <= 0.05
    assert f"{len(list((data / 'input').iterdir()))} pairs" in capsys.readouterr().out
