"""``sapnet-replay BAG``: play a bag's camera into the ROS graph and record what derain_node answers.

The bag's Image/CompressedImage/CameraInfo topics are published under their
recorded names at their recorded rate (as ``ros2 bag play`` would), while the
derained topic, its camera_info and its compressed twin are recorded into a new
mcap bag (log time = header stamp, so the output lines up with the input).
It ends when the node has answered the last frame (or after ``--timeout``) and
prints frames in and out, drops and latency (publish -> derained frame back).
"""

from __future__ import annotations

import argparse
import importlib
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import rclpy
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import QoSProfile
from rosbags.highlevel import AnyReader

from sapnet_ros.commands import command
from sapnet_ros.errors import BagError, OutputExistsError, SapnetError
from sapnet_ros.io.atomic import atomic_folder
from sapnet_ros.io.bags import (
    CAMERA_INFO,
    COMPRESSED_IMAGE,
    IMAGE,
    IMAGE_TYPES,
    TYPESTORE,
    BagWriter,
    open_bag,
    read_messages,
    stamp_ns,
    topics,
)
from sapnet_ros.ros.stats import LatencyWindow, Summary

PLAYABLE = (*IMAGE_TYPES, CAMERA_INFO)
POLL_S = 0.05


@dataclass(frozen=True)
class ReplaySummary:
    """What one replay sent and got back."""

    source: str
    derained: str
    frames_in: int
    frames_out: int
    duration_s: float
    latency: Summary | None
    camera_info_out: int
    camera_info_matched: int
    last_frame_answered: bool
    output: str
    error: str | None = None  # the bag was damaged or cut short: how far it got

    @property
    def dropped(self) -> int:
        return self.frames_in - self.frames_out

    def report(self) -> str:
        rate = self.frames_in / self.duration_s if self.duration_s > 0 else 0.0
        latency = f"mean {self.latency.mean_ms:.0f} ms, p95 {self.latency.p95_ms:.0f} ms" if self.latency else "n/a"
        return "\n".join(
            [
                f"sapnet-replay: {self.source} -> {self.derained}",
                f"  frames in    {self.frames_in} ({rate:.1f} Hz over {self.duration_s:.1f} s)",
                f"  frames out   {self.frames_out} ({self.dropped} dropped by the node: the newest frame wins)",
                f"  latency      {latency} (published -> derained frame received)",
                f"  camera_info  {self.camera_info_out} out, {self.camera_info_matched} with a derained frame's stamp",
                f"  last frame   {'answered' if self.last_frame_answered else 'NOT answered before the timeout'}",
                f"  wrote        {self.output}",
            ]
            + ([f"  STOPPED EARLY {self.error}"] if self.error else [])
        )


def message_class(msgtype: str) -> Any:
    """The rclpy class of ``pkg/msg/Name``."""
    package, _, name = msgtype.split("/")
    return getattr(importlib.import_module(f"{package}.msg"), name)


def image_topic(reader: AnyReader, topic: str | None) -> str:
    """The bag's camera topic: ``topic`` if given, else its only Image/CompressedImage topic."""
    found = {name: kind for name, kind in topics(reader).items() if kind in IMAGE_TYPES}
    if topic is not None and topic in found:
        return topic
    if topic is None and len(found) == 1:
        return next(iter(found))
    listing = ", ".join(f"{name} ({kind})" for name, kind in sorted(found.items())) or "none"
    wanted = f"no image topic {topic!r}" if topic else "several image topics; choose one with --topic"
    raise BagError(f"{wanted}; the bag's image topics: {listing}")


class Recorder:
    """Writes what arrives on the derained topics into a bag and remembers when each stamp came."""

    def __init__(self, derained: str) -> None:
        self.derained = derained
        self.frames: dict[int, float] = {}  # header stamp ns -> time.monotonic() of arrival
        self.camera_infos: set[int] = set()
        self._writer: BagWriter | None = None
        self._lock = threading.Lock()

    def attach(self, writer: BagWriter | None) -> None:
        """Start (or, with None, stop) recording into ``writer``; messages before are ignored."""
        with self._lock:
            self._writer = writer

    def callback(self, topic: str, msgtype: str) -> Callable[[bytes], None]:
        def record(data: bytes) -> None:
            arrived = time.monotonic()
            stamp = stamp_ns(TYPESTORE.deserialize_cdr(data, msgtype))
            with self._lock:
                if self._writer is None:
                    return
                self._writer.write_raw(topic, msgtype, stamp, data)
                if topic == self.derained:
                    self.frames.setdefault(stamp, arrived)
                elif msgtype == CAMERA_INFO:
                    self.camera_infos.add(stamp)

        return record

    def answered(self, stamp: int, camera_info: bool) -> bool:
        with self._lock:
            return stamp in self.frames and (not camera_info or stamp in self.camera_infos)


def wait_for(condition: Callable[[], bool], timeout_s: float, poll_s: float = POLL_S) -> bool:
    """Poll ``condition`` every ``poll_s`` until it holds; False if it still fails after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(poll_s)
    return True


def replay(
    bag: Path,
    output: Path,
    topic: str | None = None,
    derained: str | None = None,
    rate: float = 1.0,
    wait_s: float = 60.0,
    timeout_s: float = 60.0,
) -> ReplaySummary:
    """Play ``bag`` into the graph, record the derained topic into ``output``.

    Args:
        bag: rosbag2 (mcap or sqlite3) or ROS 1 bag with a camera topic.
        output: new bag folder to write (refused if it exists).
        topic: the camera topic in the bag (default: its only image topic).
        derained: the topic the node publishes (default: ``image_derained``
            beside the camera topic, as launch/derain.launch.py sets it up).
        rate: playback speed factor.
        wait_s: how long to wait for the node to subscribe and publish.
        timeout_s: how long to wait for the answer to the last frame.

    Raises:
        BagError: unreadable bag, no such topic, or ``output`` exists.
        SapnetError: no node subscribed to the camera topic in time.
    """
    if rate <= 0:
        raise SapnetError(f"rate must be > 0, got {rate}")
    context = Context()
    rclpy.init(args=[], context=context)
    try:
        with open_bag(bag) as reader:
            source = image_topic(reader, topic)
            if output.exists():  # refused before anything runs
                raise BagError(f"{output}: already exists; refusing to overwrite a bag")
            if output.resolve().is_relative_to(bag.resolve()):
                raise OutputExistsError(f"{output}: would be written inside the bag {bag}; give another --output")
            recorder = Recorder(derained or f"{source.rsplit('/', 1)[0]}/image_derained")
            node = Node("sapnet_replay", context=context)
            executor = SingleThreadedExecutor(context=context)
            executor.add_node(node)
            spinner = threading.Thread(target=executor.spin, name="replay-spin", daemon=True)
            spinner.start()
            try:
                return _play(reader, node, recorder, output, source, rate, wait_s, timeout_s)
            finally:
                executor.shutdown()
                spinner.join()
                node.destroy_node()
    finally:
        rclpy.try_shutdown(context=context)


def _play(
    reader: AnyReader,
    node: Node,
    recorder: Recorder,
    output: Path,
    source: str,
    rate: float,
    wait_s: float,
    timeout_s: float,
) -> ReplaySummary:
    connections = [c for c in reader.connections if c.msgtype in PLAYABLE]
    publishers = {c.topic: node.create_publisher(message_class(c.msgtype), c.topic, 10) for c in connections}
    outputs = {recorder.derained: IMAGE, f"{recorder.derained}/camera_info": CAMERA_INFO}
    outputs[f"{recorder.derained}/compressed"] = COMPRESSED_IMAGE
    depth = QoSProfile(depth=100)
    recordings = [
        node.create_subscription(message_class(kind), name, recorder.callback(name, kind), depth, raw=True)
        for name, kind in outputs.items()
    ]
    if not wait_for(lambda: publishers[source].get_subscription_count() > 0, wait_s):
        raise SapnetError(
            f"nobody subscribed to {source} within {wait_s:.0f} s: is derain_node running, remapped to it?"
        )
    if not wait_for(lambda: recordings[0].get_publisher_count() > 0, wait_s):
        raise SapnetError(f"nobody publishes {recorder.derained} within {wait_s:.0f} s; use --derained-topic")
    has_camera_info = any(c.msgtype == CAMERA_INFO for c in connections)
    sent: dict[int, float] = {}  # header stamp ns -> time.monotonic() of publishing
    error = None
    with atomic_folder(output) as staging, BagWriter(staging) as writer:  # an interrupt leaves no output
        recorder.attach(writer)
        try:
            started = time.monotonic()
            first: int | None = None
            try:
                for connection, timestamp, data in read_messages(reader, connections):
                    first = timestamp if first is None else first
                    delay = started + (timestamp - first) / 1e9 / rate - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
                    if connection.topic == source:
                        sent[stamp_ns(reader.deserialize(data, connection.msgtype))] = time.monotonic()
                    publishers[connection.topic].publish(bytes(data))
            except BagError as err:  # damaged or cut short: what was played is still answered and recorded
                error = str(err)
            duration = time.monotonic() - started
            last = max(sent, default=None)
            answered = last is not None and wait_for(lambda: recorder.answered(last, has_camera_info), timeout_s)
        finally:
            recorder.attach(None)
    latency = LatencyWindow(size=max(1, len(sent)))
    for stamp, arrived in sorted(recorder.frames.items()):
        if stamp in sent:
            latency.add((arrived - sent[stamp]) * 1e3)
    return ReplaySummary(
        source=source,
        derained=recorder.derained,
        frames_in=len(sent),
        frames_out=len(recorder.frames),
        duration_s=duration,
        latency=latency.summary(),
        camera_info_out=len(recorder.camera_infos),
        camera_info_matched=len(recorder.camera_infos & recorder.frames.keys()),
        last_frame_answered=answered,
        output=str(output),
        error=error,
    )


@command("sapnet-replay")
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="sapnet-replay",
        description="Play a bag's camera into a running derain_node and record its derained output.",
        epilog="examples:\n"
        "  derain_node --ros-args -r __ns:=/camera -r image:=image_raw &\n"
        "  sapnet-replay sapnet_ros/data/demo_rain --output demo_derained\n"
        "  sapnet-replay drive.mcap --topic /front/image_raw --rate 0.5 --output drive_derained",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("bag", type=Path, metavar="BAG", help="rosbag2 folder or file (mcap/sqlite3), or ROS 1 bag")
    parser.add_argument("--output", "-o", type=Path, default=None, help="new bag to write (default: BAG_derained)")
    parser.add_argument("--topic", default=None, help="camera topic in the bag (default: its only image topic)")
    parser.add_argument(
        "--derained-topic", default=None, help="topic the node publishes (default: image_derained beside --topic)"
    )
    parser.add_argument("--rate", type=float, default=1.0, help="playback speed factor (default: %(default)s)")
    parser.add_argument("--wait", type=float, default=60.0, help="seconds to wait for the node (default: %(default)s)")
    parser.add_argument(
        "--timeout", type=float, default=60.0, help="seconds to wait for the last answer (default: %(default)s)"
    )
    args = parser.parse_args(argv)
    bag = args.bag.resolve()
    output = args.output or Path(f"{bag.stem if bag.is_file() else bag.name}_derained")
    try:
        summary = replay(args.bag, output, args.topic, args.derained_topic, args.rate, args.wait, args.timeout)
    except SapnetError as err:
        parser.exit(2, f"sapnet-replay: error: {err}\n")
    print(summary.report())
    return 0 if summary.frames_out > 0 and summary.error is None else 1


if __name__ == "__main__":
    sys.exit(main())
