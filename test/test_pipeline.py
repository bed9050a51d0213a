"""One frame's way through the node, without ROS: decode, derain, fill, compress, pair camera_info."""

from __future__ import annotations

import cv2
import numpy as np
from conftest import CountingBackend, tiny_rgb
from sensor_msgs.msg import Image

from sapnet_ros.backends.base import BackendBase
from sapnet_ros.derainer import Derainer
from sapnet_ros.io.bags import compressed_message, header, image_message
from sapnet_ros.io.messages import Decoded, image_to_array
from sapnet_ros.pipeline import DerainedFrame, ImageFiller, compressed_payload, decode, derain_decoded
from sapnet_ros.ros.stamps import StampCache, stamp_of


def test_a_decoded_message_derains_as_the_derainer_does_for_raw_and_compressed(ort_backend: BackendBase) -> None:
    derainer = Derainer(ort_backend)
    rgb = tiny_rgb()
    raw = image_message(rgb, "rgb8", header(1, "cam"))
    frame = derain_decoded(derainer, [decode(raw, compressed=False)], [""])[0]
    assert (frame.order, frame.encoding) == ("rgb", "rgb8") and frame.timing.inference_ms > 0
    np.testing.assert_array_equal(frame.array, derainer.run(rgb, "rgb"))
    png = cv2.imencode(".png", rgb[:, :, ::-1])[1]
    msg = compressed_message("png", png.tobytes(), header(1, "cam"))
    frame = derain_decoded(derainer, [decode(msg, compressed=True)], [""])[0]
    assert (frame.order, frame.encoding) == ("bgr", "bgr8")
    np.testing.assert_array_equal(frame.array, derainer.run(rgb[:, :, ::-1].copy(), "bgr"))


def _frame(array: np.ndarray, encoding: str, order: str = "rgb") -> DerainedFrame:
    return DerainedFrame(array, order, encoding, None)  # type: ignore[arg-type]


def test_filler_reuses_one_buffer_while_the_size_stays() -> None:
    filler, msg = ImageFiller(), Image(check_fields=True)
    filler.fill(msg, _frame(tiny_rgb(seed=1), "rgb8"))
    buffer = msg.data
    second = tiny_rgb(seed=2)
    filler.fill(msg, _frame(second, "rgb8"))
    assert msg.data is buffer  # no new allocation per frame
    np.testing.assert_array_equal(image_to_array(msg).array, second)
    grey16 = np.arange(24 * 31, dtype=np.uint16).reshape(24, 31)
    filler.fill(msg, _frame(grey16, "mono16"))
    assert msg.data is not buffer and (msg.encoding, msg.step) == ("mono16", 62)
    np.testing.assert_array_equal(image_to_array(msg).array, grey16)


def test_compressed_payload_is_bgr_png_or_jpeg() -> None:
    rgb = tiny_rgb()
    image_format, data = compressed_payload(_frame(rgb, "rgb8"), "png", 90)
    assert image_format == "bgr8; png compressed bgr8"
    np.testing.assert_array_equal(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED), rgb[:, :, ::-1])
    smooth = cv2.resize(rgb, (310, 240), interpolation=cv2.INTER_CUBIC)  # JPEG is for photos, not noise
    image_format, data = compressed_payload(_frame(smooth, "rgb8"), "jpeg", 95)
    decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert "jpeg" in image_format and np.abs(decoded.astype(int) - smooth[:, :, ::-1]).mean() < 3
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 7, np.uint8)])
    image_format, data = compressed_payload(_frame(rgba, "rgba8"), "jpeg", 90)
    decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    assert "png" in image_format and (decoded[:, :, 3] == 7).all()  # alpha forces PNG


def test_stamp_cache_pairs_by_stamp_and_forgets_the_oldest() -> None:
    cache: StampCache[str] = StampCache(size=2)
    for sec in (1, 2, 3):
        cache.add((sec, 0), f"info {sec}")
    assert cache.get((1, 0)) is None and cache.get((2, 0)) == "info 2" and cache.latest() == "info 3"
    assert stamp_of(header(5_000_000_007, "cam")) == (5, 7)
    cache.clear()
    assert cache.latest() is None


def test_frames_of_several_cameras_share_one_call_per_size_and_order(ort_backend: BackendBase) -> None:
    counting = CountingBackend(ort_backend)
    derainer = Derainer(counting)  # type: ignore[arg-type]
    frames = [
        Decoded(tiny_rgb(seed=0), "rgb", "rgb8"),
        Decoded(tiny_rgb(16, 20, seed=1), "rgb", "rgb8"),
        Decoded(tiny_rgb(seed=2)[:, :, 0], "rgb", "mono8"),  # grey joins the colour frames of its size
        Decoded(tiny_rgb(seed=3), "bgr", "bgr8"),
        Decoded(np.dstack([tiny_rgb(seed=4), tiny_rgb(seed=5)[:, :, 0]]), "rgb", "rgba8"),
    ]
    results = derain_decoded(derainer, frames, ["a", "b", "c", "d", "e"])
    assert sorted(counting.batches) == [1, 1, 3]  # (24, 31, rgb) x3, (16, 20, rgb), (24, 31, bgr)
    for frame, result in zip(frames, results, strict=True):
        assert result.encoding == frame.output_encoding and result.rain is None
        single = Derainer(ort_backend).run(frame.array, frame.order)
        np.testing.assert_array_equal(result.array, single)  # batching changes no pixel
