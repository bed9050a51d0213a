from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from conftest import clean_crops

from sapnet_ros.errors import DataError
from sapnet_ros.training.data import PairDataset, PatchDataset, find_pairs, load_pairs, read_pair


def _write(path: Path, image: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), image)


@pytest.fixture
def crops() -> list[np.ndarray]:
    return clean_crops(3)


@pytest.mark.parametrize(
    ("rainy_name", "clean_name"),
    [
        ("input/{}.png", "target/{}.png"),
        ("rainy/rain-{}.png", "norain/norain-{}.png"),
        ("rain-{}.png", "norain-{}.png"),
    ],
    ids=["input-target", "rain100", "raintrain"],
)
def test_each_layout_pairs_in_natural_order(
    tmp_path: Path, crops: list[np.ndarray], rainy_name: str, clean_name: str
) -> None:
    for key, image in zip(("10", "2", "1"), crops, strict=True):
        _write(tmp_path / rainy_name.format(key), image)
        _write(tmp_path / clean_name.format(key), 255 - image)
    pairs = load_pairs(tmp_path)
    assert [pair.name for pair in pairs] == ["1", "2", "10"]
    rainy, clean = read_pair(pairs[0])
    np.testing.assert_array_equal(clean, 255 - rainy)


def test_raintrain_folder_ignores_other_kinds(tmp_path: Path, crops: list[np.ndarray]) -> None:
    _write(tmp_path / "rain-1.png", crops[0])
    _write(tmp_path / "norain-1.png", crops[0])
    _write(tmp_path / "rainstreak-1.png", crops[1])  # JORDER's RainTrainH has these too
    assert [pair.name for pair in find_pairs(tmp_path)] == ["1"]


def test_every_problem_is_listed(tmp_path: Path, crops: list[np.ndarray]) -> None:
    _write(tmp_path / "input/a.png", crops[0])
    _write(tmp_path / "target/a.png", crops[0])
    _write(tmp_path / "input/orphan.png", crops[1])
    _write(tmp_path / "target/lonely.png", crops[1])
    with pytest.raises(DataError) as caught:
        find_pairs(tmp_path)
    message = str(caught.value)
    assert "2 problems" in message
    assert f"{tmp_path / 'input/orphan.png'}: no clean partner" in message
    assert f"{tmp_path / 'target/lonely.png'}: no rainy partner" in message


def test_unreadable_mismatched_and_small_pairs_are_listed(tmp_path: Path, crops: list[np.ndarray]) -> None:
    _write(tmp_path / "input/good.png", crops[0])
    _write(tmp_path / "target/good.png", crops[0])
    (tmp_path / "input/broken.png").write_bytes(b"\x89PNG truncated")
    _write(tmp_path / "target/broken.png", crops[0])
    _write(tmp_path / "input/resized.png", crops[1][:40])
    _write(tmp_path / "target/resized.png", crops[1])
    _write(tmp_path / "input/grey.png", crops[2][:, :, 0])
    _write(tmp_path / "target/grey.png", crops[2])
    with pytest.raises(DataError) as caught:
        load_pairs(tmp_path, min_side=32)
    lines = str(caught.value).splitlines()
    assert lines[0].endswith("3 problems with the paired data:")
    assert any("broken.png: not a decodable image" in line for line in lines)
    assert any("resized.png is uint8 (40, 48, 3) but" in line for line in lines)
    assert any("grey.png is uint8 (48, 48) but" in line for line in lines)
    with pytest.raises(DataError, match=r"good\.png: 48x48 is smaller than the 64 px patches"):
        load_pairs(tmp_path, min_side=64)


def test_folder_without_a_layout(tmp_path: Path, crops: list[np.ndarray]) -> None:
    _write(tmp_path / "photo.png", crops[0])
    with pytest.raises(DataError, match="no paired layout found; expected input/ \\+ target/"):
        find_pairs(tmp_path)
    with pytest.raises(DataError, match="not a folder"):
        find_pairs(tmp_path / "missing")


def test_patches_depend_only_on_seed_epoch_and_index(train_pairs: Path) -> None:
    pairs = load_pairs(train_pairs)
    dataset = PatchDataset(pairs, patch_size=32, crops_per_image=3, flip=True, seed=7)
    assert len(dataset) == 3 * len(pairs)
    rainy, clean = dataset[5]
    assert rainy.shape == clean.shape == (3, 32, 32) and rainy.dtype == torch.float32
    again = PatchDataset(pairs, patch_size=32, crops_per_image=3, flip=True, seed=7)
    assert torch.equal(again[5][0], rainy)
    dataset.epoch = 1
    assert not torch.equal(dataset[5][0], rainy)
    # the clean patch is cut from the same place as the rainy one: rain only brightens
    assert bool((rainy >= clean - 1 / 255).all())


def test_flips_are_horizontal_only(train_pairs: Path) -> None:
    pairs = load_pairs(train_pairs)[:1]
    unflipped = PatchDataset(pairs, 48, crops_per_image=16, flip=False, seed=0)
    flipping = PatchDataset(pairs, 48, crops_per_image=16, flip=True, seed=0)
    whole = unflipped[0][1]
    seen = {bool(torch.equal(flipping[i][1], whole.flip(-1))) for i in range(16)}
    assert seen == {True, False}
    assert all(torch.equal(unflipped[i][1], whole) for i in range(16))


def test_validation_pairs_are_whole_images(val_pairs: Path) -> None:
    rainy, clean, name = PairDataset(load_pairs(val_pairs))[0]
    assert rainy.shape == clean.shape == (3, 48, 48) and name == "img0"
