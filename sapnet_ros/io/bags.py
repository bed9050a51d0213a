"""Reading and writing recorded drives with ``rosbags`` (no ROS install needed).

Readers accept rosbag2 (sqlite3 or mcap) and ROS 1 bags through
``AnyReader``; writers produce rosbag2 in mcap (the ``ros2 bag`` default since
Iron), or sqlite3, or ROS 1 for a ``.bag`` path (test recordings). Messages are
the rosbags ``sensor_msgs`` classes of ROS 2 Kilted, whose fields match rclpy's,
so ``sapnet_ros.io.messages`` reads both. ``Passthrough`` copies any bag's
messages into a rosbag2 output as CDR, so a processed bag replays with
``ros2 bag play`` next to the rest of the drive.
"""

from __future__ import annotations

import logging
import tempfile
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from rosbags.highlevel import AnyReader, AnyReaderError
from rosbags.interfaces import (
    Connection,
    ConnectionExtRosbag2,
    Qos,
    QosDurability,
    QosHistory,
    QosLiveliness,
    QosReliability,
    QosTime,
)
from rosbags.rosbag1 import Writer as Writer1
from rosbags.rosbag2 import CompressionFormat, CompressionMode, StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore
from rosbags.typesys.store import Typestore

from sapnet_ros.errors import BagError
from sapnet_ros.io.messages import array_to_image_fields
from sapnet_ros.io.salvage import SalvageError, salvage

LOG = logging.getLogger(__name__)
TYPESTORE = get_typestore(Stores.ROS2_KILTED)
ROS1_TYPESTORE = get_typestore(Stores.ROS1_NOETIC)  # ROS 1 definitions (Header with seq) for .bag output
IMAGE = "sensor_msgs/msg/Image"
COMPRESSED_IMAGE = "sensor_msgs/msg/CompressedImage"
CAMERA_INFO = "sensor_msgs/msg/CameraInfo"
IMAGE_TYPES = (IMAGE, COMPRESSED_IMAGE)


_SALVAGED: weakref.WeakKeyDictionary[AnyReader, str] = weakref.WeakKeyDictionary()  # reader -> what was rescued


@contextmanager
def open_bag(paths: Path | Sequence[Path]) -> Iterator[AnyReader]:
    """Open one bag (or the split parts of one) for reading.

    A rosbag2 folder whose mcap or sqlite3 file was cut short (and so does not
    open) is read from a rescued copy of its complete part (see ``salvage``);
    ``read_messages`` then ends with a BagError saying how far it got.

    Raises:
        BagError: missing, unreadable or not a bag.
    """
    paths = [paths] if isinstance(paths, Path) else list(paths)
    with tempfile.TemporaryDirectory(prefix="sapnet-salvage-") as scratch:
        try:
            reader = AnyReader(paths, default_typestore=TYPESTORE)  # raises for missing paths already
            reader.open()
        except (AnyReaderError, OSError) as err:
            reader = _salvaged_reader(paths, Path(scratch), err)
        try:
            yield reader
        finally:
            reader.close()


def _salvaged_reader(paths: list[Path], scratch: Path, err: Exception) -> AnyReader:
    """A reader of the rescued part of a damaged rosbag2 folder; BagError (about ``err``) if nothing is left."""
    cannot_open = BagError(f"{', '.join(map(str, paths))}: cannot open bag ({err})")
    if len(paths) != 1:
        raise cannot_open from err
    try:
        rescued, note = salvage(paths[0], scratch)
        reader = AnyReader([rescued], default_typestore=TYPESTORE)
        reader.open()
    except (SalvageError, AnyReaderError, OSError):
        raise cannot_open from err
    LOG.warning("%s: %s; reading what is left", paths[0], note)
    _SALVAGED[reader] = f"{paths[0]}: {note}"
    return reader


def read_messages(reader: AnyReader, connections: Sequence[Connection] = ()) -> Iterator[tuple[Connection, int, bytes]]:
    """``reader.messages`` in time order, with storage failures raised as one BagError.

    Raises:
        BagError: the bag is corrupt or truncated; the message says how many
            messages were read and how far into the recording it stopped
            (after the last message rescued from a bag cut short, too).
    """
    messages = reader.messages(connections=connections)
    count, timestamp = 0, reader.start_time
    where = ", ".join(map(str, reader.paths))
    while True:
        try:
            connection, timestamp, raw = next(messages)
        except StopIteration:
            if reader in _SALVAGED:
                raise BagError(
                    f"{_SALVAGED[reader]}: read {count} of {reader.message_count} messages "
                    f"({(timestamp - reader.start_time) / 1e9:.2f} s into the recording), the rest is lost"
                ) from None
            return
        # rosbags passes the storage layer's own errors through (sqlite3, zstd, lz4, struct, its ReaderErrors).
        except Exception as err:
            seconds = (timestamp - reader.start_time) / 1e9
            raise BagError(
                f"{_SALVAGED.get(reader, where)}: unreadable after {count} of {reader.message_count} messages "
                f"({seconds:.2f} s into the recording): {type(err).__name__}: {err}"
            ) from err
        count += 1
        yield connection, timestamp, raw


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


_INFINITE = QosTime(2147483647, 4294967295)
# What `ros2 bag` records for a latched (transient local) publisher, e.g. /tf_static.
LATCHED = Qos(
    QosHistory.UNKNOWN,
    0,
    QosReliability.RELIABLE,
    QosDurability.TRANSIENT_LOCAL,
    _INFINITE,
    _INFINITE,
    QosLiveliness.AUTOMATIC,
    _INFINITE,
    False,
)


def offered_qos(connection: Connection) -> list[Qos]:
    """The QoS a topic was recorded with; a latched ROS 1 topic becomes transient local."""
    if isinstance(connection.ext, ConnectionExtRosbag2):
        return list(connection.ext.offered_qos_profiles)
    return [LATCHED] if connection.ext.latching else []


class BagWriter:
    """Writes rosbag2 (mcap by default) or, for a ``.bag`` path, ROS 1; topics are added as they first appear.

    Args:
        path: the bag folder (rosbag2) or ``.bag`` file (ROS 1) to create.
        storage: rosbag2 storage plugin.
        compress: zstd chunks (mcap) or messages (sqlite3), lz4 chunks (ROS 1),
            as recorders commonly do.
    """

    def __init__(self, path: Path, storage: StoragePlugin = StoragePlugin.MCAP, compress: bool = False) -> None:
        if path.exists():
            raise BagError(f"{path}: already exists; refusing to overwrite a bag")
        self.path = path
        self._writer: Writer | Writer1
        if path.suffix == ".bag":
            self._writer = Writer1(path)
            if compress:
                self._writer.set_compression(Writer1.CompressionFormat.LZ4)
        else:
            self._writer = Writer(path, version=9, storage_plugin=storage)
            if compress:
                mode = CompressionMode.STORAGE if storage == StoragePlugin.MCAP else CompressionMode.MESSAGE
                self._writer.set_compression(mode, CompressionFormat.ZSTD)
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

    def write_raw(
        self,
        topic: str,
        msgtype: str,
        timestamp: int,
        data: bytes | memoryview,
        typestore: Typestore = TYPESTORE,
        qos: Sequence[Qos] = (),
    ) -> None:
        """Write an already serialized CDR message whose type ``typestore`` defines."""
        connection = self._connections.get(topic)
        if isinstance(self._writer, Writer1):
            if connection is None:
                known = msgtype in ROS1_TYPESTORE.fielddefs
                connection = self._writer.add_connection(
                    topic, msgtype, typestore=ROS1_TYPESTORE if known else typestore, latching=int(LATCHED in qos)
                )
            data = typestore.cdr_to_ros1(data, msgtype)
        elif connection is None:
            connection = self._writer.add_connection(topic, msgtype, typestore=typestore, offered_qos_profiles=qos)
        self._connections[topic] = connection
        self._writer.write(connection, timestamp, data)


class Passthrough:
    """Copies messages read from any bag into a BagWriter unchanged, as CDR.

    ROS 1 messages are converted on the byte level with the bag's own message
    definitions, whose ``std_msgs/Header`` loses ``seq`` as in ROS 2.
    """

    def __init__(self, reader: AnyReader, writer: BagWriter) -> None:
        self._writer = writer
        self._from_ros1 = not reader.is2
        if self._from_ros1:
            header = {"std_msgs/msg/Header": TYPESTORE.fielddefs["std_msgs/msg/Header"]}
            self.typestore = get_typestore(Stores.EMPTY)
            self.typestore.register({**reader.typestore.fielddefs, **header})
        else:
            self.typestore = reader.typestore

    def to_cdr(self, connection: Connection, raw: bytes | memoryview) -> bytes | memoryview:
        """The CDR form of a message as read from the bag."""
        return self.typestore.ros1_to_cdr(raw, connection.msgtype) if self._from_ros1 else raw

    def __call__(self, connection: Connection, timestamp: int, raw: bytes | memoryview) -> None:
        """Write ``raw`` (as read from ``connection``) at ``timestamp`` on the same topic."""
        data = self.to_cdr(connection, raw)
        self._writer.write_raw(
            connection.topic, connection.msgtype, timestamp, data, self.typestore, offered_qos(connection)
        )
