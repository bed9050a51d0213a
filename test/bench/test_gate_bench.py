"""The gate-cost benchmark times the real estimator and the real Derainer on one frame."""

from __future__ import annotations

from sapnet_ros.bench.gate import measure_gate_cost
from sapnet_ros.settings import DerainSettings


def test_times_the_estimate_against_inference() -> None:
    result = measure_gate_cost(DerainSettings("onnxruntime"), width=96, height=72, repeats=3)
    values = result.as_dict()
    assert (values["width"], values["height"], values["backend"]) == (96, 72, "onnxruntime")
    assert 0 < result.estimate_ms < 60_000 and 0 < result.inference_ms < 60_000
    assert values["estimate_percent"] == 100 * result.estimate_ms / result.inference_ms
