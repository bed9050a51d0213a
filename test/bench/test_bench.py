import json
from pathlib import Path

import numpy as np
import pytest
from conftest import tiny_rgb

from sapnet_ros.bench import table
from sapnet_ros.bench.cli import main
from sapnet_ros.bench.measure import measure
from sapnet_ros.model.artifacts import int8_model_path, quality_holds
from sapnet_ros.model.fidelity import compare


def test_markdown_table() -> None:
    assert table(["a", "bb"], [["1", "2"], ["333", "4"]]).splitlines() == [
        "| a   | bb |",
        "| --- | -- |",
        "| 1   | 2  |",
        "| 333 | 4  |",
    ]


def _noisy(image: np.ndarray, amplitude: int, seed: int) -> np.ndarray:
    noise = np.random.default_rng(seed).integers(-amplitude, amplitude + 1, image.shape)
    return np.clip(image.astype(int) + noise, 0, 255).astype(np.uint8)


def test_compare_reports_loss_against_the_clean_photos() -> None:
    clean = tiny_rgb(16, 16, seed=1)
    reference, worse = _noisy(clean, 2, 0), _noisy(clean, 8, 1)
    inputs = [("photo/heavy", clean, clean), ("sample", clean, None)]
    same = compare((reference, reference), (reference, reference), inputs)
    assert same["gt_loss_db"] == 0.0 and same["psnr_vs_fp32_db"] == float("inf")
    quality = compare((worse, worse), (reference, reference), inputs)
    assert quality["gt_loss_db"] > 5.0  # more noise than the reference: lower PSNR against the clean photo
    assert 25 < quality["psnr_vs_fp32_db"] < 40 and quality["sample_psnr_vs_fp32_db"] == quality["psnr_vs_fp32_db"]


def test_one_run_measures_speed_ratios_and_quality(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    output = tmp_path / "bench.json"
    args = ["--only", "backends,fast", "--sizes", "32x24", "--quality-size", "32x24", "--repeats", "1", "--warmup", "0"]
    assert main([*args, "--variants", "onnxruntime:int8", "--device", "cpu", "--json", str(output)]) == 0
    measure.cache_clear()
    report = json.loads(output.read_text())
    assert report["machine"]["cpu_count"] >= 1
    variants = {entry["label"]: entry for entry in report["sections"]["backends"]["variants"]}
    assert set(variants) == {"torch fp32", "onnxruntime int8"}
    assert variants["torch fp32"]["timings"]["32x24"]["speedup_vs_torch_fp32"] == 1.0
    int8 = variants["onnxruntime int8"]
    assert int8["timings"]["32x24"]["median_ms"] > 0 and int8["timings"]["32x24"]["peak_rss_mib"] > 50
    assert int8["quality"]["sample_psnr_vs_fp32_db"] > 25.0  # a 32x24 sample: figures only, no gate
    best = report["sections"]["backends"]["best_cpu"]
    assert best is None or best["label"] in variants  # 32x24 quality is too coarse to promise a gate result
    fast = report["sections"]["fast"]
    found = int8_model_path()
    auto_cpu = "onnxruntime int8" if found is not None and quality_holds(found[1]) else "onnxruntime fp32"
    assert fast["path"] == auto_cpu and fast["modes"][0]["speed"]["32x24"]["speedup"] > 0
    printed = capsys.readouterr().out
    assert "## backends" in printed and "| onnxruntime int8 | 32x24 |" in printed and "## fast" in printed


def test_node_and_camera_sections_compose_into_one_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    output = tmp_path / "bench.json"
    args = ["--only", "plumbing,batching,gate,flicker", "--sizes", "96x72", "--repeats", "1", "--device", "cpu"]
    assert main([*args, "--json", str(output)]) == 0
    sections = json.loads(output.read_text())["sections"]
    assert sections["plumbing"]["overhead_percent"] > 0
    assert sections["batching"]["cameras"] == 4 and sections["batching"]["speedup"] > 0
    assert sections["gate"]["sizes"][0]["width"] == 96
    assert [s["style"] for s in sections["flicker"]["sequences"]] == ["light", "heavy"]
    printed = capsys.readouterr().out
    for heading in ("## plumbing", "## batching", "## gate", "## flicker"):
        assert heading in printed


def test_unknown_section_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["--only", "wobble"])
    assert caught.value.code == 2 and "unknown sections ['wobble']" in capsys.readouterr().err
