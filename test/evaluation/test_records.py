import pytest

from sapnet_ros.evaluation.detectors import Agreement
from sapnet_ros.evaluation.records import DetectionStats, FrameRecord, spread, summarize
from sapnet_ros.metrics import Quality


def _record(index: int, latency: float, rainy_psnr: float | None = None, found: int | None = None) -> FrameRecord:
    record = FrameRecord(index, 1000 + index, index / 10, latency, latency / 2)
    if rainy_psnr is not None:
        record.quality = {
            "rainy": Quality(rainy_psnr, 0.5, rainy_psnr + 1, 0.6),
            "derained": Quality(rainy_psnr + 4, 0.7, rainy_psnr + 6, 0.8),
        }
    if found is not None:
        record.detections = {"rainy": DetectionStats(found, 0.5 if found else None), "clean": DetectionStats(2, 0.9)}
        record.agreement = {"rainy": Agreement(min(found, 2), max(0, found - 2), max(0, 2 - found))}
    return record


def test_spread_is_median_p95_max_mean() -> None:
    result = spread([float(v) for v in range(1, 101)])
    assert result == {"median": 50.5, "p95": pytest.approx(95.05), "max": 100.0, "mean": 50.5}
    assert spread([]) is None


def test_summary_averages_each_figure_over_the_frames_that_have_it() -> None:
    records = [_record(0, 10.0, 20.0, found=1), _record(1, 30.0, 24.0, found=3), _record(2, 20.0)]
    summary = summarize(records)
    assert summary["frames"] == 3 and summary["paired_frames"] == 2
    assert summary["latency_ms"]["median"] == 20.0 and summary["inference_ms"]["max"] == 15.0
    quality = summary["quality"]
    assert quality["rainy"]["psnr_rgb"] == 22.0 and quality["derained"]["psnr_y"] == 28.0
    assert quality["gain"] == pytest.approx({"psnr_rgb": 4.0, "ssim_rgb": 0.2, "psnr_y": 5.0, "ssim_y": 0.2})
    detections = summary["detections"]
    assert detections["rainy"] == {"frames": 2, "total": 4, "per_frame": 2.0, "mean_score": 0.5}
    assert detections["derained"] == {"frames": 0, "total": 0, "per_frame": None, "mean_score": None}
    rainy = summary["agreement"]["rainy"]  # tp 1 + 2, fp 0 + 1, fn 1 + 0
    assert (rainy["precision"], rainy["recall"]) == (pytest.approx(3 / 4), pytest.approx(3 / 4))
    assert "no_reference" not in summary


def test_records_serialize_to_plain_dicts() -> None:
    data = _record(4, 12.5, 18.0, found=2).as_dict()
    assert data["quality"]["derained"]["psnr_rgb"] == 22.0
    assert data["detections"]["clean"] == {"count": 2, "mean_score": 0.9}
    assert data["agreement"]["rainy"] == {"true_positives": 2, "false_positives": 0, "false_negatives": 0}
