import json
import logging
from pathlib import Path

import numpy as np
import onnxruntime
import pytest
import torch

from sapnet_ros.backends import BackendOptions, unavailable_reason
from sapnet_ros.model.artifacts import read_metadata
from sapnet_ros.model.network import Architecture, SAPNet
from sapnet_ros.model.weights import read_weights
from sapnet_ros.training.handoff import export_run


def test_exports_safetensors_and_onnx_with_the_training_record(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    torch.manual_seed(0)
    model = SAPNet(stages=1).eval()
    config = {"log": {"run_dir": "runs/x"}, "optim": {"lr": 1e-4}}
    base = read_weights()  # fine-tuned from the shipped weights: their licence travels on
    caplog.set_level(logging.INFO, logger="sapnet_ros.training.handoff")
    weights_file, onnx_file, *engine = export_run(
        tmp_path, model.state_dict(), Architecture(stages=1), config, {"psnr_y": 31.5}, base
    )
    if unavailable_reason("tensorrt", BackendOptions(device="cuda")) is None:
        assert engine and engine[0].suffix == ".engine"
    else:
        assert not engine and "no TensorRT engine" in caplog.text
    weights = read_weights(weights_file)
    assert weights.stages == 1
    assert weights.metadata["base_weights_sha256"] == base.sha256
    assert "MIT" in weights.metadata["licence"]
    onnx_metadata = read_metadata(onnx_file)
    assert onnx_metadata["weights_sha256"] == weights.sha256
    assert json.loads(onnx_metadata["training_config"]) == config
    assert json.loads(onnx_metadata["training_metrics"]) == {"psnr_y": 31.5}
    batch = np.random.default_rng(0).random((1, 3, 20, 27), dtype=np.float32)
    session = onnxruntime.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    (output,) = session.run(None, {session.get_inputs()[0].name: batch})
    with torch.no_grad():
        expected = model(torch.from_numpy(batch)).numpy()
    np.testing.assert_allclose(output, expected, atol=1e-5)


def test_without_onnx_only_the_weights_are_written(tmp_path: Path) -> None:
    written = export_run(
        tmp_path, SAPNet(stages=2).state_dict(), Architecture(stages=2), {"log": {"run_dir": "r"}}, {}, None, onnx=False
    )
    assert written == [tmp_path / "sapnet.safetensors"]
    assert read_weights(written[0]).metadata["licence"] == "set by whoever trained it"
