"""Quantization-aware fine-tuning: the PyTorch copy of the graph computes what ONNX Runtime does, rounding included."""

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from sapnet_ros.model import quantize
from sapnet_ros.model.graph import build_graph
from sapnet_ros.model.network import Architecture, SAPNet
from sapnet_ros.model.qat import QAT, GraphModule, fake_quantize, finetune, quant_points
from sapnet_ros.model.weights import read_weights, save_weights

ARCHITECTURE = Architecture(stages=2, channels=8)


def _run(model: onnx.ModelProto | Path, batch: np.ndarray) -> np.ndarray:
    source = model.SerializeToString() if isinstance(model, onnx.ModelProto) else str(model)
    session = ort.InferenceSession(source, providers=["CPUExecutionProvider"])
    return np.asarray(session.run(None, {"rainy": batch})[0])


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(1 / np.mean((a - b) ** 2)))


@pytest.fixture(scope="module")
def graphs(tmp_path_factory: pytest.TempPathFactory) -> tuple[onnx.ModelProto, onnx.ModelProto, list[np.ndarray]]:
    """A small network's fused graph, its int8 model and the calibration frames that made it."""
    folder = tmp_path_factory.mktemp("qat")
    torch.manual_seed(0)
    weights = save_weights(
        SAPNet.build(ARCHITECTURE).state_dict(), folder / "w.safetensors", ARCHITECTURE.to_metadata()
    )
    fused = build_graph(read_weights(weights))
    onnx.save(fused, str(folder / "fused.onnx"))
    frames = [batch[:, :, :40, :56].copy() for batch in quantize.synthesized_batches(4)]
    quantize.quantize_model(folder / "fused.onnx", folder / "int8.onnx", frames)
    return fused, onnx.load(str(folder / "int8.onnx")), frames


def test_fake_quantize_rounds_inside_the_range_and_passes_gradients_only_there() -> None:
    x = torch.tensor([-1.0, 0.26, 0.74, 3.0], requires_grad=True)
    y = fake_quantize(x, torch.tensor(0.5), torch.tensor(2.0), 0, 5)  # representable: -1.0 ... 1.5 in steps of 0.5
    assert y.tolist() == [-1.0, 0.5, 0.5, 1.5]
    y.sum().backward()
    assert x.grad is not None and x.grad.tolist() == [1.0, 1.0, 1.0, 0.0]


def test_graph_module_computes_the_float_graph_and_rounds_where_the_int8_model_does(
    graphs: tuple[onnx.ModelProto, onnx.ModelProto, list[np.ndarray]],
) -> None:
    fused, int8, _ = graphs
    batch = np.random.default_rng(3).random((1, 3, 24, 32), dtype=np.float32)
    module = GraphModule(fused)
    with torch.no_grad():
        assert np.abs(module(torch.from_numpy(batch)).numpy() - _run(fused, batch)).max() < 1e-5
        points = quant_points(int8)
        # the gate and residual convolutions are int8 in the model; the image-facing and attention ones are not
        assert points.weights == {"gates_first.weight", "gates.weight"} | {
            f"res{block}/conv{index}.weight" for block in range(1, 6) for index in (1, 2)
        }
        assert "s1/conv0_relu" in points.activations and "rainy" not in points.activations
        assert all(scale > 0 and low < high for scale, _, low, high in points.activations.values())
        module.points = points
        simulated = module(torch.from_numpy(batch)).numpy()
    int8_output, float_output = _run(int8, batch), _run(fused, batch)
    # the simulation rounds like ONNX Runtime: as far from the float output as int8 is, and near the int8 output
    assert abs(_psnr(simulated, float_output) - _psnr(int8_output, float_output)) < 3.0
    assert _psnr(simulated, int8_output) > _psnr(int8_output, float_output) - 3.0
    assert _psnr(simulated, float_output) < 70.0  # it does round


def test_finetune_changes_the_weights_only_and_keeps_the_float_output_close(
    graphs: tuple[onnx.ModelProto, onnx.ModelProto, list[np.ndarray]],
) -> None:
    fused, int8, frames = graphs
    tuned = finetune(fused, int8, frames, QAT(steps=3, batch=2, crop=32, lr=1e-4, seed=1))
    assert [node.name for node in tuned.graph.node] == [node.name for node in fused.graph.node]
    before = {init.name: onnx.numpy_helper.to_array(init) for init in fused.graph.initializer}
    after = {init.name: onnx.numpy_helper.to_array(init) for init in tuned.graph.initializer}
    assert before.keys() == after.keys() and all(before[k].shape == after[k].shape for k in before)
    assert any(not np.array_equal(before[k], after[k]) for k in before)
    batch = frames[0][:, :, :24, :32].copy()
    assert _psnr(_run(tuned, batch), _run(fused, batch)) > 35.0
    again = finetune(fused, int8, frames, QAT(steps=3, batch=2, crop=32, lr=1e-4, seed=1))
    assert all(
        np.array_equal(onnx.numpy_helper.to_array(a), onnx.numpy_helper.to_array(b))
        for a, b in zip(tuned.graph.initializer, again.graph.initializer, strict=True)
    )


def test_quantize_refuses_negative_fine_tuning_steps_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "int8.onnx"
    with pytest.raises(SystemExit) as stopped:
        quantize.main(["--qat-steps", "-3", "--output", str(output)])
    assert stopped.value.code == 2
    assert "--qat-steps must be 0 or more, got -3" in capsys.readouterr().err
    assert not output.exists()
