"""The soak benchmark: a few seconds of it, its figures checked for shape and sanity (not for speed)."""

from __future__ import annotations

from sapnet_ros.bench.soak import measure_soak, render


def test_a_short_soak_reports_memory_over_time_and_answers() -> None:
    result = measure_soak(minutes=0.1, width=64, height=48, warmup_s=2.0, sample_s=2.0).as_dict()
    samples = result["samples"]
    assert len(samples) >= 3 and [s["seconds"] for s in samples] == sorted(s["seconds"] for s in samples)
    assert all(100 < s["rss_mb"] <= result["peak_rss_mb"] < 4096 for s in samples)
    assert all(0 <= s["answered"] <= s["sent"] for s in samples) and samples[-1]["answered"] > 0
    assert [s["sent"] for s in samples] == sorted(s["sent"] for s in samples)
    assert result["node_hz"] > 0 and 0 < result["output_hz"] <= result["input_hz"] * 1.1
    assert result["rss_growth_mb"] == samples[-1]["rss_mb"] - samples[0]["rss_mb"]
    text = render(result)
    assert "| RSS MB" in text and "answered" in text and "64x48 bgr8" in text
