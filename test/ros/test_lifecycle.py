"""derain_node managed through the real lifecycle services: load, serve, stop, free, reload."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import cv2
import numpy as np
import pytest
from conftest import tiny_rgb
from lifecycle_msgs.msg import State, Transition
from lifecycle_msgs.srv import ChangeState, GetState
from rcl_interfaces.msg import Log
from rclpy.parameter import Parameter
from ros_graph import Graph, image_msg, wait_for
from sensor_msgs.msg import CompressedImage, Image

from sapnet_ros.backends.base import BackendBase
from sapnet_ros.derainer import Derainer
from sapnet_ros.io.messages import compressed_to_array, image_to_array
from sapnet_ros.ros.node import DerainNode

NS = "/managed"


class Managed:
    def __init__(self) -> None:
        self.graph = Graph()
        overrides = [Parameter("managed", value=True), Parameter("backend", value="onnxruntime")]
        self.node = DerainNode(context=self.graph.context, namespace=NS, parameter_overrides=overrides)
        self.graph.add(self.node)
        probe = self.graph.probe
        self._change = probe.create_client(ChangeState, f"{NS}/derain/change_state")
        self._get = probe.create_client(GetState, f"{NS}/derain/get_state")
        assert self._change.wait_for_service(30) and self._get.wait_for_service(30)
        self.images = self.graph.publisher(Image, f"{NS}/image")
        self.compressed = self.graph.publisher(CompressedImage, f"{NS}/image/compressed")
        self.derained = self.graph.inbox(Image, f"{NS}/image_derained")
        self.rosout = self.graph.inbox(Log, "/rosout", depth=1000)

    def state(self) -> int:
        future = self._get.call_async(GetState.Request())
        assert wait_for(future.done, 30)
        return future.result().current_state.id

    def transition(self, transition: int) -> bool:
        future = self._change.call_async(ChangeState.Request(transition=Transition(id=transition)))
        assert wait_for(future.done, 120)
        return future.result().success


@pytest.fixture(scope="module")
def managed() -> Iterator[Managed]:
    harness = Managed()
    yield harness
    harness.graph.close()


def frame(sec: int) -> Image:
    return image_msg(tiny_rgb(24, 32, seed=sec), "rgb8", sec)


def test_transitions_load_serve_stop_free_and_reload(managed: Managed, node_backend: BackendBase) -> None:
    node = managed.node
    assert managed.state() == State.PRIMARY_STATE_UNCONFIGURED
    assert node.derainer is None and managed.images.get_subscription_count() == 0

    assert managed.transition(Transition.TRANSITION_CONFIGURE)
    assert managed.state() == State.PRIMARY_STATE_INACTIVE
    assert node.derainer is not None and node.derainer.backend.info.name == "onnxruntime"
    backend = weakref.ref(node.derainer.backend)
    assert managed.images.get_subscription_count() == 0  # loaded, not yet listening

    assert managed.transition(Transition.TRANSITION_ACTIVATE)
    assert wait_for(lambda: managed.images.get_subscription_count() == 1)
    managed.images.publish(frame(1))
    managed.derained.with_stamp(1)
    refused = node.set_parameters([Parameter("input_transport", value="compressed")])[0]
    assert not refused.successful and "read at configure" in refused.reason

    assert managed.transition(Transition.TRANSITION_DEACTIVATE)
    assert wait_for(lambda: managed.images.get_subscription_count() == 0)
    managed.images.publish(frame(2))
    assert not wait_for(lambda: any(m.header.stamp.sec == 2 for m in managed.derained.snapshot()), timeout=1.0)

    assert managed.transition(Transition.TRANSITION_CLEANUP)
    assert managed.state() == State.PRIMARY_STATE_UNCONFIGURED
    gc.collect()
    assert node.derainer is None and backend() is None  # the model is freed, not just unreferenced by the node

    # reload with other parameters: compressed input this time
    assert node.set_parameters([Parameter("input_transport", value="compressed")])[0].successful
    assert managed.transition(Transition.TRANSITION_CONFIGURE)
    assert managed.transition(Transition.TRANSITION_ACTIVATE)
    assert wait_for(lambda: managed.compressed.get_subscription_count() == 1)
    rgb = image_to_array(frame(3)).array
    png = cv2.imencode(".png", rgb[:, :, ::-1])[1]
    sent = CompressedImage(format="png", data=png.tobytes())
    sent.header.stamp.sec = 3
    managed.compressed.publish(sent)
    out = managed.derained.with_stamp(3)
    assert out.encoding == "bgr8"
    expected = Derainer(node_backend).run(compressed_to_array(sent).array, "bgr")
    np.testing.assert_array_equal(image_to_array(out).array, expected)


def test_undecodable_compressed_frames_are_dropped_with_a_warning(managed: Managed) -> None:
    assert managed.state() == State.PRIMARY_STATE_ACTIVE  # left so by the test above
    for sec, data in ((10, b"not a jpeg at all"), (11, b"")):
        invalid = managed.node.stats.snapshot(0.0).invalid
        broken = CompressedImage(format="jpeg", data=data)
        broken.header.stamp.sec = sec
        managed.compressed.publish(broken)
        assert wait_for(lambda invalid=invalid: managed.node.stats.snapshot(0.0).invalid == invalid + 1)
    warnings = [m.msg for m in managed.rosout.snapshot() if m.level == Log.WARN]
    assert any(f"{NS}/image/compressed: dropped frame: cannot decode compressed image" in w for w in warnings)
    jpeg = cv2.imencode(".jpg", np.full((24, 32, 3), 90, np.uint8))[1]
    valid = CompressedImage(format="jpeg", data=jpeg.tobytes())
    valid.header.stamp.sec = 12
    managed.compressed.publish(valid)
    managed.derained.with_stamp(12)


def test_configure_fails_cleanly_on_missing_weights(managed: Managed) -> None:
    assert managed.transition(Transition.TRANSITION_DEACTIVATE)
    assert managed.transition(Transition.TRANSITION_CLEANUP)
    assert managed.node.set_parameters([Parameter("backend", value="torch")])[0].successful
    broken = managed.node.set_parameters([Parameter("weights", value=str(__file__))])[0]
    assert broken.successful  # the file exists, but it is no weights file
    assert not managed.transition(Transition.TRANSITION_CONFIGURE)
    assert managed.state() == State.PRIMARY_STATE_UNCONFIGURED and managed.node.derainer is None
    errors = [m.msg for m in managed.rosout.snapshot() if m.level == Log.ERROR]
    assert any("configure failed: cannot load backend 'torch'" in e for e in errors), errors
