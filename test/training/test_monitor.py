from pathlib import Path

import torch

from sapnet_ros.metrics import Quality
from sapnet_ros.training.monitor import CsvLog, Monitor, triptych


def test_csv_log_appends_across_runs(tmp_path: Path) -> None:
    CsvLog(tmp_path / "log.csv", ("step", "loss")).write({"step": 1, "loss": 0.123456789})
    CsvLog(tmp_path / "log.csv", ("step", "loss")).write({"step": 2})  # a resumed run
    assert (tmp_path / "log.csv").read_text().splitlines() == ["step,loss", "1,0.123457", "2,"]


def test_triptych_is_bgr_side_by_side() -> None:
    red = torch.zeros(3, 4, 5)
    red[0] = 1.0
    strip = triptych(red, torch.zeros(3, 4, 5), torch.ones(3, 4, 5))
    assert strip.shape == (4, 15, 3) and strip.dtype.name == "uint8"
    assert (
        strip[0, 0].tolist() == [0, 0, 255] and strip[0, 7].tolist() == [0, 0, 0] and strip[0, 14].tolist() == [255] * 3
    )


def test_validation_rows_are_labelled(tmp_path: Path) -> None:
    monitor = Monitor(tmp_path, tensorboard=False)
    monitor.log_val(10, 1, Quality(psnr_rgb=25.0, ssim_rgb=0.8, psnr_y=27.5, ssim_y=0.85))
    monitor.close()
    assert (tmp_path / "val.csv").read_text().splitlines() == [
        "step,epoch,psnr_rgb,ssim_rgb,psnr_y,ssim_y",
        "10,1,25,0.8,27.5,0.85",
    ]
