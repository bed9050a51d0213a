"""The plumbing benchmark measures real steps and relates them to inference."""

from __future__ import annotations

from sapnet_ros.bench import BenchConfig
from sapnet_ros.bench.plumbing import measure_plumbing, render, run, sample_frame
from sapnet_ros.settings import DerainSettings


def test_measures_each_step_against_inference() -> None:
    result = measure_plumbing(DerainSettings("onnxruntime"), width=32, height=24, repeats=3)
    values = result.as_dict()
    assert (values["width"], values["height"], values["backend"]) == (32, 24, "onnxruntime")
    for step in ("take_ms", "decode_ms", "fill_ms", "publish_ms", "tensor_ms", "jpeg_ms", "inference_ms"):
        assert 0 < values[step] < 60_000, step
    assert result.plumbing_ms < sum(v for k, v in values.items() if k.endswith("_ms") and k != "plumbing_ms")
    assert values["overhead_percent"] == 100 * result.plumbing_ms / result.inference_ms


def test_sample_frame_is_the_shipped_photo_at_the_asked_size() -> None:
    frame = sample_frame(640, 480)
    assert frame.shape == (480, 640, 3) and frame.dtype.name == "uint8" and frame.std() > 20


def test_is_a_sapnet_bench_section() -> None:
    config = BenchConfig(sizes=((24, 32),), repeats=1, warmup=0)
    result = run(config)
    assert (result["width"], result["height"]) == (32, 24)
    text = render(result)
    assert "| publish" in text and "% of inference" in text
