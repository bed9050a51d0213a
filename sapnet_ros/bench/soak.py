"""Soak: derain_node fed twice as fast as it can derain, for minutes; its memory over time and what it answers.

``sapnet-bench --only soak --minutes N`` starts the node as the launch file
does (``ros/process.py``, default parameters) and a camera in this process
publishing 640x480 bgr8 frames (the shipped photo; the first size asked for
otherwise). A warm-up at CAMERA_HZ of WARMUP_S (and WARMUP_ANSWERS answers)
measures the node's throughput; the soak then publishes at OVERLOAD times that rate, so the node
always has a newer frame waiting. Every SAMPLE_S it records the node's
resident memory (``VmRSS``, and the peak ``VmHWM``), frames sent and frames
answered. Not a test: the figures are for reading (flat memory, answers at
about the node's own rate), and a tiny test only checks their shape.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import rclpy
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image

from sapnet_ros.bench import BenchConfig, table
from sapnet_ros.bench.measure import sample_frame
from sapnet_ros.errors import SapnetError
from sapnet_ros.ros.process import LaunchArguments, NodeProcess
from sapnet_ros.ros.replay import wait_for

CAMERA_HZ = 30.0  # warm-up rate: more than a CPU derains at 640x480
WARMUP_S = 10.0
WARMUP_ANSWERS = 3  # the warm-up lasts until this many answers too: a slow node's rate needs them
OVERLOAD = 2.0
SAMPLE_S = 5.0
START_TIMEOUT_S = 120.0
NAMESPACE = "sapnet_soak"


@dataclass(frozen=True)
class SoakSample:
    """The node at one moment of the soak."""

    seconds: float
    rss_mb: float
    sent: int
    answered: int


@dataclass(frozen=True)
class SoakResult:
    """What the soak measured; rates in frames per second over the soak after the warm-up."""

    width: int
    height: int
    node_hz: float  # measured in the warm-up
    input_hz: float
    output_hz: float
    peak_rss_mb: float
    samples: list[SoakSample] = field(default_factory=list)

    @property
    def rss_growth_mb(self) -> float:
        """Resident memory at the end minus at the first sample."""
        return self.samples[-1].rss_mb - self.samples[0].rss_mb

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"rss_growth_mb": self.rss_growth_mb}


def _status_kb(pid: int, key: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return float(line.split()[1])
    raise SapnetError(f"no {key} in /proc/{pid}/status")


class _Camera:
    """A publisher of one frame, restamped per send, and a counter of the node's answers (own context)."""

    def __init__(self, width: int, height: int) -> None:
        self.context = Context()
        rclpy.init(args=[], context=self.context)
        self.node = Node("sapnet_soak_camera", context=self.context)
        self.frame = Image(height=height, width=width, encoding="bgr8", step=width * 3)
        self.frame.data = sample_frame(width, height).tobytes()
        reliable = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE)  # a camera heard reliable
        self.publisher = self.node.create_publisher(Image, f"/{NAMESPACE}/image_raw", reliable)
        self.sent = self.answered = 0
        self.node.create_subscription(Image, f"/{NAMESPACE}/image_derained", self._count, QoSProfile(depth=5))
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self._thread = threading.Thread(target=self.executor.spin, daemon=True)
        self._thread.start()

    def _count(self, _: Image) -> None:
        self.answered += 1

    def send(self) -> None:
        self.sent += 1
        self.frame.header.stamp.sec = self.sent
        self.publisher.publish(self.frame)

    def first_answer(self) -> bool:
        """Send a frame; True once the node has answered any (a poll while the node starts)."""
        self.send()
        return self.answered > 0

    def stream(self, rate_hz: float, seconds: float, every: float = 0.0, sample: Any = None) -> None:
        """Publish at ``rate_hz`` for ``seconds``; call ``sample()`` every ``every`` seconds and at the end."""
        start = time.monotonic()
        sampled = -float("inf")
        for index in range(int(rate_hz * seconds)):
            time.sleep(max(0.0, start + index / rate_hz - time.monotonic()))
            self.send()
            if sample is not None and time.monotonic() >= sampled + every:
                sample()
                sampled = time.monotonic()
        if sample is not None and time.monotonic() > sampled + 0.5:  # the end, unless just sampled
            sample()

    def close(self) -> None:
        self.executor.shutdown()
        self._thread.join()
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)


def _warm_up(camera: _Camera, seconds: float) -> float:
    """The node's answers per second at CAMERA_HZ over at least ``seconds`` and WARMUP_ANSWERS answers."""
    answered, start = camera.answered, time.monotonic()
    while time.monotonic() - start < seconds or camera.answered - answered < WARMUP_ANSWERS:
        if time.monotonic() - start > START_TIMEOUT_S:
            raise SapnetError(f"derain_node answered fewer than {WARMUP_ANSWERS} frames in {START_TIMEOUT_S:.0f} s")
        camera.stream(CAMERA_HZ, 1.0)
    return (camera.answered - answered) / (time.monotonic() - start)


def measure_soak(
    minutes: float, width: int = 640, height: int = 480, warmup_s: float = WARMUP_S, sample_s: float = SAMPLE_S
) -> SoakResult:
    """Start derain_node, measure its rate in a warm-up, then overload it for ``minutes`` while sampling memory."""
    camera = _Camera(width, height)
    samples: list[SoakSample] = []
    try:
        with Path(os.devnull).open("w") as quiet, NodeProcess(LaunchArguments(namespace=NAMESPACE), log=quiet) as node:
            if not wait_for(lambda: camera.publisher.get_subscription_count() > 0, START_TIMEOUT_S):
                raise SapnetError(f"derain_node did not subscribe within {START_TIMEOUT_S:.0f} s")
            if not wait_for(camera.first_answer, START_TIMEOUT_S, 0.5):
                raise SapnetError(f"derain_node answered no frame within {START_TIMEOUT_S:.0f} s")
            node_hz = _warm_up(camera, warmup_s)
            sent, answered, start = camera.sent, camera.answered, time.monotonic()

            def sample() -> None:
                rss = _status_kb(node.pid, "VmRSS") / 1024
                samples.append(
                    SoakSample(time.monotonic() - start, rss, camera.sent - sent, camera.answered - answered)
                )

            camera.stream(OVERLOAD * node_hz, minutes * 60, sample_s, sample)
            duration = time.monotonic() - start
            peak = _status_kb(node.pid, "VmHWM") / 1024
            if node.stop() != 0:
                raise SapnetError("derain_node did not stop cleanly after the soak")
    finally:
        camera.close()
    last = samples[-1]
    return SoakResult(width, height, node_hz, last.sent / duration, last.answered / duration, peak, samples)


def run(config: BenchConfig) -> dict[str, Any]:
    """``sapnet-bench`` section: ``config.minutes`` of 2x overload at 640x480 (or the first size asked for)."""
    height, width = config.size_or((480, 640))
    return measure_soak(config.minutes, width, height).as_dict()


def render(result: dict[str, Any]) -> str:
    rows = [
        [f"{s['seconds']:.0f}", f"{s['rss_mb']:.0f}", str(s["sent"]), str(s["answered"])] for s in result["samples"]
    ]
    return (
        f"{result['width']}x{result['height']} bgr8, derain_node on its default parameters; warm-up rate "
        f"{result['node_hz']:.2f} frames/s, soak input {result['input_hz']:.2f} frames/s "
        f"(x{OVERLOAD:.0f})\n\n"
        + table(["s", "RSS MB", "sent", "answered"], rows)
        + f"\n\nanswered {result['output_hz']:.2f} frames/s; RSS {result['rss_growth_mb']:+.1f} MB from the first "
        f"sample to the last, peak {result['peak_rss_mb']:.0f} MB"
    )
