"""The physical rain model, the rain-like dry textures and the disjoint evaluation sets."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import tiny_rgb

from sapnet_ros.metrics import image_quality
from sapnet_ros.synthesis import physical, sets
from sapnet_ros.synthesis.textures import TEXTURES, dry_texture


@pytest.fixture(scope="module")
def scene() -> np.ndarray:
    return sets.crop(tiny_rgb(200, 260), 0.5, 0.5, 1.0, (120, 160))


@pytest.mark.parametrize("name", list(physical.STYLES))
def test_every_style_is_seeded_visible_rain(scene: np.ndarray, name: str) -> None:
    rainy = physical.apply_style(scene, name, seed=3)
    assert rainy.shape == scene.shape and rainy.dtype == np.uint8
    np.testing.assert_array_equal(rainy, physical.apply_style(scene, name, seed=3))
    assert not np.array_equal(rainy, physical.apply_style(scene, name, seed=4))
    assert image_quality(rainy, scene).psnr_rgb < 45.0, name  # changes the picture, not by rounding


def test_drops_darken_a_bright_sky_unlike_screen_blended_streaks() -> None:
    """A drop shows a blurred average of the scene, so over the brightest part it is darker: rain.py can't."""
    sky = np.full((120, 160, 3), 250, np.uint8)
    sky[60:] = 40  # dark ground below a bright sky
    rainy = physical.render(sky, physical.STYLES["windy"], seed=1).astype(int)
    assert (rainy[:50] < 245).any() and (rainy[70:] > 60).any()


def test_grey_sixteen_bit_and_unknown_styles() -> None:
    grey16 = tiny_rgb(60, 80)[:, :, 0].astype(np.uint16) * 257
    rainy = physical.apply_style(grey16, "drizzle", seed=0)
    assert rainy.shape == (60, 80, 3) and rainy.dtype == np.uint16
    with pytest.raises(ValueError, match="unknown physical rain style 'hail'"):
        physical.apply_style(grey16, "hail")


@pytest.mark.parametrize("name", list(TEXTURES))
def test_textures_are_seeded_dry_scenes(name: str) -> None:
    texture = dry_texture(name, 64, 96, seed=2)
    assert texture.shape == (64, 96, 3) and texture.dtype == np.uint8 and texture.std() > 3
    np.testing.assert_array_equal(texture, dry_texture(name, 64, 96, seed=2))
    assert not np.array_equal(texture, dry_texture(name, 64, 96, seed=3))


def test_training_and_evaluation_are_disjoint() -> None:
    assert not set(sets.TRAIN_PHOTOS) & set(sets.EVAL_PHOTOS)
    assert not set(sets.TRAIN_PHYSICAL) & set(sets.EVAL_PHYSICAL)
    assert set(sets.TRAIN_PHYSICAL) | set(sets.EVAL_PHYSICAL) == set(physical.STYLES)
    train = sets.clean_scenes("train", (48, 64))
    evaluation = sets.clean_scenes("eval", (48, 64))
    validation = sets.clean_scenes("validation", (48, 64))
    names = [{name for name, _ in scenes} for scenes in (train, evaluation)]
    assert not names[0] & names[1]
    assert not any(np.array_equal(a, b) for _, a in evaluation for _, b in validation)  # other places and seeds
    with pytest.raises(ValueError, match="split must be"):
        sets.clean_scenes("test")


def test_evaluation_sets_pair_every_rainy_frame_with_its_scene(tmp_path: object) -> None:
    built = sets.evaluation_sets((48, 64), with_real=False)
    assert [s.name for s in built] == ["dry", "project", *(f"physical/{name}" for name in sets.EVAL_PHYSICAL)]
    dry, *rainy = built
    assert not any(frame.rainy for frame in dry.frames) and all(s.paired for s in built)
    for evaluation_set in rainy:
        assert all(f.rainy and f.image.shape == f.clean.shape for f in evaluation_set.frames)  # type: ignore[union-attr]
        assert len(evaluation_set.frames) == len(dry.frames)


def test_real_photos_are_split_and_absent_data_is_no_set(tmp_path: pytest.TempPathFactory) -> None:
    import cv2

    folder = tmp_path / "real"  # type: ignore[operator]
    folder.mkdir()
    for index in range(1, 5):
        cv2.imwrite(str(folder / f"{index}.png"), tiny_rgb(700, 900) if index == 1 else tiny_rgb(30, 40)[:, :, 0])
    select, test = sets.real_sets(folder)
    assert [f.name for f in select.frames] == ["real/1", "real/3"] and [f.name for f in test.frames] == [
        "real/2",
        "real/4",
    ]
    assert max(select.frames[0].image.shape[:2]) == 640 and test.frames[0].image.shape == (30, 40, 3)
    assert not select.paired and all(f.rainy for f in select.frames)
    assert sets.real_sets(folder / "absent") == []
