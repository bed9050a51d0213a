"""Rates, latency percentiles, frame counters and the log throttle, on controlled time."""

from __future__ import annotations

import pytest

from sapnet_ros.ros.stats import FrameStats, LatencyWindow, RateMeter, Summary, Throttle


def test_rate_meter_counts_over_the_window_and_decays() -> None:
    meter = RateMeter(now=0.0, window_s=5.0)
    for tick in range(20):
        meter.tick(tick * 0.1)  # 10 Hz for 2 s
    assert meter.rate(2.0) == pytest.approx(10.0)  # a young meter divides by its age: 20 events in 2 s
    assert meter.rate(5.0) == pytest.approx(19 / 5)  # the tick at t=0 left the window (0, 5]
    assert meter.rate(6.85) == pytest.approx(1 / 5)  # only t=1.9 is left
    assert meter.rate(7.0) == 0.0


def test_latency_window_mean_and_p95() -> None:
    window = LatencyWindow(size=100)
    assert window.summary() is None
    for value in range(1, 201):
        window.add(float(value))  # only the last 100 are kept: 101..200
    summary = window.summary()
    assert summary == Summary(mean_ms=150.5, p95_ms=pytest.approx(195.05))


def test_frame_stats_account_for_every_frame() -> None:
    stats = FrameStats(now=0.0)
    for tick in range(6):
        stats.received(tick * 0.5)
    stats.dropped("superseded")
    stats.dropped("superseded")
    stats.dropped("invalid")
    stats.published(now=2.0, inference_ms=40.0, latency_ms=50.0)
    stats.published(now=2.5, inference_ms=60.0, latency_ms=70.0)
    stats.dropped("discarded")
    snapshot = stats.snapshot(now=3.0)
    assert (snapshot.received, snapshot.published, snapshot.dropped) == (6, 2, 4)
    assert snapshot.input_hz == pytest.approx(2.0) and snapshot.output_hz == pytest.approx(2 / 3)
    assert snapshot.inference == Summary(50.0, pytest.approx(59.0))
    pairs = dict(snapshot.as_key_values())
    assert pairs["frames dropped"] == "4" and pairs["end-to-end latency mean (ms)"] == "60.0"
    assert snapshot.as_dict()["dropped"] == 4
    with pytest.raises(ValueError, match="unknown drop reason 'lost'"):
        stats.dropped("lost")  # type: ignore[arg-type]


def test_throttle_lets_each_key_through_once_per_period() -> None:
    throttle = Throttle(period_s=10.0)
    assert throttle.ready(("/image", "bad step"), 0.0)
    assert not throttle.ready(("/image", "bad step"), 9.9)
    assert throttle.ready(("/image", "bad data"), 9.9)  # another problem is news
    assert throttle.ready(("/image", "bad step"), 10.0)


def test_a_camera_counts_into_its_node_total() -> None:
    total = FrameStats(0.0)
    front, rear = FrameStats(0.0, parent=total), FrameStats(0.0, parent=total)
    front.received(1.0)
    rear.received(1.0)
    front.published(2.0, 10.0, 20.0)
    rear.dropped("superseded")
    assert (front.snapshot(2.0).published, rear.snapshot(2.0).superseded) == (1, 1)
    node = total.snapshot(2.0)
    assert (node.received, node.published, node.superseded) == (2, 1, 1)
    assert node.latency is not None and node.latency.mean_ms == 20.0
