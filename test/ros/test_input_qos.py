"""Camera-sized frames reach derain_node on its default parameters, from reliable and best-effort cameras.

Real DDS, node and cameras in processes of their own as on a robot. With Fast DDS's defaults best-effort
samples over ~0.9 MB mostly fail to cross processes (the issue: 640x480 rgb8 is 0.92 MB; on a busy machine
about 1 in 6 got through): the node, on ``auto``, hears a reliable camera reliable, and names the cause when
a best-effort camera's frames do not arrive; a best-effort camera whose shared-memory segment holds a frame
is answered too.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from ros_graph import Graph, Inbox, image_msg, wait_for
from sensor_msgs.msg import Image

from sapnet_ros.ros.process import LaunchArguments, NodeProcess

SIZES = [(640, 480), (1280, 720)]
FAST = "/**:\n  ros__parameters:\n    backend: onnxruntime\n    max_side: 160\n"  # QoS left at its defaults
CAMERA = Path(__file__).with_name("fake_camera.py")
SEGMENT_PROFILE = """<?xml version="1.0" encoding="UTF-8"?>
<dds xmlns="http://www.eprosima.com"><profiles>
  <transport_descriptors>
    <transport_descriptor><transport_id>shm</transport_id><type>SHM</type>
      <segment_size>16777216</segment_size></transport_descriptor>
    <transport_descriptor><transport_id>udp</transport_id><type>UDPv4</type></transport_descriptor>
  </transport_descriptors>
  <participant profile_name="camera" is_default_profile="true"><rtps>
    <userTransports><transport_id>shm</transport_id><transport_id>udp</transport_id></userTransports>
    <useBuiltinTransports>false</useBuiltinTransports>
  </rtps></participant>
</profiles></dds>
"""


@contextmanager
def camera(topic: str, size: tuple[int, int], profile: Path | None = None) -> Iterator[None]:
    """A best-effort camera process publishing ``size`` frames at 10 Hz (Fast DDS ``profile``: its own)."""
    env = os.environ | ({"FASTDDS_DEFAULT_PROFILES_FILE": str(profile)} if profile else {})
    command = [sys.executable, str(CAMERA), topic, str(size[0]), str(size[1]), "best_effort"]
    process = subprocess.Popen(command, env=env)
    try:
        yield
    finally:
        process.terminate()
        process.wait(30)


def answered(inbox_messages: list[Image], size: tuple[int, int]) -> bool:
    return any((m.width, m.height) == size for m in inbox_messages)


def camera_heard(messages: list[Image]) -> bool:
    """Whether a frame of fake_camera.py was answered: it stamps 1, 2, 3, ... (the probe's frames are all 1)."""
    return any(m.header.stamp.sec > 1 for m in messages)


def first_answer_s(graph: Graph, topic: str, derained: Inbox, size: tuple[int, int]) -> float:
    """Seconds from a reliable camera's appearance (the ROS default QoS) to its first answered frame."""
    reliable = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1, reliability=ReliabilityPolicy.RELIABLE)
    publisher = graph.probe.create_publisher(Image, topic, reliable)
    frame = image_msg(np.zeros((size[1], size[0], 3), np.uint8), "rgb8", 1)
    start = time.monotonic()
    try:
        assert wait_for(lambda: publisher.publish(frame) or answered(derained.snapshot(), size))
        return time.monotonic() - start
    finally:
        graph.probe.destroy_publisher(publisher)


def test_large_frames_are_answered_on_default_parameters(tmp_path: Path) -> None:
    namespace = f"qos{os.getpid()}"
    topic = f"/{namespace}/image_raw"
    params = tmp_path / "fast.yaml"
    params.write_text(FAST)
    profile = tmp_path / "camera_profile.xml"
    profile.write_text(SEGMENT_PROFILE)
    log_path = tmp_path / "node.log"
    first_frame_s: dict[tuple[int, int], float] = {}
    graph = Graph()
    try:
        derained = graph.inbox(Image, f"/{namespace}/image_derained", depth=5)
        with log_path.open("w") as log, NodeProcess(LaunchArguments(namespace, params), log=log) as node:
            assert wait_for(lambda: graph.probe.count_subscribers(topic) > 0 or node.returncode is not None)
            for size in SIZES:  # a reliable camera: heard reliable
                first_frame_s[size] = first_answer_s(graph, topic, derained, size)
            before = len(derained.snapshot())
            with camera(topic, SIZES[1]):  # best effort, Fast DDS defaults: frames get lost; the node says why
                # ... unless some get through (on a busy machine about 1 in 6 did): then there is nothing to explain
                assert wait_for(
                    lambda: "no frame in 5 s" in log_path.read_text() or camera_heard(derained.snapshot()[before:]), 30
                ), log_path.read_text()
            for size in SIZES:  # best effort, a shared-memory segment that holds a frame
                before = len(derained.snapshot())
                with camera(topic, size, profile):
                    assert wait_for(lambda size=size, before=before: answered(derained.snapshot()[before:], size))
            assert node.stop() == 0
    finally:
        graph.close()
    text = log_path.read_text()
    # Whether the reliable cameras were heard after a switch to reliable or already over the first best-effort
    # subscription depends on timing (a frame may get through before the once-a-second check); auto's choice
    # itself is tested on publisher records in test_cameras.py. What must hold: every camera above was answered.
    assert f"{topic} [auto, depth 1]" in text
    for warning in (line for line in text.splitlines() if "no frame in 5 s" in line):
        assert "likely size: frames over ~0.9 MB" in warning and "best-effort" in warning, warning
    assert text.count("no frame in 5 s") <= 1 and "Traceback" not in text
    print(f"time to first frame with a reliable camera on auto QoS: {first_frame_s}")
