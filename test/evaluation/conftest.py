"""Recorded drives for the evaluation tests: photo frames with synthesized rain and their clean twins."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from rosbags.rosbag2 import StoragePlugin

from sapnet_ros.io.bags import TYPESTORE, BagWriter, header, image_message, open_bag
from sapnet_ros.synthesis.photos import still_scene
from sapnet_ros.synthesis.rain import RainSynthesizer, styled

HEIGHT, WIDTH, FRAMES = 48, 64, 6
START_NS = 1_700_000_000_000_000_000
PERIOD_NS = 100_000_000
IMAGE, CLEAN, SPEED = "/camera/image", "/camera/clean", "/vehicle/speed"
FLOAT64 = TYPESTORE.types["std_msgs/msg/Float64"]


@dataclass(frozen=True)
class Drive:
    """A test bag and what was written into it: RGB uint8 frames, rainy and clean, and their header stamps."""

    path: Path
    rainy: list[np.ndarray]
    clean: list[np.ndarray]
    stamps: list[int]


def pan_frames(count: int = FRAMES, height: int = HEIGHT, width: int = WIDTH) -> list[np.ndarray]:
    """A slow camera pan over scikit-image's coffee photo: (H, W, 3) RGB uint8 frames."""
    scene = still_scene("coffee", width * 2, height * 2)
    return [np.ascontiguousarray(scene[3 * i : 3 * i + height, 4 * i : 4 * i + width]) for i in range(count)]


def write_drive(path: Path, storage: StoragePlugin = StoragePlugin.MCAP, count: int = FRAMES) -> Drive:
    """Rainy frames on /camera/image, clean twins on /camera/clean (same stamps), speed on /vehicle/speed.

    Log times trail the stamps by a few ms, as a recorder's do; a ``.bag`` path writes ROS 1.
    """
    clean = pan_frames(count)
    synthesizer = RainSynthesizer(styled("heavy"), seed=3)
    rainy = [synthesizer.apply(frame, i) for i, frame in enumerate(clean)]
    stamps = [START_NS + i * PERIOD_NS for i in range(count)]
    with BagWriter(path, storage) as writer:
        for rain, twin, stamp in zip(rainy, clean, stamps, strict=True):
            writer.write(SPEED, FLOAT64(data=12.5), stamp)
            writer.write(IMAGE, image_message(rain, "rgb8", header(stamp, "front")), stamp + 4_000_000)
            writer.write(CLEAN, image_message(twin, "rgb8", header(stamp, "front")), stamp + 5_000_000)
    return Drive(path, rainy, clean, stamps)


def read_topic(bag: Path, topic: str) -> list[tuple[int, Any]]:
    """(log time, message) of every message on ``topic``."""
    with open_bag(bag) as reader:
        connections = [c for c in reader.connections if c.topic == topic]
        return [(t, reader.deserialize(raw, c.msgtype)) for c, t, raw in reader.messages(connections=connections)]


@pytest.fixture(scope="session")
def drives(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Drive]:
    """The same drive as rosbag2 sqlite3, rosbag2 mcap and ROS 1."""
    root = tmp_path_factory.mktemp("drives")
    return {
        "sqlite3": write_drive(root / "drive_sqlite3", StoragePlugin.SQLITE3),
        "mcap": write_drive(root / "drive_mcap"),
        "ros1": write_drive(root / "drive_ros1.bag"),
    }


def bright_cell_detector(path: Path, side: int = 64, cell: int = 8) -> Path:
    """A tiny ONNX "detector" with a YOLOv8-layout output that reports every bright cell of a grid.

    Input (1, 3, side, side) RGB [0, 1]; output (1, 5, cells): for each cell of
    ``cell`` pixels its centre, width and height, and one class score,
    2 * (mean brightness - 0.5), so only cells brighter than 0.625 pass the
    adapter's 0.25 threshold (and the grey letterbox padding never does).
    """
    cells = (side // cell) ** 2
    centres = (np.arange(side // cell) + 0.5) * cell
    cy, cx = np.meshgrid(centres, centres, indexing="ij")
    boxes = np.stack([cx.ravel(), cy.ravel(), np.full(cells, cell), np.full(cells, cell)])[None]  # (1, 4, cells)
    nodes = [
        helper.make_node("ReduceMean", ["images", "channel_axis"], ["grey"], keepdims=1),
        helper.make_node("AveragePool", ["grey"], ["means"], kernel_shape=[cell, cell], strides=[cell, cell]),
        helper.make_node("Sub", ["means", "half"], ["centred"]),
        helper.make_node("Mul", ["centred", "two"], ["scores_grid"]),
        helper.make_node("Reshape", ["scores_grid", "score_shape"], ["scores"]),
        helper.make_node("Concat", ["boxes", "scores"], ["output0"], axis=1),
    ]
    initializers = [
        helper.make_tensor("channel_axis", TensorProto.INT64, [1], [1]),
        helper.make_tensor("half", TensorProto.FLOAT, [], [0.5]),
        helper.make_tensor("two", TensorProto.FLOAT, [], [2.0]),
        helper.make_tensor("score_shape", TensorProto.INT64, [3], [1, 1, cells]),
        helper.make_tensor("boxes", TensorProto.FLOAT, boxes.shape, boxes.astype(np.float32).ravel()),
    ]
    graph = helper.make_graph(
        nodes,
        "bright_cells",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, side, side])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 5, cells])],
        initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


@pytest.fixture(scope="session")
def detector_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return bright_cell_detector(tmp_path_factory.mktemp("detector") / "bright_cells.onnx")
