import csv
from pathlib import Path

import pytest

from sapnet_ros.evaluation.paired import main
from sapnet_ros.metrics import image_quality
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
