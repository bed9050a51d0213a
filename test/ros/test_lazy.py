"""``lazy``: derain_node subscribes to a camera only while someone subscribes to its output (real DDS)."""

from __future__ import annotations

import time

from conftest import tiny_rgb
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile
from ros_graph import Graph, Inbox, image_msg, wait_for
from sensor_msgs.msg import CameraInfo, Image

from sapnet_ros.ros.node import WATCH_PERIOD_S, DerainNode

NS = "/lazy"


def test_the_camera_is_heard_only_while_the_output_has_subscribers() -> None:
    graph = Graph()
    try:
        overrides = [Parameter("backend", value="onnxruntime"), Parameter("lazy", value=True)]
        node = DerainNode(context=graph.context, namespace=NS, parameter_overrides=overrides)
        assert node.start()
        graph.add(node)
        images = graph.publisher(Image, f"{NS}/image")
        infos = graph.publisher(CameraInfo, f"{NS}/camera_info")
        time.sleep(3 * WATCH_PERIOD_S)  # several checks with nobody listening
        assert (images.get_subscription_count(), infos.get_subscription_count()) == (0, 0)
        images.publish(image_msg(tiny_rgb(24, 32), "rgb8", 1))
        assert node.stats.snapshot(0.0).received == 0  # an idle camera costs nothing

        derained = Inbox()
        listener = graph.probe.create_subscription(Image, f"{NS}/image_derained", derained, QoSProfile(depth=5))
        assert wait_for(lambda: images.get_subscription_count() == 1 and infos.get_subscription_count() == 1, 10)
        frame = image_msg(tiny_rgb(24, 32, seed=2), "rgb8", 2)
        assert derained.with_stamp(2, resend=lambda: images.publish(frame)).width == 32

        graph.probe.destroy_subscription(listener)
        assert wait_for(lambda: images.get_subscription_count() == 0 and infos.get_subscription_count() == 0, 10)
        received = node.stats.snapshot(0.0).received
        images.publish(image_msg(tiny_rgb(24, 32), "rgb8", 3))
        time.sleep(WATCH_PERIOD_S)
        assert node.stats.snapshot(0.0).received == received
    finally:
        graph.close()
