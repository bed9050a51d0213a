"""What derain_node costs per frame besides inference, against inference itself.

For one 640x480 bgr8 frame (the shipped sample photo, resized) it times each
step the node runs around ``Derainer.run``:

- ``take``: rclpy deserializing the incoming message (what the executor does
  before the callback);
- ``decode``: ``image_to_array`` (a zero-copy view for bgr8);
- ``fill``: ``ImageFiller.fill`` of the outgoing message (one reused buffer);
- ``publish``: rclpy ``publish`` with a subscriber matched on this machine
  (serialization and the DDS write);

and ``Derainer.run`` on the same frame with the chosen backend (after one
warm-up run), split into the network itself and the Derainer's own array <->
tensor conversion, which counts as plumbing here. The optional JPEG of
``publish_compressed`` is timed apart.
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass
from typing import Any

import rclpy
from rclpy.context import Context
from rclpy.node import Node
from rclpy.serialization import deserialize_message, serialize_message
from sensor_msgs.msg import Image

from sapnet_ros.bench import BenchConfig, median_ms, table
from sapnet_ros.bench.measure import derain_timings, sample_frame
from sapnet_ros.derainer import open_derainer
from sapnet_ros.io.messages import image_to_array
from sapnet_ros.pipeline import DerainedFrame, ImageFiller, compressed_payload
from sapnet_ros.ros.replay import wait_for
from sapnet_ros.settings import DerainSettings

MATCH_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class PlumbingResult:
    """Median milliseconds per frame of each plumbing step, and the Derainer's time."""

    width: int
    height: int
    backend: str
    device: str
    take_ms: float
    decode_ms: float  # message -> array
    fill_ms: float
    publish_ms: float
    tensor_ms: float  # the Derainer's array <-> network tensor conversion
    jpeg_ms: float
    inference_ms: float

    @property
    def plumbing_ms(self) -> float:
        """Conversion and publish overhead of the raw path (JPEG excluded: it is optional)."""
        return self.take_ms + self.decode_ms + self.tensor_ms + self.fill_ms + self.publish_ms

    @property
    def overhead_percent(self) -> float:
        """Plumbing as a share of the network's time."""
        return 100.0 * self.plumbing_ms / self.inference_ms

    def as_dict(self) -> dict[str, object]:
        return asdict(self) | {"plumbing_ms": self.plumbing_ms, "overhead_percent": self.overhead_percent}


def measure_plumbing(
    settings: DerainSettings | None = None,
    width: int = 640,
    height: int = 480,
    repeats: int = 30,
    derain_repeats: int = 1,
) -> PlumbingResult:
    """Time the node's per-frame plumbing and one Derainer.run at ``width`` x ``height``."""
    image = sample_frame(width, height)
    incoming = Image(height=height, width=width, encoding="bgr8", step=width * 3)
    incoming.data = image.tobytes()
    serialized = serialize_message(incoming)
    filler, outgoing = ImageFiller(), Image(check_fields=True)  # as the node does
    with open_derainer(settings) as derainer:
        derained, timings = derain_timings(derainer, image, derain_repeats)
        info = derainer.backend.info
    frame = DerainedFrame(derained, "bgr", "bgr8", timings[-1])
    filler.fill(outgoing, frame)
    context = Context()
    rclpy.init(args=[], context=context)
    try:
        node = Node("sapnet_bench_plumbing", context=context)
        publisher = node.create_publisher(Image, "sapnet_bench/image", 1)
        node.create_subscription(Image, "sapnet_bench/image", lambda _: None, 1)  # matched, never spun
        wait_for(lambda: publisher.get_subscription_count() > 0, MATCH_TIMEOUT_S)
        publish_ms = median_ms(lambda: publisher.publish(outgoing), repeats)
        node.destroy_node()
    finally:
        rclpy.try_shutdown(context=context)
    return PlumbingResult(
        width=width,
        height=height,
        backend=info.name,
        device=info.device,
        take_ms=median_ms(lambda: deserialize_message(serialized, Image), repeats),
        decode_ms=median_ms(lambda: image_to_array(incoming), repeats),
        fill_ms=median_ms(lambda: filler.fill(outgoing, frame), repeats),
        publish_ms=publish_ms,
        tensor_ms=statistics.median(t.preprocess_ms + t.postprocess_ms for t in timings),
        jpeg_ms=median_ms(lambda: compressed_payload(frame, "jpeg", 90), repeats),
        inference_ms=statistics.median(t.inference_ms for t in timings),
    )


def run(config: BenchConfig) -> dict[str, Any]:
    """``sapnet-bench`` section: the plumbing at 640x480 (or the first size asked for), fastest CPU/GPU path."""
    height, width = config.size_or((480, 640))
    settings = config.auto_settings()
    repeats = max(config.repeats, 10)
    return measure_plumbing(settings, width, height, repeats, derain_repeats=config.repeats).as_dict()


def render(result: dict[str, Any]) -> str:
    steps = ["take", "decode", "tensor", "fill", "publish", "jpeg", "inference"]
    rows = [[step, f"{result[f'{step}_ms']:.3f}"] for step in steps]
    return (
        f"{result['width']}x{result['height']} bgr8, {result['backend']} on {result['device']}\n\n"
        + table(["step", "ms/frame"], rows)
        + f"\n\nplumbing (all but jpeg and inference): {result['plumbing_ms']:.2f} ms = "
        f"{result['overhead_percent']:.3f}% of inference"
    )
