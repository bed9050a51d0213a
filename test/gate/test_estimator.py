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
from sapnet_ros.synthesis import sets

FALSE_OPENS = 0.05  # of the unseen dry frames at most (the goal; the shipped model: 0)
PROJECT_RECALL = 0.6  # of rain.py's rain on unseen scenes at least (the shipped model: 0.67, docs/generalisation.md)
GOAL_RECALL = 0.95  # the goal on rain of another generator (not met)


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
def unseen() -> dict[str, np.ndarray]:
    """Set name -> the shipped model's levels on the evaluation sets (240x320; none seen in training)."""
    return {
        s.name: np.array(RainEstimator().levels([f.image for f in s.frames]))
        for s in sets.evaluation_sets(with_real=False)
    }


def test_no_false_opens_on_unseen_dry_scenes_with_rain_like_textures(unseen: dict[str, np.ndarray]) -> None:
    """Held-out photo crops, gravel, foliage, brick, fences, road markings, night noise: none opens the gate.

    The estimator trained on rain.py alone opened on foliage (level 1.0) and fences.
    """
    assert not set(TRAIN_PHOTOS) & set(HELD_OUT_PHOTOS)
    assert len(unseen["dry"]) == 18 and np.mean(unseen["dry"] >= GateSettings().open_level) <= FALSE_OPENS
    assert unseen["dry"].max() < GateSettings().first_frame_level


def test_detects_seen_rain_on_unseen_scenes(unseen: dict[str, np.ndarray]) -> None:
    """rain.py's styles on the held-out scenes: every photo crop, some of the textures (gravel, foliage miss)."""
    assert np.mean(unseen["project"] >= GateSettings().open_level) >= PROJECT_RECALL


@pytest.mark.xfail(strict=True, reason="goal not met: docs/generalisation.md (recall 0-33 % per held-out style)")
def test_goal_recall_on_rain_of_a_generator_it_was_not_trained_on(unseen: dict[str, np.ndarray]) -> None:
    """The issue's goal on the physical model's held-out styles; strict: it reports when a model meets it."""
    rainy = np.concatenate([levels for name, levels in unseen.items() if name.startswith("physical/")])
    assert np.mean(rainy >= GateSettings().open_level) >= GOAL_RECALL


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
