"""The ladder section's table and plot, from figures shaped as ``ladder.run`` returns them."""

from pathlib import Path

import cv2

from sapnet_ros.bench.ladder import ladder_inputs, plot, render


def _point(model: str, precision: str, fps: float, psnr: float) -> dict[str, object]:
    quality = {
        "psnr_gt_db": psnr, "psnr_gt_worst_db": psnr - 2, "psnr_gt_seen_rain_db": psnr + 0.5,
        "psnr_gt_held_out_rain_db": psnr - 1, "ssim_gt": 0.9, "psnr_vs_full_db": 40.0,
    }  # fmt: skip
    speed = {"640x480": {"median_ms": 1e3 / fps, "fps": fps, "speedup": fps}}
    return {"model": model, "backend": "onnxruntime", "precision": precision, "mmac_per_pixel": 1.0 / fps,
            "speed": speed, "quality": quality, "loss_vs_full_db": 30.0 - psnr}  # fmt: skip


RESULT = {
    "quality_size": "640x480",
    "sets": ["coffee/light", "coffee/held-out"],
    "points": [
        _point("sapnet", "int8", 1.0, 30.0),
        _point("sapnet-s", "int8", 3.0, 29.8),
        _point("sapnet-xs", "int8", 6.0, 29.1),
        _point("sapnet fast x0.5", "int8", 4.0, 28.3),
    ],
}


def test_table_has_a_row_per_point_and_size() -> None:
    text = render(RESULT)
    assert text.count("| sapnet") == 4 and "| sapnet-xs " in text and "+0.90" in text


def test_plot_is_a_png(tmp_path: Path) -> None:
    image = cv2.imread(str(plot(RESULT, tmp_path / "ladder.png")))
    assert image is not None and image.shape[0] > 300 and image.std() > 10


def test_evaluation_sets_include_a_held_out_rain() -> None:
    labels = [label for label, _, clean in ladder_inputs((24, 32)) if clean is not None]
    assert "coffee/held-out" in labels and "astronaut/heavy" in labels and len(labels) == 6
