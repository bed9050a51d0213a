from pathlib import Path

import numpy as np
import pytest
from conftest import corrupt_second_chunk, tiny_rgb
from rosbags.rosbag2 import StoragePlugin

from sapnet_ros.errors import BagError
from sapnet_ros.io.bags import (
    LATCHED,
    TYPESTORE,
    BagWriter,
    Passthrough,
    camera_info_message,
    connections_for,
    header,
    image_message,
    offered_qos,
    open_bag,
    read_messages,
    stamp_ns,
    topics,
)
from sapnet_ros.io.messages import image_to_array


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


FLOAT64 = "std_msgs/msg/Float64"


def _drive(path: Path, storage: StoragePlugin = StoragePlugin.MCAP, compress: bool = False) -> list[np.ndarray]:
    frames = [tiny_rgb(seed=i) for i in range(3)]
    with BagWriter(path, storage, compress=compress) as writer:
        data = TYPESTORE.serialize_cdr(TYPESTORE.types[FLOAT64](data=1.5), FLOAT64)
        writer.write_raw("/tf_static", FLOAT64, 1, data, qos=[LATCHED])
        for i, frame in enumerate(frames):
            writer.write("/cam", image_message(frame, "rgb8", header(10 + i, "cam")), 20 + i)
    return frames


def test_ros1_bags_carry_real_ros1_definitions(tmp_path: Path) -> None:
    _drive(tmp_path / "drive.bag")
    with open_bag(tmp_path / "drive.bag") as reader:
        (camera,) = connections_for(reader, "/cam")
        assert not reader.is2 and camera.digest == "060021388200f6f0f447d0fcd9c64743"  # sensor_msgs/Image of Noetic
        assert "uint32 seq" in camera.msgdef.data
        (latched,) = [c for c in reader.connections if c.topic == "/tf_static"]
        assert latched.ext.latching == 1


@pytest.mark.parametrize("source", ["drive.bag", "drive_sqlite3", "drive_mcap"])
def test_passthrough_copies_any_bag_into_mcap_as_recorded(tmp_path: Path, source: str) -> None:
    storage = StoragePlugin.SQLITE3 if source.endswith("sqlite3") else StoragePlugin.MCAP
    frames = _drive(tmp_path / source, storage, compress=True)
    with open_bag(tmp_path / source) as reader, BagWriter(tmp_path / "copy") as writer:
        copy = Passthrough(reader, writer)
        for connection, timestamp, raw in read_messages(reader):
            copy(connection, timestamp, raw)
    with open_bag(tmp_path / "copy") as reader:
        assert reader.is2 and {c.topic: c.msgcount for c in reader.connections} == {"/tf_static": 1, "/cam": 3}
        (latched,) = [c for c in reader.connections if c.topic == "/tf_static"]
        assert offered_qos(latched) == [LATCHED]  # transient local, so late subscribers still get it
        messages = [(c.topic, t, reader.deserialize(raw, c.msgtype)) for c, t, raw in reader.messages()]
    assert [(topic, t) for topic, t, _ in messages] == [("/tf_static", 1), ("/cam", 20), ("/cam", 21), ("/cam", 22)]
    assert messages[0][2].data == 1.5
    for (_, _, msg), frame, stamp in zip(messages[1:], frames, (10, 11, 12), strict=True):
        assert stamp_ns(msg) == stamp and msg.header.frame_id == "cam"
        np.testing.assert_array_equal(image_to_array(msg).array, frame)


def test_missing_bag_is_a_bag_error(tmp_path: Path) -> None:
    with pytest.raises(BagError, match=r"missing\.bag: cannot open bag"), open_bag(tmp_path / "missing.bag"):
        pass


def test_corruption_while_reading_says_how_far_it_got(tmp_path: Path) -> None:
    with BagWriter(tmp_path / "drive", compress=True) as writer:
        for i in range(4):  # two zstd chunks of about 1 MiB
            writer.write("/lidar", image_message(np.full((512, 1024), i, np.uint8), "mono8", header(i * 10**9, "l")))
    corrupt_second_chunk(tmp_path / "drive")
    read = 0
    with open_bag(tmp_path / "drive") as reader, pytest.raises(BagError) as caught:
        for _ in read_messages(reader):
            read += 1
    assert read == 2
    assert "drive: unreadable after 2 of 4 messages (1.00 s into the recording): ZstdError" in str(caught.value)


def test_camera_info_is_an_ideal_pinhole_of_the_image_size(tmp_path: Path) -> None:
    with BagWriter(tmp_path / "bag") as writer:
        writer.write("/camera/camera_info", camera_info_message(32, 24, header(9, "cam")))
    with open_bag(tmp_path / "bag") as reader:
        (connection,) = reader.connections
        info = reader.deserialize(next(reader.messages())[2], connection.msgtype)
    assert (info.width, info.height, stamp_ns(info), info.distortion_model) == (32, 24, 9, "plumb_bob")
    np.testing.assert_allclose(info.k, [32, 0, 15.5, 0, 32, 11.5, 0, 0, 1])
    np.testing.assert_allclose(info.p[:3], [32, 0, 15.5])


def _small_frames_bag(path: Path, storage: StoragePlugin, compress: bool, count: int = 60) -> None:
    """``count`` 48x64 frames, 0.1 s apart: a few hundred KB, one mcap chunk or many sqlite pages."""
    with BagWriter(path, storage, compress=compress) as writer:
        for i in range(count):
            writer.write("/cam", image_message(tiny_rgb(48, 64, seed=i), "rgb8", header(i * 10**8, "cam")))


def _cut(bag: Path, fraction: float, copy: Path) -> Path:
    """A copy of ``bag`` whose storage file keeps only its first ``fraction`` of bytes."""
    copy.mkdir()
    for part in bag.iterdir():
        data = part.read_bytes()
        cut = part.suffix in (".mcap", ".db3")
        (copy / part.name).write_bytes(data[: int(len(data) * fraction)] if cut else data)
    return copy


@pytest.mark.parametrize(
    ("storage", "compress"),
    [(StoragePlugin.MCAP, False), (StoragePlugin.MCAP, True), (StoragePlugin.SQLITE3, False)],
    ids=["mcap", "mcap-zstd", "sqlite3"],
)
def test_a_bag_cut_short_gives_every_complete_message_before_the_cut(
    tmp_path: Path, storage: StoragePlugin, compress: bool
) -> None:
    _small_frames_bag(tmp_path / "drive", storage, compress)
    for fraction in (0.3, 0.6, 0.9):
        read = []
        cut = _cut(tmp_path / "drive", fraction, tmp_path / f"cut{fraction}")
        with open_bag(cut) as reader, pytest.raises(BagError) as caught:
            for connection, _, raw in read_messages(reader):
                read.append(reader.deserialize(raw, connection.msgtype))
        # each frame is ~9.2 KB of the file: the frames wholly before the cut, less the file's own overhead
        # (sqlite3 spends about a quarter of its pages on b-tree and index pages)
        assert 0.75 * 60 * fraction <= len(read) <= 60 * fraction, (fraction, len(read))
        for i, msg in enumerate(read):  # in order, none skipped, pixels intact
            assert stamp_ns(msg) == i * 10**8
            np.testing.assert_array_equal(image_to_array(msg).array, tiny_rgb(48, 64, seed=i))
        assert f"cut{fraction}: drive." in str(caught.value)
        assert f"read {len(read)} of 60 messages" in str(caught.value) and "the rest is lost" in str(caught.value)


def test_a_bag_cut_inside_its_header_is_still_a_bag_error(tmp_path: Path) -> None:
    _small_frames_bag(tmp_path / "drive", StoragePlugin.MCAP, False, count=2)
    with pytest.raises(BagError, match="cannot open bag"), open_bag(_cut(tmp_path / "drive", 0.0001, tmp_path / "c")):
        pass
