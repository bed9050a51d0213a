"""Reading and writing recorded drives with ``rosbags`` (no ROS install needed).

Readers accept rosbag2 (sqlite3 or mcap) and ROS 1 bags through
``AnyReader``; writers produce rosbag2 in mcap (the ``ros2 bag`` default since
Iron). Messages are the rosbags ``sensor_msgs`` classes of ROS 2 Kilted, whose
fields match rclpy's, so ``sapnet_ros.conversions`` reads both.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from rosbags.highlevel import AnyReader, AnyReaderError
from rosbags.interfaces import Connection
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore

from sapnet_ros.conversions import array_to_image_fields
from sapnet_ros.errors import BagError

TYPESTORE = get_typestore(Stores.ROS2_KILTED)
IMAGE = "sensor_msgs/msg/Image"
COMPRESSED_IMAGE = "sensor_msgs/msg/CompressedImage"
CAMERA_INFO = "sensor_msgs/msg/CameraInfo"
IMAGE_TYPES = (IMAGE, COMPRESSED_IMAGE)


@contextmanager
def open_bag(paths: Path | Sequence[Path]) -> Iterator[AnyReader]:
    """Open one bag (or the split parts of one) for reading.

    Raises:
        BagError: missing, unreadable or not a bag.
    """
    paths = [paths] if isinstance(paths, Path) else list(paths)
    try:
        reader = AnyReader(paths, default_typestore=TYPESTORE)  # raises for missing paths already
        reader.open()
    except (AnyReaderError, OSError) as err:
        raise BagError(f"{', '.join(map(str, paths))}: cannot open bag ({err})") from err
    try:
        yield reader
    finally:
        reader.close()


def topics(reader: AnyReader) -> dict[str, str]:
    """Topic name -> message type of every topic in the bag."""
    return {topic: info.msgtype or "?" for topic, info in reader.topics.items()}


def connections_for(reader: AnyReader, topic: str, types: Sequence[str] = IMAGE_TYPES) -> list[Connection]:
    """The connections of ``topic``; raises BagError listing the bag's topics if it is absent."""
    found = [c for c in reader.connections if c.topic == topic and c.msgtype in types]
    if not found:
        listing = ", ".join(f"{name} ({msgtype})" for name, msgtype in sorted(topics(reader).items()))
        raise BagError(f"no {' or '.join(types)} topic {topic!r} in bag; it has: {listing or 'no topics'}")
    return found


def stamp_ns(msg: Any) -> int:
    """A message header's stamp in nanoseconds."""
    return int(msg.header.stamp.sec) * 1_000_000_000 + int(msg.header.stamp.nanosec)


def header(stamp: int, frame_id: str) -> Any:
    """A rosbags ``std_msgs/Header`` for ``stamp`` nanoseconds."""
    time = TYPESTORE.types["builtin_interfaces/msg/Time"](sec=stamp // 1_000_000_000, nanosec=stamp % 1_000_000_000)
    return TYPESTORE.types["std_msgs/msg/Header"](stamp=time, frame_id=frame_id)


def image_message(array: np.ndarray, encoding: str, msg_header: Any) -> Any:
    """A rosbags ``sensor_msgs/Image`` holding ``array`` (layout as ``encoding`` names)."""
    fields = array_to_image_fields(array, encoding)
    return TYPESTORE.types[IMAGE](header=msg_header, **fields)


def camera_info_message(width: int, height: int, msg_header: Any, focal: float | None = None) -> Any:
    """A rosbags ``sensor_msgs/CameraInfo`` of an ideal pinhole camera (no distortion).

    ``focal`` defaults to ``width`` pixels (about a 53 degree horizontal field of view).
    """
    f = float(focal or width)
    cx, cy = (width - 1) / 2, (height - 1) / 2
    types = TYPESTORE.types
    return types[CAMERA_INFO](
        header=msg_header,
        height=height,
        width=width,
        distortion_model="plumb_bob",
        d=np.zeros(5),
        k=np.array([f, 0, cx, 0, f, cy, 0, 0, 1], float),
        r=np.eye(3).ravel(),
        p=np.array([f, 0, cx, 0, 0, f, cy, 0, 0, 0, 1, 0], float),
        binning_x=0,
        binning_y=0,
        roi=types["sensor_msgs/msg/RegionOfInterest"](x_offset=0, y_offset=0, height=0, width=0, do_rectify=False),
    )


def compressed_message(image_format: str, data: bytes, msg_header: Any) -> Any:
    """A rosbags ``sensor_msgs/CompressedImage``."""
    return TYPESTORE.types[COMPRESSED_IMAGE](header=msg_header, format=image_format, data=np.frombuffer(data, np.uint8))


class BagWriter:
    """Writes rosbag2 (mcap by default), adding topics as they first appear."""

    def __init__(self, path: Path, storage: StoragePlugin = StoragePlugin.MCAP) -> None:
        if path.exists():
            raise BagError(f"{path}: already exists; refusing to overwrite a bag")
        self.path = path
        self._writer = Writer(path, version=9, storage_plugin=storage)
        self._connections: dict[str, Connection] = {}

    def __enter__(self) -> BagWriter:
        self._writer.open()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._writer.close()

    def write(self, topic: str, msg: Any, timestamp: int | None = None) -> None:
        """Serialize ``msg`` on ``topic`` at ``timestamp`` ns (default: its header stamp)."""
        data = TYPESTORE.serialize_cdr(msg, msg.__msgtype__)
        self.write_raw(topic, msg.__msgtype__, stamp_ns(msg) if timestamp is None else timestamp, data)

    def write_raw(self, topic: str, msgtype: str, timestamp: int, data: bytes | memoryview) -> None:
        """Copy an already serialized CDR message (e.g. an input topic passed through)."""
        connection = self._connections.get(topic)
        if connection is None:
            connection = self._writer.add_connection(topic, msgtype, typestore=TYPESTORE)
            self._connections[topic] = connection
        self._writer.write(connection, timestamp, data)
