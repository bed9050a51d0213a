"""One camera served by derain_node: its topics, counters, camera_info cache and output buffer.

A node serves one camera on its own topic names (``image`` -> ``image_derained``)
or, with the ``cameras`` parameter, several cameras under their namespaces
(``front/image`` -> ``front/image_derained``, ...), all through one backend.
Each ``Camera`` owns what is per camera: subscriptions, publishers, drop
counters and latency (``FrameStats``, counted into the node's totals), the
camera_info pairing and the reused output message.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from typing import Any

from rclpy.lifecycle import LifecycleNode
from rclpy.publisher import Publisher
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.subscription import Subscription
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from std_msgs.msg import Float32

from sapnet_ros.gate.rain_gate import GateDecision
from sapnet_ros.pipeline import DerainedFrame, ImageFiller, compressed_payload
from sapnet_ros.ros.parameters import NodeConfig
from sapnet_ros.ros.stamps import StampCache, stamp_of
from sapnet_ros.ros.stats import FrameStats

Receive = Callable[["Camera", Any], None]  # (camera, message)


def qos(reliability: str, depth: int) -> QoSProfile:
    """Keep-last QoS; ``best_effort`` is the sensor-data choice for camera input."""
    policy = ReliabilityPolicy.BEST_EFFORT if reliability == "best_effort" else ReliabilityPolicy.RELIABLE
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth, reliability=policy)


class Camera:
    """The topics and state of one camera; publishers are made here, subscriptions on ``subscribe``.

    Args:
        node: the node that owns the topics.
        name: the camera's namespace relative to the node ("" for the node's own names).
        config: the node's configuration at configure time.
        totals: the node's counters, which this camera's counters feed.
    """

    def __init__(self, node: LifecycleNode, name: str, config: NodeConfig, totals: FrameStats) -> None:
        self.node = node
        self.name = name
        self.stats = FrameStats(time.monotonic(), parent=totals)
        self.camera_infos: StampCache[CameraInfo] = StampCache()
        self.last_rain: GateDecision | None = None
        self.compressed = config.input_transport == "compressed"  # the input is image/compressed
        self.source = ""  # the resolved input topic, once subscribed
        self._filler = ImageFiller()
        self._output = Image(check_fields=True)  # keeps the filler's buffer by reference
        self._output_qos = qos(config.output_reliability, config.output_depth)
        self._inputs: list[Subscription[Any]] = []
        self.image = node.create_publisher(Image, self.topic("image_derained"), self._output_qos)
        self.outputs: dict[str, Publisher[Any]] = {"image": self.image}
        if config.use_camera_info:
            topic = f"{self.image.topic_name}/camera_info"
            self.outputs["camera_info"] = node.create_publisher(CameraInfo, topic, self._output_qos)
        if config.rain_gate_enabled:
            self.outputs["rain_level"] = node.create_publisher(Float32, self.topic("rain_level"), self._output_qos)

    def topic(self, name: str) -> str:
        """``name`` in this camera's namespace (relative to the node's)."""
        return f"{self.name}/{name}" if self.name else name

    def subscribe(self, config: NodeConfig, receive: Receive) -> None:
        """Subscribe to the camera's camera_info (if used), then to its image (raw or compressed).

        camera_info comes first, so that whoever sees the image subscription
        finds the camera_info one ready too.
        """
        self._inputs = []
        if config.use_camera_info:
            info_qos = qos(config.input_reliability, max(config.input_depth, 10))
            info = self.node.create_subscription(CameraInfo, self.topic("camera_info"), self._on_info, info_qos)
            self._inputs.append(info)
        input_qos = qos(config.input_reliability, config.input_depth)
        if self.compressed:
            msg_type, topic = CompressedImage, f"{self.node.resolve_topic_name(self.topic('image'))}/compressed"
        else:
            msg_type, topic = Image, self.topic("image")
        source = self.node.create_subscription(msg_type, topic, lambda msg: receive(self, msg), input_qos)
        self._inputs.append(source)
        self.source = source.topic_name

    def unsubscribe(self) -> None:
        for subscription in self._inputs:
            self.node.destroy_subscription(subscription)
        self._inputs = []
        self.camera_infos.clear()

    def destroy(self) -> None:
        """Destroy the publishers (after ``unsubscribe``)."""
        for publisher in self.outputs.values():
            self.node.destroy_publisher(publisher)
        self.outputs = {}

    def _on_info(self, msg: CameraInfo) -> None:
        self.camera_infos.add(stamp_of(msg.header), msg)

    def publish(self, header: Any, derained: DerainedFrame, config: NodeConfig) -> None:
        """Publish the derained frame, then its camera_info, compressed twin and rain level."""
        self._filler.fill(self._output, derained)
        self._output.header = header
        self.image.publish(self._output)
        if "camera_info" in self.outputs:
            info = self._camera_info_for(header)
            if info is not None:
                self.outputs["camera_info"].publish(info)
        if config.publish_compressed:
            image_format, data = compressed_payload(derained, config.compressed_format, config.jpeg_quality)
            self._compressed_publisher().publish(CompressedImage(header=header, format=image_format, data=data))
        if derained.rain is not None and "rain_level" in self.outputs:
            self.last_rain = derained.rain
            self.outputs["rain_level"].publish(Float32(data=derained.rain.level))

    def _camera_info_for(self, header: Any) -> CameraInfo | None:
        """The camera_info with the frame's stamp, else the latest one restamped (None before any)."""
        info = self.camera_infos.get(stamp_of(header))
        if info is None and (latest := self.camera_infos.latest()) is not None:
            info = copy.copy(latest)
            info.header = header
        return info

    def _compressed_publisher(self) -> Publisher[Any]:
        if "compressed" not in self.outputs:  # created on first use: publish_compressed is live
            topic = f"{self.image.topic_name}/compressed"
            self.outputs["compressed"] = self.node.create_publisher(CompressedImage, topic, self._output_qos)
        return self.outputs["compressed"]

    def rain_key_values(self) -> list[tuple[str, str]]:
        """The rain gate's state for diagnostics (empty without a gate or before the first frame)."""
        rain = self.last_rain
        if rain is None:
            return []
        fading = 0.0 < rain.weight < 1.0
        state = ("fading in" if rain.open else "fading out") if fading else ("open" if rain.open else "closed")
        return [
            ("rain level", f"{rain.level:.3f}"),
            ("rain level smoothed", f"{rain.smoothed:.3f}"),
            ("rain gate", state),
            ("derained share", f"{rain.weight:.2f}"),
        ]
