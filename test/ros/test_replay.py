"""sapnet-replay against a real derain_node process: frames out, stamps, camera_info, the output bag."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from conftest import tiny_rgb

from sapnet_ros.backends.base import BackendBase
from sapnet_ros.derainer import Derainer
from sapnet_ros.errors import BagError, SapnetError
from sapnet_ros.io.bags import (
    BagWriter,
    camera_info_message,
    connections_for,
    header,
    image_message,
    open_bag,
    stamp_ns,
)
from sapnet_ros.io.messages import image_to_array
from sapnet_ros.ros.process import LaunchArguments, NodeProcess
from sapnet_ros.ros.replay import main, replay

NAMESPACE = f"replay{os.getpid()}"
START = 1_700_000_000_000_000_000
FRAMES = 6


def write_camera_bag(path: Path, namespace: str, frames: int = FRAMES, rate_hz: float = 10.0) -> list[np.ndarray]:
    """A tiny camera recording (24x32 rgb8 + camera_info); returns the frames."""
    images = [tiny_rgb(24, 32, seed=i) for i in range(frames)]
    with BagWriter(path) as writer:
        for index, image in enumerate(images):
            msg_header = header(START + round(index * 1e9 / rate_hz), "cam")
            writer.write(f"/{namespace}/camera_info", camera_info_message(32, 24, msg_header))
            writer.write(f"/{namespace}/image_raw", image_message(image, "rgb8", msg_header))
    return images


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    log = (tmp_path_factory.mktemp("node") / "node.log").open("w")
    with NodeProcess(LaunchArguments(namespace=NAMESPACE), log=log) as process:
        yield process
    log.close()


def test_replay_records_the_derained_stream(node: NodeProcess, tmp_path: Path, node_backend: BackendBase) -> None:
    images = write_camera_bag(tmp_path / "camera", NAMESPACE)
    summary = replay(tmp_path / "camera", tmp_path / "derained")
    assert summary.source == f"/{NAMESPACE}/image_raw" and summary.derained == f"/{NAMESPACE}/image_derained"
    assert summary.frames_in == FRAMES and summary.last_frame_answered
    assert 1 <= summary.frames_out <= FRAMES and summary.dropped == FRAMES - summary.frames_out
    assert summary.camera_info_matched == summary.camera_info_out == summary.frames_out
    assert summary.latency is not None and summary.latency.p95_ms >= summary.latency.mean_ms > 0
    assert f"frames out   {summary.frames_out}" in summary.report()
    with open_bag(tmp_path / "derained") as reader:
        connections = connections_for(reader, summary.derained)
        recorded = [reader.deserialize(raw, c.msgtype) for c, _, raw in reader.messages(connections=connections)]
        assert len(connections_for(reader, f"{summary.derained}/camera_info", ("sensor_msgs/msg/CameraInfo",))) == 1
    assert stamp_ns(recorded[-1]) == START + (FRAMES - 1) * 100_000_000  # the last frame, answered
    offline = Derainer(node_backend)
    for msg in recorded:
        index = (stamp_ns(msg) - START) // 100_000_000
        np.testing.assert_array_equal(image_to_array(msg).array, offline.run(images[index], "rgb"))


def test_replay_refuses_an_existing_output(tmp_path: Path) -> None:
    write_camera_bag(tmp_path / "camera", "nobody", frames=1)
    (tmp_path / "derained").mkdir()
    with pytest.raises(BagError, match="already exists"):
        replay(tmp_path / "camera", tmp_path / "derained", wait_s=0.1)


def test_replay_says_when_no_node_listens(tmp_path: Path) -> None:
    write_camera_bag(tmp_path / "camera", "nobody", frames=1)
    with pytest.raises(SapnetError, match="nobody subscribed to /nobody/image_raw within 0 s"):
        replay(tmp_path / "camera", tmp_path / "derained", wait_s=0.2)


def test_replay_asks_which_topic_when_there_are_several(tmp_path: Path) -> None:
    with BagWriter(tmp_path / "two") as writer:
        for topic in ("/a/image", "/b/image"):
            writer.write(topic, image_message(np.zeros((2, 2, 3), np.uint8), "rgb8", header(1, "c")))
    with pytest.raises(BagError, match=r"several image topics; choose one with --topic.*/a/image"):
        replay(tmp_path / "two", tmp_path / "out", wait_s=0.1)
    with pytest.raises(BagError, match=r"no image topic '/c/image'"):
        replay(tmp_path / "two", tmp_path / "out", topic="/c/image", wait_s=0.1)


def test_cli_reports_a_missing_bag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([str(tmp_path / "missing"), "--output", str(tmp_path / "out")])
    assert exit_info.value.code == 2
    assert "sapnet-replay: error: " in capsys.readouterr().err
