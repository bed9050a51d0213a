"""The batching benchmark times real Derainer calls, one per camera against one batch."""

from __future__ import annotations

import numpy as np

from sapnet_ros.bench.batching import camera_frames, measure_batching
from sapnet_ros.settings import DerainSettings


def test_times_sequential_and_batched_calls_of_the_same_frames() -> None:
    result = measure_batching(DerainSettings("onnxruntime"), cameras=3, width=32, height=24, repeats=2)
    values = result.as_dict()
    assert (values["cameras"], values["width"], values["height"], values["backend"]) == (3, 32, 24, "onnxruntime")
    assert 0 < result.batched_ms < 60_000 and 0 < result.sequential_ms < 60_000
    assert values["speedup"] == result.sequential_ms / result.batched_ms


def test_each_camera_gets_a_different_frame_of_the_asked_size() -> None:
    frames = camera_frames(4, 64, 48)
    assert all(frame.shape == (48, 64, 3) and frame.dtype == np.uint8 for frame in frames)
    assert len({frame.tobytes() for frame in frames}) == 4
