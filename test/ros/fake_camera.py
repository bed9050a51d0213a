"""A camera in its own process: rgb8 frames of one size at a steady rate, reliable or best effort.

Run as ``python fake_camera.py TOPIC WIDTH HEIGHT RELIABILITY [HZ]`` until SIGINT or SIGTERM. The
DDS settings are this process's own (a test may hand it a Fast DDS profile), as a real driver's are.
"""

from __future__ import annotations

import array
import signal
import sys
import threading

import rclpy
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image


def main(topic: str, width: int, height: int, reliability: str, rate_hz: float = 10.0) -> None:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    rclpy.init(args=[])
    node = rclpy.create_node("fake_camera")
    policy = ReliabilityPolicy.RELIABLE if reliability == "reliable" else ReliabilityPolicy.BEST_EFFORT
    publisher = node.create_publisher(
        Image, topic, QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1, reliability=policy)
    )
    msg = Image(height=height, width=width, encoding="rgb8", step=width * 3)
    msg.data = array.array("B", bytes(range(256)) * (width * height * 3 // 256) + bytes(width * height * 3 % 256))
    sec = 0
    while not stop.wait(1.0 / rate_hz):
        sec += 1
        msg.header.stamp.sec = sec
        publisher.publish(msg)
    node.destroy_node()
    rclpy.try_shutdown()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], *(float(a) for a in sys.argv[5:6]))
