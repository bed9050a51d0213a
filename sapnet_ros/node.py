"""``derain_node``: derains a camera's image topic live.

Topics (relative names: remap them, or start one node per camera namespace):

    in   image                         sensor_msgs/Image            input_transport: raw
    in   <image>/compressed            sensor_msgs/CompressedImage  input_transport: compressed
    in   camera_info                   sensor_msgs/CameraInfo       use_camera_info
    out  image_derained                sensor_msgs/Image            same header, encoding family of the input
    out  <image_derained>/compressed   sensor_msgs/CompressedImage  publish_compressed
    out  <image_derained>/camera_info  sensor_msgs/CameraInfo       the input's, with the frame's stamp
    out  /diagnostics                  diagnostic_msgs/DiagnosticArray  rates, drops, latency, backend

The node is a thin adapter: callbacks hand the newest frame to a
``FrameWorker`` (latest frame wins); the worker thread runs
``sapnet_ros.pipeline`` (decode -> Derainer -> fill) and publishes. It is a
lifecycle node: configure loads the backend, activate subscribes, deactivate
unsubscribes, cleanup frees the model. Unless ``managed`` is set it takes
itself through configure and activate at start. Parameters: config/derain.yaml.
"""

from __future__ import annotations

import copy
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass, replace
from typing import Any

import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, SetParametersResult
from rclpy.exceptions import ParameterException
from rclpy.executors import ExternalShutdownException
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.parameter import Parameter
from rclpy.publisher import Publisher
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.subscription import Subscription
from rclpy.timer import Timer
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from std_msgs.msg import Header

from sapnet_ros.derainer import Derainer, open_derainer
from sapnet_ros.errors import ImageFormatError
from sapnet_ros.node_config import DEFAULTS, SPECS, NodeConfig, ParameterSpec, check
from sapnet_ros.pipeline import DerainedFrame, ImageFiller, StampCache, compressed_payload, derain_message, stamp_of
from sapnet_ros.stats import FrameStats, Throttle
from sapnet_ros.worker import FrameWorker

NODE_NAME = "derain"
WARN_PERIOD_S = 10.0  # one warning per topic and problem this often
STOP_TIMEOUT_S = 60.0  # the longest wait for a frame in flight when stopping
SUCCESS = TransitionCallbackReturn.SUCCESS
FAILURE = TransitionCallbackReturn.FAILURE


@dataclass(frozen=True)
class Frame:
    """A received message on its way to the worker."""

    msg: Any
    compressed: bool
    topic: str
    received: float  # time.monotonic() at the callback


def qos(reliability: str, depth: int) -> QoSProfile:
    """Keep-last QoS; ``best_effort`` is the sensor-data choice for camera input."""
    policy = ReliabilityPolicy.BEST_EFFORT if reliability == "best_effort" else ReliabilityPolicy.RELIABLE
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth, reliability=policy)


def describe(name: str, spec: ParameterSpec) -> ParameterDescriptor:
    """The ROS descriptor of one parameter: description, choices, range, read-only."""
    notes = [f"one of: {', '.join(spec.choices)}"] if spec.choices else []
    notes += [] if spec.live or spec.read_only else ["read at configure"]
    descriptor = ParameterDescriptor(
        name=name, description=spec.description, additional_constraints="; ".join(notes), read_only=spec.read_only
    )
    default = DEFAULTS[name]
    if spec.low is None or spec.high is None:
        return descriptor
    if isinstance(default, float):
        descriptor.floating_point_range = [FloatingPointRange(from_value=spec.low, to_value=spec.high, step=0.0)]
    else:
        descriptor.integer_range = [IntegerRange(from_value=int(spec.low), to_value=int(spec.high), step=1)]
    return descriptor


class DerainNode(LifecycleNode):
    """Subscribes to a camera, derains the newest frame on a worker thread, publishes the result."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(NODE_NAME, **kwargs)
        self.stats = FrameStats(time.monotonic())
        self.derainer: Derainer | None = None
        self._configured = False
        self._active = False
        self._resources = ExitStack()  # the loaded backend
        self._worker: FrameWorker[Frame] | None = None
        self._outputs: dict[str, Publisher[Any]] = {}
        self._inputs: list[Subscription[Any]] = []
        self._source = ""  # the resolved input topic, for warnings
        self._diagnostics_timer: Timer | None = None
        self._camera_infos: StampCache[CameraInfo] = StampCache()
        self._filler = ImageFiller()
        self._output = Image(check_fields=True)  # keeps the filler's buffer by reference
        self._throttle = Throttle(WARN_PERIOD_S)
        self._reported_problems = 0
        self.add_on_set_parameters_callback(self._validate_parameters)  # before declaring: checks overrides too
        for name, spec in SPECS.items():
            self.declare_parameter(name, DEFAULTS[name], describe(name, spec))
        self.config = NodeConfig(**{name: self.get_parameter(name).value for name in SPECS})
        self.add_post_set_parameters_callback(self._apply_parameters)

    # parameters
    def _validate_parameters(self, parameters: list[Parameter[Any]]) -> SetParametersResult:
        for parameter in parameters:
            if parameter.name not in SPECS:
                continue  # use_sim_time and other parameters rclpy owns
            reason = check(parameter.name, parameter.value)
            if reason is None and self._configured and not SPECS[parameter.name].live:
                reason = f"{parameter.name} is read at configure: deactivate and clean up the node first"
            if reason is not None:
                return SetParametersResult(successful=False, reason=reason)
        return SetParametersResult(successful=True)

    def _apply_parameters(self, parameters: list[Parameter[Any]]) -> None:
        changes = {p.name: p.value for p in parameters if p.name in SPECS}
        self.config = replace(self.config, **changes)

    # lifecycle
    def start(self) -> bool:
        """Configure and activate (unmanaged use); False if either transition failed."""
        return self.trigger_configure() == SUCCESS and self.trigger_activate() == SUCCESS

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        config = self.config
        try:
            self.derainer = self._resources.enter_context(
                open_derainer(config.backend, config.backend_options(), config.max_side)
            )
        except Exception as err:  # any backend may fail to load; the transition fails with the reason
            self.get_logger().error(f"configure failed: cannot load backend {config.backend!r}: {err}")
            self._resources.close()
            return FAILURE
        output_qos = qos(config.output_reliability, config.output_depth)
        image = self.create_publisher(Image, "image_derained", output_qos)
        self._outputs = {"image": image, "/diagnostics": self.create_publisher(DiagnosticArray, "/diagnostics", 10)}
        if config.use_camera_info:
            self._outputs["camera_info"] = self.create_publisher(
                CameraInfo, f"{image.topic_name}/camera_info", output_qos
            )
        self._diagnostics_timer = self.create_timer(config.diagnostics_period_s, self._publish_diagnostics)
        self._worker = FrameWorker(self._process, self._on_worker_error, lambda: self.config.max_rate_hz, "derain")
        self._worker.start()
        self._configured = True
        return super().on_configure(state)

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        config = self.config
        input_qos = qos(config.input_reliability, config.input_depth)
        if config.input_transport == "raw":
            source = self.create_subscription(Image, "image", self._on_image, input_qos)
        else:
            topic = f"{self.resolve_topic_name('image')}/compressed"
            source = self.create_subscription(CompressedImage, topic, self._on_compressed, input_qos)
        self._inputs = [source]
        self._source = source.topic_name
        if config.use_camera_info:
            info_qos = qos(config.input_reliability, max(config.input_depth, 10))
            self._inputs.append(self.create_subscription(CameraInfo, "camera_info", self._on_info, info_qos))
        self._active = True
        self.get_logger().info(self._summary())
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._deactivate()
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._cleanup()
        return super().on_cleanup(state)

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._deactivate()
        self._cleanup()
        return super().on_shutdown(state)

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.get_logger().error(f"error in lifecycle transition from {state.label}: releasing everything")
        self._deactivate()
        self._cleanup()
        return SUCCESS

    def _deactivate(self) -> None:
        self._active = False
        for subscription in self._inputs:
            self.destroy_subscription(subscription)
        self._inputs = []
        if self._worker is not None and self._worker.discard() is not None:
            self.stats.dropped("discarded")
        self._camera_infos.clear()

    def _cleanup(self) -> None:
        """Stop the worker (after its frame in flight), then free the model and the publishers."""
        if self._worker is not None and not self._worker.stop(STOP_TIMEOUT_S):
            self.get_logger().error(f"a frame is still in flight after {STOP_TIMEOUT_S:.0f} s; freeing anyway")
        self._worker = None
        if self._diagnostics_timer is not None:
            self.destroy_timer(self._diagnostics_timer)
            self._diagnostics_timer = None
        for publisher in self._outputs.values():
            self.destroy_publisher(publisher)
        self._outputs = {}
        self.derainer = None
        self._resources.close()
        self._configured = False

    def close(self) -> None:
        """Release the model and threads, then the node (safe after rclpy shutdown)."""
        self._deactivate()
        self._cleanup()
        self.destroy_node()

    # frames
    def _on_image(self, msg: Image) -> None:
        self._receive(Frame(msg, False, self._source, time.monotonic()))

    def _on_compressed(self, msg: CompressedImage) -> None:
        self._receive(Frame(msg, True, self._source, time.monotonic()))

    def _receive(self, frame: Frame) -> None:
        self.stats.received(frame.received)
        if self._worker is not None and self._worker.offer(frame) is not None:
            self.stats.dropped("superseded")

    def _on_info(self, msg: CameraInfo) -> None:
        self._camera_infos.add(stamp_of(msg.header), msg)

    def _process(self, frame: Frame) -> None:
        """Worker thread: derain one frame and publish it (while active)."""
        assert self.derainer is not None  # the worker lives only while configured
        try:
            derained = derain_message(self.derainer, frame.msg, frame.compressed)
        except ImageFormatError as err:
            self.stats.dropped("invalid")
            self._warn(frame.topic, f"dropped frame: {err}")
            return
        if not self._active:
            self.stats.dropped("discarded")
            return
        self._publish(frame.msg.header, derained)
        now = time.monotonic()
        self.stats.published(now, derained.timing.inference_ms, (now - frame.received) * 1e3)

    def _publish(self, header: Any, derained: DerainedFrame) -> None:
        self._filler.fill(self._output, derained)
        self._output.header = header
        self._outputs["image"].publish(self._output)
        if "camera_info" in self._outputs:
            info = self._camera_info_for(header)
            if info is not None:
                self._outputs["camera_info"].publish(info)
        if self.config.publish_compressed:
            image_format, data = compressed_payload(derained, self.config.compressed_format, self.config.jpeg_quality)
            self._compressed_publisher().publish(CompressedImage(header=header, format=image_format, data=data))

    def _camera_info_for(self, header: Any) -> CameraInfo | None:
        """The camera_info with the frame's stamp, else the latest one restamped (None before any)."""
        info = self._camera_infos.get(stamp_of(header))
        if info is None and (latest := self._camera_infos.latest()) is not None:
            info = copy.copy(latest)
            info.header = header
        return info

    def _compressed_publisher(self) -> Publisher[Any]:
        if "compressed" not in self._outputs:  # created on first use: publish_compressed is live
            topic = f"{self._outputs['image'].topic_name}/compressed"
            output_qos = qos(self.config.output_reliability, self.config.output_depth)
            self._outputs["compressed"] = self.create_publisher(CompressedImage, topic, output_qos)
        return self._outputs["compressed"]

    def _on_worker_error(self, frame: Frame, err: Exception) -> None:
        self.stats.dropped("failed")
        self._warn(frame.topic, f"inference failed: {type(err).__name__}: {err}")

    def _warn(self, topic: str, problem: str) -> None:
        if self._throttle.ready((topic, problem), time.monotonic()):
            self.get_logger().warning(f"{topic}: {problem}")

    # observability
    def _summary(self) -> str:
        """The one-line startup log: backend, model, topics, QoS."""
        assert self.derainer is not None
        info, config = self.derainer.backend.info, self.config
        source, output = self._source, self._outputs["image"].topic_name
        extras = [f"{output}/camera_info"] if "camera_info" in self._outputs else []
        extras += [f"{output}/compressed ({config.compressed_format})"] if config.publish_compressed else []
        return (
            f"derain ready: backend {info.name} on {info.device} ({info.precision}), model sha256 "
            f"{info.model_sha256[:12]}, max_side {config.max_side or 'native'}; "
            f"{source} [{config.input_reliability}, depth {config.input_depth}] -> {output} "
            f"[{config.output_reliability}, depth {config.output_depth}]"
            + (f" + {', '.join(extras)}" if extras else "")
        )

    def _publish_diagnostics(self) -> None:
        snapshot = self.stats.snapshot(time.monotonic())
        problems = snapshot.invalid + snapshot.failed
        status = DiagnosticStatus(name=f"{self.get_fully_qualified_name()}: derain", level=DiagnosticStatus.OK)
        if not self._active:
            status.message = "inactive"
        elif problems > self._reported_problems:
            status.level = DiagnosticStatus.WARN
            status.message = f"{problems - self._reported_problems} frames dropped as invalid or failed"
        else:
            status.message = f"{snapshot.output_hz:.1f} Hz out of {snapshot.input_hz:.1f} Hz in"
        self._reported_problems = problems
        pairs = snapshot.as_key_values()
        if self.derainer is not None:
            info = self.derainer.backend.info
            status.hardware_id = info.device
            pairs = [("backend", info.name), ("device", info.device), ("precision", info.precision),
                     ("model sha256", info.model_sha256), *pairs]  # fmt: skip
        status.values = [KeyValue(key=key, value=value) for key, value in pairs]
        stamp = self.get_clock().now().to_msg()
        self._outputs["/diagnostics"].publish(DiagnosticArray(header=Header(stamp=stamp), status=[status]))


def main(args: list[str] | None = None) -> int:
    """``derain_node [--ros-args ...]``: run until Ctrl-C; exit 1 if configure fails, 2 on a bad parameter."""
    code = 0
    try:
        with rclpy.init(args=args):
            try:
                node = DerainNode()
            except ParameterException as err:
                print(f"derain_node: error: {err}", file=sys.stderr)
                return 2
            try:
                if node.config.managed or node.start():
                    rclpy.spin(node)
                else:
                    code = 1
            finally:
                node.close()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    return code


if __name__ == "__main__":
    sys.exit(main())
