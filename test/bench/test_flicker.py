"""The flicker benchmark: a still scene, moving rain, flicker of input, derained and gated output."""

from __future__ import annotations

import numpy as np

from sapnet_ros.bench.flicker import measure_flicker, rainy_sequence
from sapnet_ros.metrics import flicker
from sapnet_ros.settings import DerainSettings
from sapnet_ros.synthesis.photos import still_scene


def test_moving_rain_on_a_still_scene_flickers_and_the_clean_scene_does_not() -> None:
    clean = still_scene("rocket", 96, 72)
    frames = rainy_sequence(clean, "heavy", 3)
    assert flicker([clean] * 3) == 0.0 and flicker(frames) > 2.0
    assert not np.array_equal(frames[0], frames[1])  # the streaks move


def test_measures_input_derained_and_gated_flicker() -> None:
    result = measure_flicker(DerainSettings("onnxruntime"), scene="rocket", width=96, height=72, frames=3)
    values = result.as_dict()
    assert (values["scene"], values["style"], values["frames"], values["backend"]) == (
        "rocket",
        "heavy",
        3,
        "onnxruntime",
    )
    assert result.rainy == flicker(rainy_sequence(still_scene("rocket", 96, 72), "heavy", 3))
    assert 0 < result.derained < result.rainy  # deraining steadies the picture
    assert result.gate_open_frames == 3 and result.gated == result.derained  # open throughout: the same frames
    assert values["derained_vs_rainy"] == result.derained / result.rainy
