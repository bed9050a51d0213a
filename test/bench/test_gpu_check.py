"""The GPU check's own logic, on the CPU: what it cannot test is listed, failures stay per variant, JSON is valid."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sapnet_ros.bench.gpu_check import ALL_VARIANTS, MIN_PSNR_DB, Settings, _child, parity, parse_variant, sample

ROOT = Path(__file__).resolve().parents[2]


def strict_json(path: Path) -> dict:
    """The file as JSON, refusing NaN and Infinity (which Python writes by default and other readers refuse)."""

    def refuse(constant: str) -> None:
        raise ValueError(f"{constant} in {path}")

    return json.loads(path.read_text(), parse_constant=refuse)


def test_parity_thresholds_per_precision() -> None:
    batch, reference = sample()
    assert batch.shape == reference.shape == (1, 3, 321, 481) and batch.dtype == np.float32
    assert parity(reference, reference, "fp32") == {"max_abs": 0.0, "psnr_db": None, "passed": True}
    assert not parity(reference + 2e-4, reference, "fp32")["passed"]
    noisy = reference + np.random.default_rng(0).normal(0, 0.02, reference.shape)  # about 34 dB
    assert parity(noisy, reference, "int8")["passed"] and not parity(noisy, reference, "fp16")["passed"]
    assert MIN_PSNR_DB["int8"] < 36.6  # below what the shipped symmetric model recorded on this sample


def test_without_a_gpu_every_variant_is_listed_as_not_testable_and_the_json_is_valid(tmp_path: Path) -> None:
    report = tmp_path / "gpu.json"
    done = subprocess.run(
        [sys.executable, "-m", "sapnet_ros.bench.gpu_check", "--json", str(report), "--variants",
         "torch:fp32,torch:fp16,tensorrt:fp16,tensorrt:int8"],
        capture_output=True, text=True, timeout=120, check=False, cwd=ROOT,
        env={**os.environ, "CUDA_VISIBLE_DEVICES": ""},
    )  # fmt: skip
    assert done.returncode == 2, done.stderr[-2000:]  # nothing could be tested
    variants = strict_json(report)["variants"]
    assert [entry["variant"] for entry in variants] == ["torch:fp32", "torch:fp16", "tensorrt:fp16", "tensorrt:int8"]
    assert all(entry["status"] == "not testable" and entry["reason"] for entry in variants)
    assert "| torch:fp16 " in done.stdout and "4 not testable" in done.stdout


def test_a_variant_runs_in_its_own_process_and_reports_parity_and_timing() -> None:
    result = _child("onnxruntime:int8", Settings(device="cpu", sizes=((48, 64),), repeats=1), timeout=240)
    assert result["status"] == "passed", result
    assert result["parity"]["psnr_db"] >= MIN_PSNR_DB["int8"]
    assert result["timing"]["64x48"]["ms"] > 0 and result["first_run_s"] > 0


def test_every_rung_of_the_ladder_is_timed_on_tensorrt_and_a_rung_runs_without_parity() -> None:
    assert {
        "sapnet-s/tensorrt:fp16",
        "sapnet-s/tensorrt:int8",
        "sapnet-xs/tensorrt:fp16",
        "sapnet-xs/tensorrt:int8",
    } <= set(ALL_VARIANTS)
    backend, options = parse_variant("sapnet-xs/tensorrt:int8", "cuda:1")
    assert (backend, options.model, options.precision, options.device) == ("tensorrt", "sapnet-xs", "int8", "cuda:1")
    assert parse_variant("onnxruntime:fp32", "cuda")[1].model == "sapnet"
    result = _child("sapnet-xs/onnxruntime:int8", Settings(device="cpu", sizes=((48, 64),), repeats=1), timeout=240)
    assert result["status"] == "passed" and result["parity"] is None, result  # no stored output of the rung
    assert result["timing"]["64x48"]["ms"] > 0


def test_a_failing_or_hanging_variant_is_a_result_not_an_abort() -> None:
    failed = _child("onnxruntime:fp16", Settings(device="cpu"), timeout=120)  # fp16 has no CPU path: it raises
    assert failed["status"] == "failed" and "fp16 needs a GPU provider" in failed["reason"]
    slow = _child("torch:fp32", Settings(device="cpu"), timeout=0.5)
    assert slow == {"status": "failed", "reason": "no result within 0 s"}


@pytest.mark.skipif(not (ROOT / "scripts" / "gpu_check.sh").is_file(), reason="no checkout")
def test_the_script_is_executable_bash() -> None:
    script = ROOT / "scripts" / "gpu_check.sh"
    assert os.access(script, os.X_OK)
    assert subprocess.run(["bash", "-n", str(script)], check=False).returncode == 0
