"""Training the rain estimator: synthesized examples, a short seeded run, the exported model and its metadata."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from sapnet_ros.gate.estimator import RainEstimator, grey_tiles
from sapnet_ros.gate.training import (
    REGION,
    TRAIN_PHOTOS,
    EstimatorTrainConfig,
    example,
    export,
    make_dataset,
    metadata_for,
    physical_rain,
    project_rain,
    pyramid,
    rain_layers,
    train,
)
from sapnet_ros.model.export import save_onnx
from sapnet_ros.synthesis.photos import load_photo


def test_examples_are_regions_with_or_without_rain() -> None:
    rng = np.random.default_rng(0)
    scales = pyramid(load_photo("camera"))
    assert min(max(s.shape[:2]) for s in scales) == REGION and all(min(s.shape[:2]) >= REGION for s in scales)
    (layer,) = rain_layers(1, rng)
    dry = example(scales, None, np.random.default_rng(1))
    for rain in (project_rain(*layer), physical_rain):
        rainy = example(scales, rain, np.random.default_rng(1))
        assert dry.shape == rainy.shape == (REGION, REGION, 3) and dry.dtype == np.uint8
        assert not np.array_equal(dry, rainy)


def test_a_seeded_run_is_reproducible_and_its_export_computes_what_torch_does(tmp_path: Path) -> None:
    config = EstimatorTrainConfig(examples=32, rain_layers=4, textures_per_kind=1, epochs=1, batch=16)
    tiles, labels = make_dataset(config)
    assert tiles.shape == (32, 4, 1, 64, 64) and labels.tolist() == [0.0, 1.0] * 16
    model = train(config, log=False)
    again = train(config, log=False)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values(), strict=True))
    path = tmp_path / "estimator.onnx"
    save_onnx(export(model), path, metadata_for(config, 1.0))
    estimator = RainEstimator(path)
    assert json.loads(estimator.metadata["config"])["examples"] == 32
    assert estimator.metadata["train_photos"].split(",") == list(TRAIN_PHOTOS)
    frame = load_photo("coins")
    with torch.no_grad():
        expected = torch.sigmoid(model(torch.from_numpy(grey_tiles(frame, "rgb"))[None])).item()
    assert abs(estimator.level(frame) - expected) < 1e-5
