from pathlib import Path

import numpy as np
import pytest
from conftest import clean_crops

from sapnet_ros.errors import OutputExistsError
from sapnet_ros.io.bags import BagWriter, header, image_message
from sapnet_ros.io.images import read_image, write_png
from sapnet_ros.training.data import load_pairs
from sapnet_ros.training.pairs import PairWriter, from_bag, main


@pytest.fixture
def clean_folder(tmp_path: Path) -> Path:
    (tmp_path / "clean").mkdir()
    for index, crop in enumerate(clean_crops(3)):
        write_png(tmp_path / "clean" / f"photo{index}.png", crop)
    return tmp_path / "clean"


def test_folder_becomes_seeded_training_pairs(
    tmp_path: Path, clean_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [str(clean_folder), "--variants", "2", "--style", "heavy", "--style", "light"]
    assert main([*argv, "--output", str(tmp_path / "a")]) == 0
    assert "wrote 6 pairs" in capsys.readouterr().out
    pairs = load_pairs(tmp_path / "a")
    assert [p.name for p in pairs] == ["photo0_r0", "photo0_r1", "photo1_r0", "photo1_r1", "photo2_r0", "photo2_r1"]
    rainy, clean = read_image(pairs[0].rainy), read_image(pairs[0].clean)
    np.testing.assert_array_equal(clean, read_image(clean_folder / "photo0.png"))
    heavy_change = np.abs(rainy.astype(int) - clean).mean()
    light_change = np.abs(read_image(pairs[1].rainy).astype(int) - clean).mean()
    assert heavy_change > light_change > 1
    assert main([*argv, "--output", str(tmp_path / "b")]) == 0
    np.testing.assert_array_equal(read_image(tmp_path / "b" / "input" / "photo0_r0.png"), rainy)  # seeded


def test_output_with_files_is_refused(tmp_path: Path, clean_folder: Path) -> None:
    PairWriter(tmp_path / "out").write("x", clean_crops(1)[0], clean_crops(1)[0])
    with pytest.raises(OutputExistsError, match="already holds files"):
        PairWriter(tmp_path / "out")
    with pytest.raises(SystemExit) as stopped:
        main([str(clean_folder), "--output", str(tmp_path / "out")])
    assert stopped.value.code == 2


def test_bag_frames_get_moving_rain(tmp_path: Path) -> None:
    still = clean_crops(1)[0][:, :, ::-1].copy()  # an RGB camera looking at a still scene
    with BagWriter(tmp_path / "bag") as writer:
        for index in range(5):
            writer.write("/cam/image", image_message(still, "rgb8", header(1_000 + index, "cam")))
    output = PairWriter(tmp_path / "pairs")
    failures = from_bag(tmp_path / "bag", "/cam/image", output, ["heavy"], 1, 0.0, seed=0, every=2)
    assert failures == [] and output.written == 3
    pairs = load_pairs(tmp_path / "pairs")
    assert [p.name for p in pairs] == ["frame_000000", "frame_000002", "frame_000004"]
    np.testing.assert_array_equal(read_image(pairs[0].clean), still[:, :, ::-1])  # files are BGR
    first, second = read_image(pairs[0].rainy), read_image(pairs[1].rainy)
    assert not np.array_equal(first, second)  # the scene stands still, the rain falls


def test_inputs_or_bag_not_both(tmp_path: Path, clean_folder: Path) -> None:
    with pytest.raises(SystemExit):
        main([str(clean_folder), "--bag", str(tmp_path), "--topic", "/t", "--output", str(tmp_path / "o")])


def test_a_bag_cut_short_keeps_the_pairs_made_before_the_cut(tmp_path: Path) -> None:
    frames = clean_crops(12)
    with BagWriter(tmp_path / "bag") as writer:
        for index, frame in enumerate(frames):
            writer.write("/cam/image", image_message(frame[:, :, ::-1].copy(), "rgb8", header(1_000 + index, "cam")))
    (storage,) = (tmp_path / "bag").glob("*.mcap")
    storage.write_bytes(storage.read_bytes()[: storage.stat().st_size // 2])  # a copy that stopped half-way
    output = PairWriter(tmp_path / "pairs")
    (failure,) = from_bag(tmp_path / "bag", "/cam/image", output, ["heavy"], 1, 0.0, seed=0)
    assert failure.startswith("stopped early: ") and "of 12 messages" in failure and "the rest is lost" in failure
    assert 4 <= output.written < 12  # every whole frame before the cut
    pairs = load_pairs(tmp_path / "pairs")
    for index, pair in enumerate(pairs):
        np.testing.assert_array_equal(read_image(pair.clean), frames[index])
