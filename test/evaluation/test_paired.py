import csv
from pathlib import Path

import onnx
import pytest

from sapnet_ros import resources
from sapnet_ros.evaluation.paired import main
from sapnet_ros.metrics import image_quality
from sapnet_ros.model.artifacts import file_sha256, metadata_of
from sapnet_ros.model.export import onnx_for_weights, save_onnx
from sapnet_ros.model.weights import read_weights, save_weights
from sapnet_ros.training.data import load_pairs, read_pair


def test_shipped_model_on_synthesized_rain(val_pairs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    output = tmp_path / "eval.csv"
    assert main(["--data", str(val_pairs), "--backend", "torch", "--csv", str(output)]) == 0
    printed = capsys.readouterr().out
    assert "4 pairs" in printed and "backend torch (cpu, fp32)" in printed and "dB Y" in printed
    with output.open() as stream:
        rows = list(csv.DictReader(stream))
    assert [row["name"] for row in rows] == ["img0", "img1", "img2", "img3", "mean"]
    rainy, clean = read_pair(load_pairs(val_pairs)[0])
    assert float(rows[0]["input_psnr_y"]) == pytest.approx(image_quality(rainy, clean, "bgr").psnr_y, abs=1e-4)
    mean = rows[-1]
    assert float(mean["psnr_rgb"]) > float(mean["input_psnr_rgb"]) + 1  # SAPNet removes synthesized rain
    assert float(mean["ssim_y"]) > float(mean["input_ssim_y"])


def test_bad_folder_lists_its_problems(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "input").mkdir()
    (tmp_path / "target").mkdir()
    (tmp_path / "input" / "a.png").write_bytes(b"")
    with pytest.raises(SystemExit) as stopped:
        main(["--data", str(tmp_path), "--backend", "torch"])
    assert stopped.value.code == 2
    assert "a.png: no clean partner" in capsys.readouterr().err


@pytest.fixture
def handed_off(tmp_path: Path) -> Path:
    """Weights and the ONNX beside them, as sapnet-train's hand-off writes them (here: the shipped network)."""
    export = tmp_path / "export"
    weights = read_weights(None)
    trained = save_weights(weights.state_dict, export / "sapnet.safetensors", {**weights.metadata, "source": "test"})
    model = onnx.load(str(resources.default_onnx()))
    save_onnx(model, trained.with_suffix(".onnx"), {**metadata_of(model), "weights_sha256": file_sha256(trained)})
    return trained


def test_the_onnx_beside_the_weights_is_used_as_it_is(handed_off: Path) -> None:
    assert onnx_for_weights(handed_off) == handed_off.with_suffix(".onnx")  # not a fresh export into the cache


def test_weights_are_compared_with_the_shipped_ones_at_the_same_precision(
    handed_off: Path, val_pairs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--data", str(val_pairs), "--weights", str(handed_off), "--backend", "onnxruntime"]
    assert main([*args, "--csv", str(tmp_path / "eval.csv")]) == 0
    printed = capsys.readouterr().out
    assert "backend onnxruntime (CPUExecutionProvider, fp32)" in printed  # no int8 model for these weights
    assert "shipped" in printed and "(same backend and precision)" in printed
    assert "--weights is +0.00 dB PSNR (RGB) against the shipped weights" in printed  # the same network
