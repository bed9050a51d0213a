"""``derain_node``: derains one or several cameras' image topics live, through one backend.

Topics per camera (relative names: remap them; with the ``cameras`` parameter
each camera's topics are prefixed with its namespace, e.g. ``front/image``):

    in   image                         sensor_msgs/Image            input_transport: raw
    in   <image>/compressed            sensor_msgs/CompressedImage  input_transport: compressed
    in   camera_info                   sensor_msgs/CameraInfo       use_camera_info
    out  image_derained                sensor_msgs/Image            same header, encoding family of the input
    out  <image_derained>/compressed   sensor_msgs/CompressedImage  publish_compressed
    out  <image_derained>/camera_info  sensor_msgs/CameraInfo       the input's, with the frame's stamp
    out  rain_level                    std_msgs/Float32             rain_gate.enabled; after each frame
    out  /diagnostics                  diagnostic_msgs/DiagnosticArray  rates, drops, latency, backend, rain

The node is a thin adapter: callbacks hand the newest frame of each camera to
a ``FrameWorker`` (latest frame wins per camera, cameras served round robin);
the worker thread runs ``sapnet_ros.pipeline`` (decode -> Derainer, one call
for the waiting frames of equal size -> fill) and publishes. It is a lifecycle
node: configure loads the backend, activate subscribes, deactivate
unsubscribes, cleanup frees the model. Unless ``managed`` is set it takes
itself through configure and activate at start. Parameters: config/derain.yaml;
a parameter the node does not know (``backnd``, ``rain_gate.enable``) stops
it at start with the nearest known name, from a params file or ``-p`` alike.
While active, a one-second timer follows the publishers' reliability
(``input_reliability: auto``), subscribes only while outputs have subscribers
(``lazy``) and says once why a topic with publishers stays silent.
"""

from __future__ import annotations

import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, SetParametersResult
from rclpy.exceptions import ParameterException, ParameterUninitializedException
from rclpy.executors import SingleThreadedExecutor
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.parameter import Parameter
from rclpy.publisher import Publisher
from rclpy.signals import SignalHandlerOptions
from rclpy.timer import Timer
from std_msgs.msg import Header

from sapnet_ros.commands import INTERRUPTED, deferred_interrupts
from sapnet_ros.derainer import Derainer, open_derainer
from sapnet_ros.errors import ImageFormatError
from sapnet_ros.pipeline import decode, derain_decoded
from sapnet_ros.ros.camera import Camera
from sapnet_ros.ros.diagnostics import DiagnosticsReport, startup_summary
from sapnet_ros.ros.parameters import DEFAULTS, SPECS, NodeConfig, ParameterSpec, ParameterValue, check, unknown
from sapnet_ros.ros.stats import FrameStats, Throttle
from sapnet_ros.ros.worker import FrameWorker

NODE_NAME = "derain"
WARN_PERIOD_S = 10.0  # one warning per topic and problem class this often
WATCH_PERIOD_S = 1.0  # inputs re-checked (QoS, lazy, silence) this often
SIGNAL_POLL_S = 0.1  # the longest a Ctrl-C waits before the node starts stopping
ROS_OWNED = frozenset({"use_sim_time", "start_type_description_service"})  # declared by rclpy itself
STOP_TIMEOUT_S = 60.0  # the longest wait for a frame in flight when stopping
SUCCESS = TransitionCallbackReturn.SUCCESS
FAILURE = TransitionCallbackReturn.FAILURE


@dataclass(frozen=True)
class Frame:
    """A received message on its way to the worker."""

    msg: Any
    camera: Camera
    received: float  # time.monotonic() at the callback


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


class UnknownParameterError(ParameterException):
    """Parameters given (params file, ``-p``, constructor) that the node does not declare."""

    def __init__(self, reason: str) -> None:
        Exception.__init__(self, reason)


class DerainNode(LifecycleNode):
    """Subscribes to cameras, derains their newest frames on a worker thread, publishes the results.

    Raises:
        ParameterException: a parameter is unknown (``UnknownParameterError``,
            naming the nearest known one) or has a bad value.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(NODE_NAME, **kwargs)
        # rclpy keeps overrides nobody declares without a word, so a typo in a params file or -p would
        # pass in silence. It has no public getter for them, and automatically declaring them fails on
        # an empty list ("cameras: []"), so read the overrides it holds (params files, -p, constructor).
        ours = (n for n in self._parameter_overrides if n not in ROS_OWNED and not n.startswith("qos_overrides."))
        if (reason := unknown(ours)) is not None:
            raise UnknownParameterError(reason)
        self.stats = FrameStats(time.monotonic())  # all cameras together
        self.cameras: dict[str, Camera] = {}
        self.derainer: Derainer | None = None
        self._active = False
        self._resources = ExitStack()  # the loaded backend
        self._worker: FrameWorker[Frame] | None = None  # set while configured
        self._diagnostics: Publisher[Any] | None = None
        self._diagnostics_timer: Timer | None = None
        self._watch_timer: Timer | None = None
        self._throttle = Throttle(WARN_PERIOD_S)
        self._diagnostics_report = DiagnosticsReport()
        self.add_on_set_parameters_callback(self._validate_parameters)  # before declaring: checks overrides too
        for name, spec in SPECS.items():
            default = DEFAULTS[name]
            declared = Parameter.Type.STRING_ARRAY if default == [] else default  # [] alone has no type in ROS
            self.declare_parameter(name, declared, describe(name, spec))
        self.config = NodeConfig().updated({name: self._declared_value(name) for name in SPECS})
        self.add_post_set_parameters_callback(self._apply_parameters)

    # parameters
    def _declared_value(self, name: str) -> ParameterValue:
        try:
            value: ParameterValue = self.get_parameter(name).value
        except ParameterUninitializedException:  # an empty list default that nobody set
            value = DEFAULTS[name]
        return value

    def _validate_parameters(self, parameters: list[Parameter[Any]]) -> SetParametersResult:
        for parameter in parameters:
            if parameter.name not in SPECS or parameter.type_ == Parameter.Type.NOT_SET:
                continue  # use_sim_time and other parameters rclpy owns; a list declared empty
            reason = check(parameter.name, parameter.value)
            if reason is None and self._worker is not None and not SPECS[parameter.name].live:
                reason = f"{parameter.name} is read at configure: deactivate and clean up the node first"
            if reason is not None:
                return SetParametersResult(successful=False, reason=reason)
        return SetParametersResult(successful=True)

    def _apply_parameters(self, parameters: list[Parameter[Any]]) -> None:
        self.config = self.config.updated({p.name: p.value for p in parameters if p.name in SPECS})

    # lifecycle
    def start(self) -> bool:
        """Configure and activate (unmanaged use); False if either transition failed."""
        return self.trigger_configure() == SUCCESS and self.trigger_activate() == SUCCESS

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        config = self.config
        try:
            settings = config.derain_settings()
        except ValueError as err:  # contradicting rain gate thresholds
            self.get_logger().error(f"configure failed: rain gate: {err}")
            return FAILURE
        try:
            self.derainer = self._resources.enter_context(open_derainer(settings))
        except Exception as err:  # any backend may fail to load; the transition fails with the reason
            self.get_logger().error(f"configure failed: cannot load backend {config.backend!r}: {err}")
            self._resources.close()
            return FAILURE
        self.cameras = {name: Camera(self, name, config, self.stats) for name in config.camera_names()}
        self._diagnostics = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self._diagnostics_timer = self.create_timer(config.diagnostics_period_s, self._publish_diagnostics)
        self._worker = FrameWorker(
            self._process, self._on_worker_error, lambda: self.config.max_rate_hz, "derain", config.max_batch
        )
        self._worker.start()
        return super().on_configure(state)

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        if not self.config.lazy:  # lazy: _watch_inputs subscribes while an output has subscribers
            for camera in self.cameras.values():
                camera.subscribe(self.config, self._receive)
        self._active = True
        self._watch_timer = self.create_timer(WATCH_PERIOD_S, self._watch_inputs)
        self._watch_inputs()
        self.get_logger().info(self._summary())
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._deactivate()
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._cleanup()
        return super().on_cleanup(state)

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._cleanup()
        return super().on_shutdown(state)

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.get_logger().error(f"error in lifecycle transition from {state.label}: releasing everything")
        self._cleanup()
        return SUCCESS

    def _deactivate(self) -> None:
        self._active = False
        if self._watch_timer is not None:
            self.destroy_timer(self._watch_timer)
            self._watch_timer = None
        for camera in self.cameras.values():
            camera.unsubscribe()
        if self._worker is not None:
            for frame in self._worker.discard():
                frame.camera.stats.dropped("discarded")
        if self.derainer is not None and self.derainer.gate is not None:
            self.derainer.gate.reset()  # a camera coming back starts without stale rain history

    def _cleanup(self) -> None:
        """Deactivate (harmless if inactive), stop the worker after its frames in flight, free model and publishers."""
        self._deactivate()
        if self._worker is not None and not self._worker.stop(STOP_TIMEOUT_S):
            self.get_logger().error(f"frames are still in flight after {STOP_TIMEOUT_S:.0f} s; freeing anyway")
        self._worker = None
        if self._diagnostics_timer is not None:
            self.destroy_timer(self._diagnostics_timer)
            self._diagnostics_timer = None
        for camera in self.cameras.values():
            camera.destroy()
        self.cameras = {}
        if self._diagnostics is not None:
            self.destroy_publisher(self._diagnostics)
            self._diagnostics = None
        self.derainer = None
        self._resources.close()

    def close(self) -> None:
        """Release the model and threads, then the node (safe after rclpy shutdown)."""
        self._cleanup()
        self.destroy_node()

    def _watch_inputs(self) -> None:
        """Timer: (lazy) subscribe while outputs have subscribers; follow the publishers' QoS; name silence."""
        now = time.monotonic()
        for camera in self.cameras.values():
            if self.config.lazy:
                wanted = camera.output_subscribers() > 0
                if wanted != camera.subscribed:
                    if wanted:
                        camera.subscribe(self.config, self._receive)
                    else:
                        camera.unsubscribe()
                    state = "subscribed: its output has" if wanted else "unsubscribed: its outputs have no"
                    self.get_logger().info(f"{camera.source}: {state} subscribers (lazy)")
            camera.watch(self.config, now, self._warn)

    # frames
    def _receive(self, camera: Camera, msg: Any) -> None:
        frame = Frame(msg, camera, time.monotonic())
        camera.stats.received(frame.received)
        if self._worker is not None and self._worker.offer(frame, camera.name) is not None:
            camera.stats.dropped("superseded")

    def _process(self, frames: list[Frame]) -> None:
        """Worker thread: derain the waiting frames (one per camera) and publish them (while active)."""
        assert self.derainer is not None  # the worker lives only while configured
        decoded, valid = [], []
        for frame in frames:
            try:
                decoded.append(decode(frame.msg, frame.camera.compressed, self.config.max_pixels))
                valid.append(frame)
            except ImageFormatError as err:
                frame.camera.stats.dropped("invalid")
                self._warn(frame.camera.source, err.problem, f"dropped frame: {err}")
        if not valid:
            return
        results = derain_decoded(self.derainer, decoded, [frame.camera.name for frame in valid])
        for frame, derained in zip(valid, results, strict=True):
            if not self._active:
                frame.camera.stats.dropped("discarded")
                continue
            frame.camera.publish(frame.msg.header, derained, self.config)
            now = time.monotonic()
            frame.camera.stats.published(now, derained.timing.inference_ms, (now - frame.received) * 1e3)

    def _on_worker_error(self, frames: list[Frame], err: Exception) -> None:
        for frame in frames:
            frame.camera.stats.dropped("failed")
            self._warn(frame.camera.source, type(err).__name__, f"inference failed: {type(err).__name__}: {err}")

    def _warn(self, topic: str, problem: str, message: str) -> None:
        """Log ``message`` unless this topic warned about this problem class within WARN_PERIOD_S.

        The key holds the class, never the numbers: frames of ever new sizes must not flood the log.
        """
        if self._throttle.ready((topic, problem), time.monotonic()):
            self.get_logger().warning(f"{topic}: {message}")

    # observability
    def _summary(self) -> str:
        assert self.derainer is not None
        return startup_summary(self.derainer, list(self.cameras.values()), self.config)

    def _publish_diagnostics(self) -> None:
        statuses = self._diagnostics_report.statuses(
            f"{self.get_fully_qualified_name()}: derain", self._active, self.derainer, self.cameras, self.stats
        )
        if self._diagnostics is not None:
            header = Header(stamp=self.get_clock().now().to_msg())
            self._diagnostics.publish(DiagnosticArray(header=header, status=statuses))


def _spin_until_interrupted(node: DerainNode) -> None:
    """Run the node's callbacks until SIGINT or SIGTERM; a second one raises KeyboardInterrupt.

    The signals are noted, not raised, and rclpy installs no handler of its
    own: a KeyboardInterrupt landing inside rclpy's message conversion surfaced
    as a RuntimeError traceback (exit 1), and rclpy's handler shut the context
    down under callbacks still publishing. Here the context outlives ``close``,
    so frames in flight are still published when the node stops.
    """
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    try:
        with deferred_interrupts() as interrupts:
            while not interrupts.requested:
                executor.spin_once(timeout_sec=SIGNAL_POLL_S)
    finally:
        executor.shutdown()


def main(args: list[str] | None = None) -> int:
    """``derain_node [--ros-args ...]``: run until Ctrl-C; exit 1 if configure fails, 2 on a bad parameter."""
    code = 0
    try:
        with rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO):
            try:
                node = DerainNode()
            except ParameterException as err:
                print(f"derain_node: error: {err}", file=sys.stderr)
                return 2
            try:
                if node.config.managed or node.start():
                    _spin_until_interrupted(node)
                else:
                    code = 1
            finally:
                node.close()
    except KeyboardInterrupt:
        code = INTERRUPTED  # Ctrl-C twice: stopped without waiting for frames in flight
    return code


if __name__ == "__main__":
    sys.exit(main())
