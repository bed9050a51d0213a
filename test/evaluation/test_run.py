from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from sapnet_ros.errors import BagError
from sapnet_ros.evaluation.records import summarize
from sapnet_ros.evaluation.report import Table, build
from sapnet_ros.evaluation.run import BagJob, EvalOptions, derained_topic_for, evaluate_bag
from sapnet_ros.gate.rain_gate import GateSettings
from sapnet_ros.io.bags import BagWriter, header, image_message
from sapnet_ros.io.messages import image_to_array
from sapnet_ros.metrics import flicker
from sapnet_ros.settings import DerainSettings
from sapnet_ros.synthesis.photos import still_scene
from sapnet_ros.synthesis.rain import LIGHT, RainSynthesizer

from .conftest import CLEAN, IMAGE, SPEED, Drive, pan_frames, read_topic, write_drive


def test_derained_topic_is_where_the_node_publishes() -> None:
    assert derained_topic_for("/cam/image_raw") == "/cam/image_derained"
    assert derained_topic_for("/cam/image_raw/compressed") == "/cam/image_derained/compressed"
    assert derained_topic_for("/image") == "/image_derained"


@pytest.fixture(scope="module")
def drive(tmp_path_factory: pytest.TempPathFactory) -> Drive:
    return write_drive(tmp_path_factory.mktemp("run") / "drive", count=3)


def _derained(bag: Path) -> list[np.ndarray]:
    return [image_to_array(msg).array for _, msg in read_topic(bag, "/camera/image_derained")]


def test_batched_frames_match_frame_by_frame(drive: Drive, tmp_path: Path) -> None:
    options = EvalOptions(IMAGE, derain=DerainSettings("onnxruntime"), detector="none", thumbnails=1)
    single = evaluate_bag(BagJob("one", drive.path, tmp_path / "one"), options)
    progress: list[int] = []
    batched = evaluate_bag(BagJob("three", drive.path, tmp_path / "three"), replace(options, batch=3), progress.append)
    assert progress == [3]  # one backend call for the three frames
    for a, b in zip(_derained(tmp_path / "one"), _derained(tmp_path / "three"), strict=True):
        assert np.abs(a.astype(int) - b.astype(int)).max() <= 1
    assert len({r.latency_ms for r in batched.records}) == 1  # each frame carries a third of the call
    assert single.ranking.startswith("BRISQUE")
    assert all(r.no_reference.keys() == {"rainy", "derained"} for r in single.records)
    assert [t.kind for t in single.thumbnails] == ["best", "worst"]


def test_derained_topic_must_be_new(drive: Drive, tmp_path: Path) -> None:
    options = EvalOptions(IMAGE, derained_topic=SPEED, detector="none")
    with pytest.raises(BagError, match="already has a topic '/vehicle/speed'"):
        evaluate_bag(BagJob("x", drive.path, tmp_path / "x"), options)
    assert not (tmp_path / "x").exists()


def test_frames_without_ground_truth_are_kept_without_psnr(tmp_path: Path) -> None:
    frames = pan_frames(2)
    with BagWriter(tmp_path / "drive") as writer:
        for i, frame in enumerate(frames):
            writer.write(IMAGE, image_message(frame, "rgb8", header(i * 10**9, "cam")))
        writer.write(CLEAN, image_message(frames[0], "rgb8", header(0, "cam")))  # only the first has a twin
    result = evaluate_bag(BagJob("x", tmp_path / "drive", tmp_path / "out"), EvalOptions(IMAGE, CLEAN, detector="none"))
    assert [bool(r.quality) for r in result.records] == [True, False]
    assert result.records[0].quality["rainy"].psnr_rgb == float("inf")  # the "rainy" frame was its own twin
    assert result.skipped == {"PSNR/SSIM of frames without a ground-truth frame within 1 ms": 1}


def test_rain_gate_leaves_dry_drives_untouched_and_derains_rainy_ones(tmp_path: Path) -> None:
    clean = still_scene("coffee", 320, 240)
    drives = {"dry": [clean, clean], "wet": [RainSynthesizer(LIGHT, seed=1).apply(clean, i) for i in range(2)]}
    options = EvalOptions(
        IMAGE, derain=DerainSettings("onnxruntime", max_side=64, gate=GateSettings()), detector="none", thumbnails=0
    )
    for name, frames in drives.items():
        with BagWriter(tmp_path / name) as writer:
            for i, frame in enumerate(frames):
                writer.write(IMAGE, image_message(frame, "rgb8", header(i * 10**8, "cam")))
        evaluate_bag(BagJob(name, tmp_path / name, tmp_path / f"{name}_out"), options)
        for sent, derained in zip(frames, _derained(tmp_path / f"{name}_out"), strict=True):
            assert np.array_equal(sent, derained) == (name == "dry"), name


def test_each_frame_records_its_change_from_the_previous_one(drive: Drive, tmp_path: Path) -> None:
    options = EvalOptions(IMAGE, derain=DerainSettings("onnxruntime"), detector="none", thumbnails=0)
    result = evaluate_bag(BagJob("flicker", drive.path, tmp_path / "out"), options)
    derained = _derained(tmp_path / "out")
    assert result.records[0].change == {}
    assert result.records[1].change == {
        "rainy": flicker(drive.rainy[:2]),
        "derained": flicker(derained[:2]),
    }
    summaries = [summarize(result.records)]
    summary = summaries[0]["flicker"]
    assert summary["frames"] == 2 and summary["rainy"] == np.mean([r.change["rainy"] for r in result.records[1:]])
    blocks = [b for b in build([result], summaries, summaries[0], [], {"flicker": "flicker"}) if isinstance(b, Table)]
    assert any(table.header[0] == "temporal stability" for table in blocks)
