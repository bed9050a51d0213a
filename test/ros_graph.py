"""Real ROS graphs for tests: a private rclpy context, a probe node, an executor thread.

Nothing here is a mock: messages go through DDS on this machine (conftest sets
ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST and a per-run ROS_DOMAIN_ID).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import rclpy
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.publisher import Publisher
from rclpy.qos import QoSProfile
from sensor_msgs.msg import CameraInfo, Image

from sapnet_ros.io.messages import ENCODINGS
from sapnet_ros.ros import replay

WAIT_S = 60.0  # generous: the machine is shared and CPU inference is slow
RESEND_S = 2.0
POLL_S = 0.02


def wait_for(condition: Callable[[], bool], timeout: float = WAIT_S) -> bool:
    """``replay.wait_for`` with the tests' generous default timeout and a quicker poll."""
    return replay.wait_for(condition, timeout, POLL_S)


class Inbox:
    """Messages received on one topic, in arrival order (thread-safe)."""

    def __init__(self) -> None:
        self.messages: list[Any] = []
        self._lock = threading.Lock()

    def __call__(self, msg: Any) -> None:
        with self._lock:
            self.messages.append(msg)

    def snapshot(self) -> list[Any]:
        with self._lock:
            return list(self.messages)

    def with_stamp(self, sec: int, timeout: float = WAIT_S, resend: Callable[[], None] | None = None) -> Any:
        """The first message stamped ``sec``; fails the test if none comes in time.

        ``resend`` is called every RESEND_S until then: a subscriber in another
        process may see a publisher's first samples before it has matched it.
        """

        def find() -> Any:
            return next((m for m in self.snapshot() if m.header.stamp.sec == sec), None)

        deadline = time.monotonic() + timeout
        while find() is None and time.monotonic() < deadline:
            if resend is not None:
                resend()
            wait_for(lambda: find() is not None, min(RESEND_S, max(0.0, deadline - time.monotonic())))
        assert find() is not None, f"no message stamped {sec} within {timeout} s"
        return find()


class Graph:
    """A private context with a probe node, spun on a background thread until ``close``."""

    def __init__(self) -> None:
        self.context = Context()
        rclpy.init(args=[], context=self.context)
        self.probe = Node("probe", context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.probe)
        self._nodes: list[Node] = [self.probe]
        self._thread = threading.Thread(target=self.executor.spin, daemon=True)
        self._thread.start()

    def add(self, node: Node) -> None:
        self._nodes.append(node)
        self.executor.add_node(node)

    def publisher(self, msg_type: Any, topic: str, depth: int = 10) -> Publisher[Any]:
        return self.probe.create_publisher(msg_type, topic, QoSProfile(depth=depth))

    def inbox(self, msg_type: Any, topic: str, depth: int = 100) -> Inbox:
        inbox = Inbox()
        self.probe.create_subscription(msg_type, topic, inbox, QoSProfile(depth=depth))
        return inbox

    def close(self) -> None:
        self.executor.shutdown()
        self._thread.join()
        for node in reversed(self._nodes):
            close = getattr(node, "close", node.destroy_node)
            close()
        rclpy.try_shutdown(context=self.context)


def image_msg(array: np.ndarray, encoding: str, sec: int, frame_id: str = "camera") -> Image:
    """An rclpy Image holding ``array`` (the layout ``encoding`` stores), stamped ``sec``."""
    enc = ENCODINGS[encoding]
    values = np.ascontiguousarray(array, dtype=enc.dtype.newbyteorder("<"))
    msg = Image(height=array.shape[0], width=array.shape[1], encoding=encoding, is_bigendian=0)
    msg.header.stamp.sec, msg.header.frame_id = sec, frame_id
    msg.step = array.shape[1] * enc.channels * enc.dtype.itemsize
    msg.data = values.tobytes()
    return msg


def camera_info_msg(sec: int, width: int, height: int, frame_id: str = "camera") -> CameraInfo:
    msg = CameraInfo(width=width, height=height, distortion_model="plumb_bob")
    msg.header.stamp.sec, msg.header.frame_id = sec, frame_id
    msg.k = [float(width), 0.0, width / 2, 0.0, float(width), height / 2, 0.0, 0.0, 1.0]
    return msg
