"""derain_node in a real ROS graph: frames in, derained frames out, drops, warnings, parameters."""

from __future__ import annotations

from collections.abc import Iterator

import cv2
import numpy as np
import pytest
from conftest import tiny_rgb
from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import Log
from rclpy.parameter import Parameter
from rclpy.parameter_client import AsyncParameterClient
from ros_graph import Graph, camera_info_msg, image_msg, wait_for
from sensor_msgs.msg import CameraInfo, CompressedImage, Image

from sapnet_ros.backends import BACKENDS
from sapnet_ros.backends.base import BackendBase
from sapnet_ros.derainer import Derainer
from sapnet_ros.io.messages import ENCODINGS, image_to_array
from sapnet_ros.ros.node import DerainNode

NS = "/live"
HEIGHT, WIDTH = 24, 32


class Live:
    """The node under test and the probe's ends of its topics."""

    def __init__(self) -> None:
        self.graph = Graph()
        self.node = DerainNode(
            context=self.graph.context, namespace=NS, parameter_overrides=[Parameter("backend", value="onnxruntime")]
        )
        assert self.node.start()
        self.graph.add(self.node)
        self.images = self.graph.publisher(Image, f"{NS}/image")
        self.infos = self.graph.publisher(CameraInfo, f"{NS}/camera_info")
        self.derained = self.graph.inbox(Image, f"{NS}/image_derained")
        self.derained_infos = self.graph.inbox(CameraInfo, f"{NS}/image_derained/camera_info")
        self.compressed = self.graph.inbox(CompressedImage, f"{NS}/image_derained/compressed")
        self.rosout = self.graph.inbox(Log, "/rosout", depth=1000)
        self.diagnostics = self.graph.inbox(DiagnosticArray, "/diagnostics")
        assert wait_for(lambda: self.images.get_subscription_count() > 0 and self.derained_count() > 0)

    def derained_count(self) -> int:
        return self.graph.probe.count_publishers(f"{NS}/image_derained")

    def send(self, msg: Image) -> None:
        self.images.publish(msg)


@pytest.fixture(scope="module")
def live() -> Iterator[Live]:
    harness = Live()
    yield harness
    harness.graph.close()


@pytest.fixture(scope="module")
def offline(node_backend: BackendBase) -> Derainer:
    """What sapnet-derain computes: the Derainer on the same backend."""
    return Derainer(node_backend)


def random_layout(encoding: str, seed: int) -> np.ndarray:
    enc = ENCODINGS[encoding]
    shape = (HEIGHT, WIDTH) if enc.channels == 1 else (HEIGHT, WIDTH, enc.channels)
    high = np.iinfo(enc.dtype).max + 1
    return np.random.default_rng(seed).integers(0, high, shape).astype(enc.dtype)


ENCODING_CASES = ["rgb8", "bgr8", "rgba8", "bgra8", "mono8", "rgb16", "bgr16", "mono16", "bayer_rggb8",
                  "bayer_gbrg16", "yuv422", "yuv422_yuy2"]  # fmt: skip


@pytest.mark.parametrize("encoding", ENCODING_CASES)
def test_each_encoding_comes_back_derained_like_offline(live: Live, offline: Derainer, encoding: str) -> None:
    sec = 100 + ENCODING_CASES.index(encoding)
    sent = image_msg(random_layout(encoding, sec), encoding, sec, frame_id=f"cam_{encoding}")
    live.send(sent)
    out = live.derained.with_stamp(sec)
    decoded = image_to_array(sent)
    assert out.header.stamp.nanosec == sent.header.stamp.nanosec
    assert out.header.frame_id == f"cam_{encoding}"
    assert out.encoding == decoded.output_encoding
    np.testing.assert_array_equal(image_to_array(out).array, offline.run(decoded.array, decoded.order))


def test_camera_info_is_republished_with_the_frame_stamp(live: Live) -> None:
    live.infos.publish(camera_info_msg(200, WIDTH, HEIGHT))
    assert wait_for(lambda: live.node.cameras[""].camera_infos.get((200, 0)) is not None)
    live.send(image_msg(random_layout("rgb8", 200), "rgb8", 200))
    info = live.derained_infos.with_stamp(200)
    assert (info.width, info.height, info.k[0]) == (WIDTH, HEIGHT, float(WIDTH))
    live.send(image_msg(random_layout("rgb8", 201), "rgb8", 201))  # no camera_info of its own: the latest, restamped
    restamped = live.derained_infos.with_stamp(201)
    assert restamped.header.frame_id == "camera" and restamped.k[0] == float(WIDTH)
    assert live.node.cameras[""].camera_infos.get((200, 0)).header.stamp.sec == 200  # the cached original is kept


def test_compressed_output_switches_on_live(live: Live) -> None:
    result = live.node.set_parameters(
        [Parameter("publish_compressed", value=True), Parameter("compressed_format", value="png")]
    )
    assert all(r.successful for r in result)
    try:
        live.send(image_msg(random_layout("rgb8", 210), "rgb8", 210))
        compressed = live.compressed.with_stamp(210)
        raw = image_to_array(live.derained.with_stamp(210)).array
    finally:
        live.node.set_parameters([Parameter("publish_compressed", value=False)])
    assert "png" in compressed.format
    decoded = cv2.imdecode(np.frombuffer(bytes(compressed.data), np.uint8), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(decoded, raw[:, :, ::-1])  # PNG carries BGR


def test_burst_faster_than_inference_keeps_only_the_newest(live: Live) -> None:
    before = live.node.stats.snapshot(0.0)
    frames = [image_msg(random_layout("bgr8", i), "bgr8", 300 + i) for i in range(30)]
    for frame in frames:  # back to back: far faster than the network
        live.send(frame)
    live.derained.with_stamp(329)
    assert wait_for(lambda: not live.node._worker.busy)
    after = live.node.stats.snapshot(0.0)
    stamps = [m.header.stamp.sec for m in live.derained.snapshot() if 300 <= m.header.stamp.sec < 330]
    assert stamps == sorted(stamps) and stamps[-1] == 329  # the newest frame was processed last
    delta = {key: value - before.as_dict()[key] for key, value in after.as_dict().items() if isinstance(value, int)}
    assert delta["published"] == len(stamps) < 30
    assert delta["received"] == delta["published"] + delta["superseded"]  # nothing queued: the queue is one frame
    assert delta["invalid"] == delta["failed"] == delta["discarded"] == 0
    assert live.node.get_parameter("max_rate_hz").value == 0.0  # still serving


MALFORMED = {
    "unsupported encoding": (dict(encoding="32FC1"), "unsupported encoding '32FC1'"),
    "step shorter than a row": (dict(step=10), "step 10 does not fit"),
    "data shorter than the image": (dict(data=b"\x00" * 100), "data has 100 bytes"),
    "zero size": (dict(height=0, data=b""), "empty image size 32x0"),
    "absurd size": (dict(width=10_000_000, step=30_000_000), "image size 10000000x24 is over max_pixels"),
}


@pytest.mark.parametrize("case", MALFORMED)
def test_malformed_frames_are_dropped_with_a_warning(live: Live, case: str) -> None:
    changes, problem = MALFORMED[case]
    sec = 400 + list(MALFORMED).index(case)
    bad = image_msg(random_layout("rgb8", sec), "rgb8", sec)
    for name, value in changes.items():
        setattr(bad, name, value)
    invalid = live.node.stats.snapshot(0.0).invalid
    live.send(bad)
    assert wait_for(lambda: live.node.stats.snapshot(0.0).invalid == invalid + 1)
    live.send(image_msg(random_layout("rgb8", sec + 50), "rgb8", sec + 50))
    live.derained.with_stamp(sec + 50)  # the next valid frame still comes through
    warnings = [m.msg for m in live.rosout.snapshot() if m.level == Log.WARN and m.name == "live.derain"]
    assert any(f"{NS}/image: dropped frame: " in w and problem in w for w in warnings), warnings


def test_malformed_frames_of_ever_new_sizes_warn_once(live: Live) -> None:
    def truncation_warnings() -> int:
        return sum("data has" in m.msg for m in live.rosout.snapshot() if m.level == Log.WARN)

    warned, invalid = truncation_warnings(), live.node.stats.snapshot(0.0).invalid
    for index in range(20):  # the issue: a byte count in the throttle key let each of these through
        bad = image_msg(random_layout("rgb8", 450), "rgb8", 450)
        bad.data = bytes(100 + index)
        live.send(bad)
        assert wait_for(lambda index=index: live.node.stats.snapshot(0.0).invalid == invalid + index + 1)
    live.send(image_msg(random_layout("rgb8", 451), "rgb8", 451))
    live.derained.with_stamp(451)  # rosout has caught up with the frames before it
    assert truncation_warnings() - warned <= 1


def test_diagnostics_report_rates_drops_latency_and_backend(live: Live) -> None:
    live.send(image_msg(random_layout("rgb8", 500), "rgb8", 500))
    live.derained.with_stamp(500)
    count = len(live.diagnostics.snapshot())
    assert wait_for(lambda: len(live.diagnostics.snapshot()) > count + 1, timeout=10)
    status = next(s for s in live.diagnostics.snapshot()[-1].status if s.name == f"{NS}/derain: derain")
    values = {kv.key: kv.value for kv in status.values}
    assert values["backend"] == "onnxruntime" and status.hardware_id == values["device"]
    assert int(values["frames published"]) >= 1 and float(values["inference p95 (ms)"]) > 0
    for key in ("input rate (Hz)", "output rate (Hz)", "frames dropped", "end-to-end latency mean (ms)"):
        assert key in values


def test_parameters_are_validated_through_the_parameter_service(live: Live) -> None:
    client = AsyncParameterClient(live.graph.probe, f"{NS}/derain")
    assert client.wait_for_services(timeout_sec=30)

    def set_remote(name: str, value: object) -> tuple[bool, str]:
        future = client.set_parameters([Parameter(name, value=value)])
        assert wait_for(future.done, 30)
        result = future.result().results[0]
        return result.successful, result.reason

    assert set_remote("backend", "nope") == (False, f"backend 'nope' is not one of: {', '.join(['auto', *BACKENDS])}")
    ok, reason = set_remote("max_side", 256)
    assert not ok and "read at configure" in reason
    ok, reason = set_remote("jpeg_quality", 0)
    assert not ok and "jpeg_quality" in reason
    ok, reason = set_remote("weights", "/no/such.safetensors")
    assert not ok and "file not found" in reason
    assert set_remote("max_rate_hz", 50.0) == (True, "")
    assert live.node.config.max_rate_hz == 50.0
    assert set_remote("max_rate_hz", 0.0)[0]


def test_parameters_are_served_while_a_frame_is_in_flight(live: Live) -> None:
    client = AsyncParameterClient(live.graph.probe, f"{NS}/derain")
    assert client.wait_for_services(timeout_sec=30)
    big = tiny_rgb(120, 160)  # about a second on a CPU
    live.send(image_msg(big, "rgb8", 600))
    assert wait_for(lambda: live.node._worker.busy)
    future = client.set_parameters([Parameter("jpeg_quality", value=80)])
    assert wait_for(future.done, 30) and future.result().results[0].successful
    answered_while_busy = live.node._worker.busy
    live.derained.with_stamp(600)
    assert answered_while_busy  # the executor never waits for inference
    assert live.node.config.jpeg_quality == 80
