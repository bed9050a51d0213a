"""What a run shows while it trains: CSV logs, TensorBoard scalars and images, sample PNGs.

Only rank 0 creates a ``Monitor``. CSV files are appended to, so a resumed
run continues the same logs; TensorBoard is optional (the ``tensorboard``
package) and its absence is a warning, not an error.
"""

from __future__ import annotations

import csv
import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sapnet_ros.frames import from_network
from sapnet_ros.io.images import write_png
from sapnet_ros.metrics import QUALITY_FIELDS, Quality
from sapnet_ros.training.config import LOSS_TERMS

LOG = logging.getLogger(__name__)

TRAIN_COLUMNS = ("step", "epoch", "lr", "loss", *LOSS_TERMS, "images_per_s")
VAL_COLUMNS = ("step", "epoch", *QUALITY_FIELDS)
# TensorBoard tags say what each number is: PSNR in dB, on RGB or on BT.601 luma.
VAL_TAGS = {
    "psnr_rgb": "val/PSNR RGB (dB)",
    "ssim_rgb": "val/SSIM RGB",
    "psnr_y": "val/PSNR Y (dB)",
    "ssim_y": "val/SSIM Y",
}


class CsvLog:
    """Appends rows of fixed columns to a CSV file, writing the header only once."""

    def __init__(self, path: Path, columns: tuple[str, ...]) -> None:
        self.path = path
        self.columns = columns
        if not path.exists() or path.stat().st_size == 0:
            with path.open("w", newline="") as stream:
                csv.writer(stream).writerow(columns)

    def write(self, row: dict[str, Any]) -> None:
        with self.path.open("a", newline="") as stream:
            csv.writer(stream).writerow([_cell(row.get(column, "")) for column in self.columns])


def _cell(value: Any) -> Any:
    return f"{value:.6g}" if isinstance(value, float) else value


def quality_text(quality: Quality) -> str:
    """``quality`` as training logs and ``sapnet-evaluate`` print it: PSNR in dB and SSIM, each on RGB and on Y."""
    return (
        f"PSNR {quality.psnr_rgb:.2f} dB RGB, {quality.psnr_y:.2f} dB Y; "
        f"SSIM {quality.ssim_rgb:.4f} RGB, {quality.ssim_y:.4f} Y"
    )


def triptych(rainy: torch.Tensor, derained: torch.Tensor, clean: torch.Tensor) -> np.ndarray:
    """Rainy | derained | clean side by side: uint8 (H, 3W, 3) BGR from three (3, H, W) RGB [0, 1] tensors."""
    strip = torch.cat((rainy, derained, clean), dim=2).detach().float().cpu().numpy()  # (3, H, 3W)
    return from_network(strip, like=np.empty((strip.shape[1], strip.shape[2], 3), np.uint8), order="bgr")


class Monitor:
    """Rank 0's sink for training and validation numbers.

    Args:
        run_dir: gets ``train.csv``, ``val.csv``, ``samples/`` and ``tensorboard/``.
        tensorboard: also write TensorBoard event files.
    """

    def __init__(self, run_dir: Path, tensorboard: bool) -> None:
        run_dir.mkdir(parents=True, exist_ok=True)
        self.run_dir = run_dir
        self.train_log = CsvLog(run_dir / "train.csv", TRAIN_COLUMNS)
        self.val_log = CsvLog(run_dir / "val.csv", VAL_COLUMNS)
        self.writer = self._tensorboard(run_dir / "tensorboard") if tensorboard else None

    @staticmethod
    def _tensorboard(path: Path) -> Any:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as err:
            LOG.warning("TensorBoard logging off: %s (pip install tensorboard); CSV logs are still written", err)
            return None
        return SummaryWriter(str(path))

    def log_train(self, step: int, epoch: int, values: dict[str, float]) -> None:
        self.train_log.write({"step": step, "epoch": epoch, **values})
        if self.writer is not None:
            for name, value in values.items():
                self.writer.add_scalar(f"train/{name}", value, step)

    def log_val(self, step: int, epoch: int, quality: Quality) -> None:
        self.val_log.write({"step": step, "epoch": epoch, **quality.as_dict()})
        if self.writer is not None:
            for name, value in quality.as_dict().items():
                self.writer.add_scalar(VAL_TAGS[name], value, step)

    def save_samples(self, step: int, epoch: int, samples: list[tuple[str, np.ndarray]]) -> None:
        """Write each (name, triptych) as ``samples/epoch_NNN/<name>.png``; the first also to TensorBoard."""
        folder = self.run_dir / "samples" / f"epoch_{epoch:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        for name, image in samples:
            write_png(folder / f"{name}.png", image)
        if self.writer is not None and samples:
            self.writer.add_image(
                "val/rainy | derained | clean", samples[0][1][:, :, ::-1].copy(), step, dataformats="HWC"
            )

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
