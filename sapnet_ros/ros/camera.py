"""One camera served by derain_node: its topics, counters, camera_info cache and output buffer.

A node serves one camera on its own topic names (``image`` -> ``image_derained``)
or, with the ``cameras`` parameter, several cameras under their namespaces
(``front/image`` -> ``front/image_derained``, ...), all through one backend.
Each ``Camera`` owns what is per camera: subscriptions, publishers, drop
counters and latency (``FrameStats``, counted into the node's totals), the
camera_info pairing and the reused output message.

Input reliability ``auto`` matches the publishers, as rosbag2's adaptive QoS
does: reliable when every publisher offers reliable, best effort otherwise
(best effort matches any publisher). It matters: Fast DDS drops samples over
about 0.9 MB (a 640x480 rgb8 frame is 0.92 MB) on best-effort connections
between processes, so a reliable camera heard best effort never arrives.
The node calls ``watch`` every second: it re-checks the publishers, follows
``lazy`` (subscribed only while an output has subscribers) and names the
likely cause once when a topic has publishers but no frame arrives.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Sequence
from typing import Any

from rclpy.lifecycle import LifecycleNode
from rclpy.publisher import Publisher
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.subscription import Subscription
from rclpy.topic_endpoint_info import TopicEndpointInfo
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from std_msgs.msg import Float32

from sapnet_ros.gate.rain_gate import GateDecision
from sapnet_ros.pipeline import DerainedFrame, ImageFiller, compressed_payload
from sapnet_ros.ros.parameters import NodeConfig
from sapnet_ros.ros.stamps import StampCache, stamp_of
from sapnet_ros.ros.stats import FrameStats

Receive = Callable[["Camera", Any], None]  # (camera, message)
Warn = Callable[[str, str, str], None]  # (topic, problem class, message)
SILENCE_S = 5.0  # publishers but no frame for this long: say why once
BEST_EFFORT_LIMIT = "~0.9 MB"  # where Fast DDS starts dropping best-effort samples between processes


def qos(reliability: str, depth: int) -> QoSProfile:
    """Keep-last QoS; ``best_effort`` is the sensor-data choice for camera input."""
    policy = ReliabilityPolicy.BEST_EFFORT if reliability == "best_effort" else ReliabilityPolicy.RELIABLE
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth, reliability=policy)


def matching_reliability(publishers: Sequence[TopicEndpointInfo]) -> str:
    """rosbag2's adaptive choice: reliable when every publisher is reliable, else (or with none) best effort."""
    offered = [info.qos_profile.reliability for info in publishers]
    return "reliable" if offered and all(r == ReliabilityPolicy.RELIABLE for r in offered) else "best_effort"


def silence_cause(publishers: Sequence[TopicEndpointInfo], expected_type: str, reliability: str) -> str:
    """The likely reason why a topic with ``publishers`` delivers nothing to a ``reliability`` subscription."""
    types = sorted({info.topic_type for info in publishers} - {expected_type})
    if types:
        return f"type: publishers send {', '.join(types)}, the node expects {expected_type}"
    best_effort = [info for info in publishers if info.qos_profile.reliability != ReliabilityPolicy.RELIABLE]
    if best_effort and reliability == "reliable":
        return "QoS: a publisher offers best_effort but input_reliability is reliable; set it to auto or best_effort"
    if best_effort or reliability == "best_effort":
        return (
            f"size: frames over {BEST_EFFORT_LIMIT} (640x480 rgb8 is 0.92 MB) are lost on best-effort connections "
            "between processes with Fast DDS; publish reliable (input_reliability auto follows) or compressed, "
            "or enlarge the publisher's shared-memory segment"
        )
    return (
        "transport or an idle publisher: the publishers are seen but no data arrives "
        "(network, firewall or DDS configuration)"
    )


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
        raw = node.resolve_topic_name(self.topic("image"))
        self.source = f"{raw}/compressed" if self.compressed else raw  # the resolved input topic
        self._other = raw if self.compressed else f"{raw}/compressed"
        self._input_type = "sensor_msgs/msg/CompressedImage" if self.compressed else "sensor_msgs/msg/Image"
        self.reliability = ""  # of the image subscription while subscribed ("" while not)
        self._receive: Receive | None = None
        self._heard = 0  # frames received at the last check
        self._quiet_since: float | None = None  # since when publishers exist and no frame came
        self._warned_silence = False
        self._filler = ImageFiller()
        self._output = Image(check_fields=True)  # keeps the filler's buffer by reference
        self._output_qos = qos(config.output_reliability, config.output_depth)
        self._info: Subscription[Any] | None = None
        self._image: Subscription[Any] | None = None
        self._retiring: Subscription[Any] | None = None  # the image subscription being replaced
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

    @property
    def subscribed(self) -> bool:
        return self._image is not None

    def subscribe(self, config: NodeConfig, receive: Receive) -> None:
        """Subscribe to the camera's camera_info (if used), then to its image (raw or compressed).

        camera_info comes first, so that whoever sees the image subscription
        finds the camera_info one ready too. With reliability ``auto``
        camera_info is heard best effort (small messages, any publisher).
        """
        self._receive = receive
        if config.use_camera_info:
            reliability = "best_effort" if config.input_reliability == "auto" else config.input_reliability
            info_qos = qos(reliability, max(config.input_depth, 10))
            self._info = self.node.create_subscription(CameraInfo, self.topic("camera_info"), self._on_info, info_qos)
        reliability = config.input_reliability
        if reliability == "auto":
            reliability = matching_reliability(self.node.get_publishers_info_by_topic(self.source))
        self._image = self._subscribe_image(config, reliability)

    def _subscribe_image(self, config: NodeConfig, reliability: str) -> Subscription[Any]:
        receive = self._receive
        assert receive is not None
        msg_type = CompressedImage if self.compressed else Image
        input_qos = qos(reliability, config.input_depth)
        image = self.node.create_subscription(msg_type, self.source, lambda msg: receive(self, msg), input_qos)
        self.reliability = reliability
        self._restart_silence_clock()
        return image

    def _switch(self, config: NodeConfig, reliability: str) -> None:
        """Make before break: the old subscription delivers until the new one has matched a publisher."""
        receive, old = self._receive, self._image
        assert receive is not None and old is not None
        if self._retiring is not None:
            self.node.destroy_subscription(self._retiring)
        new = self._subscribe_image(config, reliability)
        old.callback = lambda msg: None if new.get_publisher_count() else receive(self, msg)
        self._image, self._retiring = new, old

    def unsubscribe(self) -> None:
        for subscription in (self._info, self._retiring, self._image):
            if subscription is not None:
                self.node.destroy_subscription(subscription)
        self._info = self._image = self._retiring = None
        self.reliability = ""
        self.camera_infos.clear()

    def output_subscribers(self) -> int:
        """Subscriptions to any of this camera's outputs (lazy mode subscribes the input only while some exist)."""
        return sum(publisher.get_subscription_count() for publisher in self.outputs.values())

    def watch(self, config: NodeConfig, now: float, warn: Warn) -> None:
        """Re-check the input once a second: follow ``auto`` reliability, say once why a topic stays silent."""
        if self._image is None:
            return
        if self._retiring is not None and self._image.get_publisher_count():
            self.node.destroy_subscription(self._retiring)
            self._retiring = None
        publishers = self.node.get_publishers_info_by_topic(self.source)
        if config.input_reliability == "auto" and (wanted := matching_reliability(publishers)) != self.reliability:
            self._switch(config, wanted)
            self.node.get_logger().info(f"{self.source}: input QoS now {wanted}, matching its publishers")
            return
        self._check_silence(publishers, now, warn)

    def _restart_silence_clock(self) -> None:
        self._quiet_since = None
        self._warned_silence = False

    def _check_silence(self, publishers: Sequence[TopicEndpointInfo], now: float, warn: Warn) -> None:
        """Warn once when publishers exist and no frame came for SILENCE_S; frames or no publishers reset the clock."""
        heard = self.stats.snapshot(now).received
        if heard != self._heard or not publishers:
            self._heard, self._quiet_since = heard, None
            if not publishers and not self._warned_silence and (others := self.node.count_publishers(self._other)):
                warn(self.source, "input_transport", f"no publisher, but {self._other} has {others}: input_transport?")
                self._warned_silence = True
            return
        if self._quiet_since is None:
            self._quiet_since = now
        elif now - self._quiet_since >= SILENCE_S and not self._warned_silence:
            cause = silence_cause(publishers, self._input_type, self.reliability)
            count = len(publishers)
            warn(self.source, "silent", f"{count} publisher(s) but no frame in {SILENCE_S:.0f} s; likely {cause}")
            self._warned_silence = True

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
