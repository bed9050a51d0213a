from pathlib import Path

import numpy as np
import pytest
from conftest import tiny_rgb

from sapnet_ros.bags import (
    BagWriter,
    camera_info_message,
    connections_for,
    header,
    image_message,
    open_bag,
    stamp_ns,
    topics,
)
from sapnet_ros.conversions import image_to_array
from sapnet_ros.errors import BagError


def test_images_round_trip_through_mcap(tmp_path: Path) -> None:
    frames = [tiny_rgb(seed=i) for i in range(3)]
    stamps = [1_700_000_000_000_000_000 + i * 33_000_000 for i in range(3)]
    with BagWriter(tmp_path / "bag") as writer:
        for frame, stamp in zip(frames, stamps, strict=True):
            writer.write("/camera/image", image_message(frame, "rgb8", header(stamp, "cam")))
    with open_bag(tmp_path / "bag") as reader:
        assert topics(reader) == {"/camera/image": "sensor_msgs/msg/Image"}
        connections = connections_for(reader, "/camera/image")
        read = [reader.deserialize(raw, c.msgtype) for c, _, raw in reader.messages(connections=connections)]
    assert [stamp_ns(m) for m in read] == stamps
    assert all(m.header.frame_id == "cam" for m in read)
    for msg, frame in zip(read, frames, strict=True):
        np.testing.assert_array_equal(image_to_array(msg).array, frame)


def test_missing_topic_lists_what_the_bag_has(tmp_path: Path) -> None:
    with BagWriter(tmp_path / "bag") as writer:
        writer.write("/front/image", image_message(tiny_rgb(), "rgb8", header(5, "f")))
    with open_bag(tmp_path / "bag") as reader, pytest.raises(BagError, match=r"it has: /front/image \(sensor_msgs"):
        connections_for(reader, "/rear/image")


def test_not_a_bag(tmp_path: Path) -> None:
    (tmp_path / "junk.mcap").write_bytes(b"nonsense")
    with pytest.raises(BagError, match="cannot open bag"), open_bag(tmp_path / "junk.mcap"):
        pass


def test_writer_never_overwrites(tmp_path: Path) -> None:
    (tmp_path / "bag").mkdir()
    with pytest.raises(BagError, match="refusing to overwrite"):
        BagWriter(tmp_path / "bag")


def test_missing_bag_is_a_bag_error(tmp_path: Path) -> None:
    with pytest.raises(BagError, match="cannot open bag"), open_bag(tmp_path / "nothing"):
        pass


def test_camera_info_is_an_ideal_pinhole_of_the_image_size(tmp_path: Path) -> None:
    with BagWriter(tmp_path / "bag") as writer:
        writer.write("/camera/camera_info", camera_info_message(32, 24, header(9, "cam")))
    with open_bag(tmp_path / "bag") as reader:
        (connection,) = reader.connections
        info = reader.deserialize(next(reader.messages())[2], connection.msgtype)
    assert (info.width, info.height, stamp_ns(info), info.distortion_model) == (32, 24, 9, "plumb_bob")
    np.testing.assert_allclose(info.k, [32, 0, 15.5, 0, 32, 11.5, 0, 0, 1])
    np.testing.assert_allclose(info.p[:3], [32, 0, 15.5])
