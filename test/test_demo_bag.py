"""The shipped demo bag: a short rainy camera sequence with matching camera_info, small enough to ship."""

from __future__ import annotations

import numpy as np

from sapnet_ros import resources
from sapnet_ros.io.bags import CAMERA_INFO, connections_for, open_bag, stamp_ns, topics
from sapnet_ros.io.messages import image_to_array


def test_demo_bag_is_a_small_rainy_camera_sequence() -> None:
    bag = resources.demo_bag()
    assert sum(f.stat().st_size for f in bag.iterdir()) < 5_000_000
    with open_bag(bag) as reader:
        assert topics(reader) == {"/camera/image_raw": "sensor_msgs/msg/Image", "/camera/camera_info": CAMERA_INFO}
        image_connections = connections_for(reader, "/camera/image_raw")
        info_connections = connections_for(reader, "/camera/camera_info", (CAMERA_INFO,))
        images = [reader.deserialize(raw, c.msgtype) for c, _, raw in reader.messages(connections=image_connections)]
        infos = [reader.deserialize(raw, c.msgtype) for c, _, raw in reader.messages(connections=info_connections)]
    assert len(images) >= 12 and {m.encoding for m in images} == {"rgb8"}
    assert [stamp_ns(m) for m in infos] == [stamp_ns(m) for m in images]
    assert {(m.width, m.height) for m in images} == {(i.width, i.height) for i in infos} == {(320, 240)}
    periods = np.diff([stamp_ns(m) for m in images]) / 1e9
    assert np.allclose(periods, periods[0]) and 2 <= 1 / periods[0] <= 10  # a few Hz
    frames = [image_to_array(m).array.astype(np.float32) for m in images]
    assert np.abs(frames[1] - frames[0]).mean() > 5  # rain and view move between frames
    bright = [(f.min(axis=2) > 200).mean() for f in frames]  # streaks: near-white pixels
    assert min(bright) > 0.01
