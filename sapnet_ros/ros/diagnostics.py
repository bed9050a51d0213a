"""What the derain node reports: its one-line startup summary and its ``/diagnostics`` statuses."""

from __future__ import annotations

import time
from collections.abc import Mapping

from diagnostic_msgs.msg import DiagnosticStatus, KeyValue

from sapnet_ros.derainer import Derainer
from sapnet_ros.ros.camera import Camera
from sapnet_ros.ros.parameters import NodeConfig
from sapnet_ros.ros.stats import FrameStats, StatsSnapshot


def startup_summary(derainer: Derainer, cameras: list[Camera], config: NodeConfig) -> str:
    """The one-line startup log: backend, model, gate, and per camera its topics and QoS."""
    info = derainer.backend.info
    streams = []
    for camera in cameras:
        output = camera.image.topic_name
        extras = [f"{output}/camera_info"] if "camera_info" in camera.outputs else []
        extras += [f"{output}/compressed ({config.compressed_format})"] if config.publish_compressed else []
        extras += [camera.outputs["rain_level"].topic_name] if "rain_level" in camera.outputs else []
        streams.append(
            f"{camera.source} [{config.input_reliability}, depth {config.input_depth}{', lazy' if config.lazy else ''}]"
            f" -> {output} "
            f"[{config.output_reliability}, depth {config.output_depth}]"
            + (f" + {', '.join(extras)}" if extras else "")
        )
    gate = derainer.gate
    gating = (
        f"rain gate on (open {gate.settings.open_level}, close {gate.settings.close_level})"
        if gate is not None
        else "rain gate off"
    )
    batching = f", batches of up to {config.max_batch}" if len(cameras) > 1 else ""
    return (
        f"derain ready: backend {info.name} on {info.device} ({info.precision}), model sha256 "
        f"{info.model_sha256[:12]}, max_side {config.max_side or 'native'}, max_pixels {config.max_pixels}, "
        f"{gating}{batching}; " + "; ".join(streams)
    )


class DiagnosticsReport:
    """Builds the node's statuses; remembers the problems already reported, so each new drop warns once."""

    def __init__(self) -> None:
        self._reported_problems: dict[str, int] = {}

    def statuses(
        self,
        node_name: str,
        active: bool,
        derainer: Derainer | None,
        cameras: Mapping[str, Camera],
        node_stats: FrameStats,
    ) -> list[DiagnosticStatus]:
        """One status for the node (all cameras, backend), and one per camera when there are several."""
        now = time.monotonic()
        pairs: list[tuple[str, str]] = []
        if derainer is not None:
            info = derainer.backend.info
            pairs = [("backend", info.name), ("device", info.device), ("precision", info.precision),
                     ("model sha256", info.model_sha256)]  # fmt: skip
        single = next(iter(cameras.values())) if len(cameras) == 1 else None
        statuses = [self._status(node_name, active, derainer, node_stats.snapshot(now),
                                 pairs + _rain_pairs(derainer, single))]  # fmt: skip
        if single is None:
            for name, camera in cameras.items():
                camera_pairs = [("input topic", camera.source), *_rain_pairs(derainer, camera)]
                snapshot = camera.stats.snapshot(now)
                statuses.append(self._status(f"{node_name} {name}", active, derainer, snapshot, camera_pairs))
        return statuses

    def _status(
        self, name: str, active: bool, derainer: Derainer | None, snapshot: StatsSnapshot, pairs: list[tuple[str, str]]
    ) -> DiagnosticStatus:
        """A status whose level warns about frames dropped as invalid or failed since the last one."""
        problems = snapshot.invalid + snapshot.failed
        reported = self._reported_problems.get(name, 0)
        status = DiagnosticStatus(name=name, level=DiagnosticStatus.OK)
        if not active:
            status.message = "inactive"
        elif problems > reported:
            status.level = DiagnosticStatus.WARN
            status.message = f"{problems - reported} frames dropped as invalid or failed"
        else:
            status.message = f"{snapshot.output_hz:.1f} Hz out of {snapshot.input_hz:.1f} Hz in"
        self._reported_problems[name] = problems
        if derainer is not None:
            status.hardware_id = derainer.backend.info.device
        status.values = [KeyValue(key=key, value=value) for key, value in pairs + snapshot.as_key_values()]
        return status


def _rain_pairs(derainer: Derainer | None, camera: Camera | None) -> list[tuple[str, str]]:
    """The rain gate's state for ``camera``: level, state, derained share and switches (none without a gate)."""
    if camera is None or derainer is None or derainer.gate is None:
        return []
    switches = derainer.gate.stream(camera.name).switches
    return [*camera.rain_key_values(), ("rain gate switches", str(switches))]
