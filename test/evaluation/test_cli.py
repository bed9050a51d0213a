"""sapnet-eval-bag end to end on small rainy drives in all three bag formats."""

from __future__ import annotations

import base64
import json
import re
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import corrupt_second_chunk
from rosbags.rosbag2 import StoragePlugin

from sapnet_ros.cli.derain import main as derain_main
from sapnet_ros.evaluation.cli import main
from sapnet_ros.evaluation.detectors import YoloOnnxDetector
from sapnet_ros.io.bags import TYPESTORE, BagWriter, compressed_message, header, image_message, open_bag, stamp_ns
from sapnet_ros.io.messages import array_to_compressed, compressed_to_array, image_to_array
from sapnet_ros.metrics import image_quality
from sapnet_ros.synthesis.rain import add_rain

from .conftest import CLEAN, IMAGE, SPEED, Drive, pan_frames, read_topic, write_drive

FORMATS = ("sqlite3", "mcap", "ros1")
DERAINED = "/camera/image_derained"
PERIOD = 1_000_000_000


def topic_counts(bag: Path) -> dict[str, int]:
    with open_bag(bag) as reader:
        return {c.topic: c.msgcount for c in reader.connections}


@pytest.fixture(scope="module", params=FORMATS)
def evaluated(
    request: pytest.FixtureRequest,
    drives: dict[str, Drive],
    detector_onnx: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Drive, Path]:
    """One evaluation per format, with ground truth and the tiny ONNX detector."""
    drive = drives[request.param]
    output = tmp_path_factory.mktemp(f"eval_{request.param}")
    args = [str(drive.path), "--image-topic", IMAGE, "--gt-topic", CLEAN, "--output", str(output)]
    assert main([*args, "--detector", f"onnx:{detector_onnx}", "--no-progress", "--thumbnails", "2"]) == 0
    return drive, output


def output_bag(output: Path) -> Path:
    (bag,) = (output / "bags").iterdir()
    return bag


def test_output_bag_has_every_topic_and_the_derained_frames_at_the_input_stamps(evaluated: tuple[Drive, Path]) -> None:
    drive, output = evaluated
    bag = output_bag(output)
    assert bag.is_dir() and (bag / "metadata.yaml").is_file() and list(bag.glob("*.mcap"))  # rosbag2, mcap
    assert topic_counts(bag) == {**topic_counts(drive.path), DERAINED: len(drive.stamps)}
    derained = read_topic(bag, DERAINED)
    rainy = read_topic(drive.path, IMAGE)
    assert [stamp_ns(m) for _, m in derained] == drive.stamps
    assert [t for t, _ in derained] == [t for t, _ in rainy]  # same log times: replays in step with the drive
    assert all(m.header.frame_id == "front" and m.encoding == "rgb8" for _, m in derained)
    speeds = read_topic(bag, SPEED)
    assert [t for t, _ in speeds] == drive.stamps and all(m.data == 12.5 for _, m in speeds)


@pytest.fixture(scope="module")
def cli_derained(drives: dict[str, Drive], tmp_path_factory: pytest.TempPathFactory) -> list[np.ndarray]:
    """What ``sapnet-derain`` makes of the rainy frames saved as PNG: RGB uint8."""
    folder = tmp_path_factory.mktemp("png")
    for i, frame in enumerate(drives["mcap"].rainy):
        assert cv2.imwrite(str(folder / f"frame{i}.png"), frame[:, :, ::-1])
    assert derain_main([str(folder), "--output", str(folder / "out")]) == 0
    return [cv2.imread(str(folder / "out" / f"frame{i}.png"))[:, :, ::-1] for i in range(len(drives["mcap"].rainy))]


def test_derained_pixels_equal_the_derain_cli(evaluated: tuple[Drive, Path], cli_derained: list[np.ndarray]) -> None:
    _, output = evaluated
    derained = [image_to_array(m).array for _, m in read_topic(output_bag(output), DERAINED)]
    assert len(derained) == len(cli_derained)
    for ours, theirs in zip(derained, cli_derained, strict=True):
        np.testing.assert_array_equal(ours, theirs)


def test_reported_psnr_and_ssim_equal_a_direct_computation(evaluated: tuple[Drive, Path]) -> None:
    drive, output = evaluated
    metrics = json.loads((output / "metrics.json").read_text())
    (bag,) = metrics["bags"]
    derained = [image_to_array(m).array for _, m in read_topic(output_bag(output), DERAINED)]
    for frame, rainy, clean, ours in zip(bag["frames"], drive.rainy, drive.clean, derained, strict=True):
        for variant, image in (("rainy", rainy), ("derained", ours)):
            direct = image_quality(image, clean).as_dict()
            assert frame["quality"][variant] == pytest.approx(direct, rel=1e-9)
        assert frame["quality"]["derained"]["psnr_rgb"] > frame["quality"]["rainy"]["psnr_rgb"] + 2.0
    summary = bag["summary"]["quality"]
    for variant in ("rainy", "derained"):
        mean = np.mean([f["quality"][variant]["psnr_y"] for f in bag["frames"]])
        assert summary[variant]["psnr_y"] == pytest.approx(mean)
    assert summary["derained"]["psnr_rgb"] > summary["rainy"]["psnr_rgb"]
    assert summary["derained"]["ssim_y"] > summary["rainy"]["ssim_y"]
    latency = bag["summary"]["latency_ms"]
    assert 0 < latency["median"] <= latency["p95"] <= latency["max"]


def test_detections_are_counted_and_compared_with_the_clean_frames(
    evaluated: tuple[Drive, Path], detector_onnx: Path
) -> None:
    drive, output = evaluated
    (bag,) = json.loads((output / "metrics.json").read_text())["bags"]
    detector = YoloOnnxDetector(detector_onnx)
    derained = [image_to_array(m).array for _, m in read_topic(output_bag(output), DERAINED)]
    for frame, rainy, clean, ours in zip(bag["frames"], drive.rainy, drive.clean, derained, strict=True):
        for variant, image in (("rainy", rainy), ("derained", ours), ("clean", clean)):
            assert frame["detections"][variant]["count"] == len(detector.detect(image, "rgb"))
    agreement = bag["summary"]["agreement"]
    assert bag["summary"]["detections"]["rainy"]["total"] > 0  # rain streaks light up cells
    for variant in ("rainy", "derained"):
        tp, fp = agreement[variant]["true_positives"], agreement[variant]["false_positives"]
        assert agreement[variant]["precision"] == pytest.approx(tp / (tp + fp))


def test_report_files_hold_the_plots_and_thumbnails(evaluated: tuple[Drive, Path]) -> None:
    _, output = evaluated
    html = (output / "report.html").read_text()
    markdown = (output / "report.md").read_text()
    images = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert len(images) == 3 + 4  # quality, latency and detection plots; 2 best and 2 worst frames
    assert all(cv2.imdecode(np.frombuffer(base64.b64decode(i), np.uint8), 1) is not None for i in images)
    assert "<script" not in html and "http" not in html  # self-contained
    for link in re.findall(r"\]\(([^)]+\.png)\)", markdown):
        assert (output / link).is_file()
    assert "PSNR RGB (dB)" in markdown and "SSIM Y, BT.601" in markdown and "precision" in markdown


def test_compressed_topic_without_ground_truth_gets_brisque(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    frames = pan_frames(3)
    topic = "/front/image_raw/compressed"
    with BagWriter(tmp_path / "drive") as writer:
        for i, frame in enumerate(frames):
            image_format, data = array_to_compressed(add_rain(frame[:, :, ::-1], seed=1, frame=i), "png")
            writer.write(topic, compressed_message(image_format, data, header(1000 + i, "cam")))
    output = tmp_path / "out"
    code = main([str(tmp_path / "drive"), "--image-topic", topic, "--output", str(output), "--detector", "none"])
    assert code == 0
    assert "BRISQUE" in capsys.readouterr().out
    derained = read_topic(output_bag(output), "/front/image_derained/compressed")
    assert [stamp_ns(m) for _, m in derained] == [1000, 1001, 1002]
    assert all("png" in m.format and compressed_to_array(m).array.shape == (48, 64, 3) for _, m in derained)
    (bag,) = json.loads((output / "metrics.json").read_text())["bags"]
    nr = bag["summary"]["no_reference"]
    assert nr["frames"] == 3 and nr["derained"] < nr["rainy"]  # BRISQUE: lower is better
    assert "quality" not in bag["summary"] and bag["ranking"].startswith("BRISQUE")


def test_unsupported_encoding_is_counted_skipped_and_warned_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    frames = pan_frames(2)
    with BagWriter(tmp_path / "drive") as writer:
        for i in range(5):
            if i in (1, 3, 4):
                depth = TYPESTORE.types["sensor_msgs/msg/Image"](
                    header=header(i, "cam"), height=2, width=2, encoding="32FC1", is_bigendian=0, step=8,
                    data=np.zeros(16, np.uint8),
                )  # fmt: skip
                writer.write(IMAGE, depth)
            else:
                writer.write(IMAGE, image_message(frames[i // 2], "rgb8", header(i, "cam")))
    output = tmp_path / "out"
    assert main([str(tmp_path / "drive"), "--image-topic", IMAGE, "--output", str(output), "--detector", "none"]) == 0
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING" and "32FC1" in r.getMessage()]
    assert len(warnings) == 1
    (bag,) = json.loads((output / "metrics.json").read_text())["bags"]
    assert bag["skipped"] == {"frames: unsupported encoding '32FC1'": 3}
    assert [f["stamp_ns"] for f in bag["frames"]] == [0, 2]
    assert topic_counts(output_bag(output)) == {IMAGE: 5, DERAINED: 2}  # the depth frames still pass through
    assert "Skipped 3: frames: unsupported encoding '32FC1'" in (output / "report.md").read_text()


def test_corrupt_bag_reports_how_far_it_got_and_keeps_what_was_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frames = pan_frames(4)
    lidar = np.tile((np.arange(1024) // 4 % 256).astype(np.uint8), (256, 1))  # 256 KiB, compressible
    with BagWriter(tmp_path / "drive", compress=True) as writer:  # zstd chunks of ~1 MiB, as ros2 bag records
        for i, frame in enumerate(frames):
            writer.write("/lidar/range_image", image_message(lidar, "mono8", header(i * PERIOD, "lidar")))
            writer.write(IMAGE, image_message(frame, "rgb8", header(i * PERIOD + 1, "cam")))
    corrupt_second_chunk(tmp_path / "drive")
    output = tmp_path / "out"
    assert main([str(tmp_path / "drive"), "--image-topic", IMAGE, "--output", str(output), "--detector", "none"]) == 1
    captured = capsys.readouterr()
    assert "STOPPED EARLY" in captured.out
    (bag,) = json.loads((output / "metrics.json").read_text())["bags"]
    assert re.search(r"unreadable after \d of 8 messages \(\d\.\d\d s into the recording\): ZstdError", bag["error"])
    kept = read_topic(output_bag(output), DERAINED)
    assert 0 < len(kept) == bag["frames_read"] < len(frames)
    assert [stamp_ns(m) for _, m in kept] == [i * PERIOD + 1 for i in range(len(kept))]
    assert "**Stopped early**" in (output / "report.md").read_text()


def test_truncated_bag_says_it_cannot_be_opened(
    drives: dict[str, Drive], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = drives["ros1"].path.read_bytes()
    (tmp_path / "cut.bag").write_bytes(data[: len(data) // 2])  # the recorder died: no index at the end
    assert main([str(tmp_path / "cut.bag"), "--image-topic", IMAGE, "--output", str(tmp_path / "out")]) == 2
    assert "cut.bag: cannot open bag" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_missing_topic_lists_the_topics_of_the_bag(
    drives: dict[str, Drive], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bag = drives["sqlite3"].path
    assert main([str(bag), "--image-topic", "/rear/image", "--output", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "no sensor_msgs/msg/Image or sensor_msgs/msg/CompressedImage topic '/rear/image' in bag" in err
    assert "it has: /camera/clean (sensor_msgs/msg/Image), /camera/image (sensor_msgs/msg/Image)" in err
    assert "/vehicle/speed (std_msgs/msg/Float64)" in err


def test_output_never_overwrites_an_input(
    drives: dict[str, Drive], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bag = tmp_path / "drive"
    shutil.copytree(drives["mcap"].path, bag)
    before = {p: p.read_bytes() for p in bag.iterdir()}
    with pytest.raises(SystemExit) as caught:
        main([str(bag), "--image-topic", IMAGE, "--output", str(bag)])
    assert caught.value.code == 2
    assert "output folder is or lies inside the input bag" in capsys.readouterr().err
    (tmp_path / "out" / "bags" / "drive").mkdir(parents=True)  # an earlier run's derained bag
    with pytest.raises(SystemExit):
        main([str(bag), "--image-topic", IMAGE, "--output", str(tmp_path / "out")])
    assert "a derained bag is already there" in capsys.readouterr().err
    assert {p: p.read_bytes() for p in bag.iterdir()} == before


def test_bad_detector_is_refused_before_any_work(
    drives: dict[str, Drive], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        main([str(drives["mcap"].path), "--image-topic", IMAGE, "--output", str(tmp_path), "--detector", "yolo"])
    assert "unknown detector 'yolo'; choose one of: hog, none, onnx:PATH" in capsys.readouterr().err


def test_ground_truth_frames_pair_by_stamp_whatever_their_order(tmp_path: Path) -> None:
    drive = write_drive(tmp_path / "drive", StoragePlugin.SQLITE3, count=2)
    output = tmp_path / "out"
    args = [str(drive.path), "--image-topic", CLEAN, "--gt-topic", IMAGE, "--output", str(output)]  # swapped roles
    assert main([*args, "--detector", "none", "--no-progress"]) == 0
    (bag,) = json.loads((output / "metrics.json").read_text())["bags"]
    assert bag["summary"]["paired_frames"] == 2  # the reference came before its frame here
