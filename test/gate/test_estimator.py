"""The rain estimator: tiles at native resolution, and the shipped model's levels on held-out frames."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import tiny_rgb

from sapnet_ros.errors import WeightsError
from sapnet_ros.gate.estimator import GRID, TILE, RainEstimator, grey_tiles, tile_origins
from sapnet_ros.gate.rain_gate import GateSettings
from sapnet_ros.gate.training import HELD_OUT_PHOTOS, TRAIN_PHOTOS
from sapnet_ros.synthesis import physical, sets

RECALL = 0.9  # of the unseen rainy frames at least (the shipped model's figures: docs/generalisation.md)
FALSE_OPENS = 0.1  # of the unseen dry frames at most


@pytest.fixture(scope="module")
def estimator() -> RainEstimator:
    return RainEstimator()


def test_tiles_spread_over_the_frame_at_its_own_resolution() -> None:
    origins = tile_origins(480, 640)
    assert len(origins) == GRID[0] * GRID[1] and origins[0] == (0, 0) and origins[-1] == (480 - TILE, 640 - TILE)
    assert tile_origins(40, 50) == [(0, 0)]  # smaller than a tile: the whole frame, once
    photo = tiny_rgb(480, 640)
    tiles = grey_tiles(photo, "rgb")
    assert tiles.shape == (12, 1, TILE, TILE) and tiles.dtype == np.float32
    np.testing.assert_allclose(tiles.mean(axis=(2, 3)), 0, atol=1e-5)
    assert np.all(tiles.std(axis=(2, 3)) > 0.9)  # contrast-normalized


@pytest.mark.parametrize(
    ("variant", "order"),
    [
        (lambda rgb: rgb[:, :, ::-1].copy(), "bgr"),
        (lambda rgb: rgb.astype(np.uint16) * 257, "rgb"),
        (lambda rgb: np.dstack([rgb, np.full(rgb.shape[:2], 9, np.uint8)]), "rgb"),
    ],
    ids=["bgr", "rgb16", "rgba"],
)
def test_tiles_do_not_depend_on_layout(variant: object, order: str) -> None:
    rgb = tiny_rgb(80, 100)
    np.testing.assert_allclose(grey_tiles(variant(rgb), order), grey_tiles(rgb, "rgb"), atol=1e-4)  # type: ignore[operator, arg-type]


def test_grey_frames_are_scored_as_they_are(estimator: RainEstimator) -> None:
    grey = tiny_rgb(24, 31)[:, :, 1]
    assert grey_tiles(grey, "rgb").shape == (4, 1, 24, 24)  # tiles as tall as the frame, spread across it
    assert 0.0 <= estimator.level(grey) <= 1.0
    np.testing.assert_allclose(grey_tiles(grey, "rgb"), grey_tiles(np.dstack([grey] * 3), "rgb"), atol=1e-4)


@pytest.fixture(scope="module")
def unseen() -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(rainy, dry) 240x320 frames the estimator never saw: held-out scenes, the physical model's held-out styles.

    Every second evaluation scene (photo crops and rain-like textures), dry and with each held-out style in turn.
    """
    scenes = [scene for _, scene in sets.clean_scenes("eval")[::2]]
    styles = sets.EVAL_PHYSICAL
    rainy = [physical.apply_style(scene, styles[index % len(styles)], seed=index) for index, scene in enumerate(scenes)]
    rainy += [
        physical.apply_style(scene, styles[(index + 2) % len(styles)], seed=index) for index, scene in enumerate(scenes)
    ]
    return rainy, scenes


def test_shipped_model_detects_rain_of_a_generator_it_was_not_trained_on(
    estimator: RainEstimator, unseen: tuple[list[np.ndarray], list[np.ndarray]]
) -> None:
    """Recall and false opens at the gate's open_level on held-out physical styles over held-out scenes."""
    assert not set(TRAIN_PHOTOS) & set(HELD_OUT_PHOTOS)
    assert estimator.metadata["held_out_photos"].split(",") == list(HELD_OUT_PHOTOS)
    rainy, dry = unseen
    open_level = GateSettings().open_level
    recall = np.mean(np.array(estimator.levels(rainy)) >= open_level)
    false_opens = np.mean(np.array(estimator.levels(dry)) >= open_level)
    assert recall >= RECALL and false_opens <= FALSE_OPENS, (recall, false_opens)


@pytest.mark.parametrize(
    ("content", "problem"),
    [(None, "rain estimator not found"), (b"not onnx", "not a readable ONNX model")],
)
def test_bad_model_files_are_refused(tmp_path: Path, content: bytes | None, problem: str) -> None:
    path = tmp_path / "estimator.onnx"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(WeightsError, match=problem):
        RainEstimator(path)


def test_an_onnx_model_that_is_not_the_estimator_is_refused() -> None:
    with pytest.raises(WeightsError, match="not a rain estimator"):
        RainEstimator(Path(__file__).parents[2] / "models" / "sapnet.onnx")
