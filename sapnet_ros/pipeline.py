"""What the node does with one frame, without ROS: message -> Derainer -> message fields.

    sensor_msgs Image / CompressedImage (rclpy or rosbags)
      -> io.messages.image_to_array / compressed_to_array
      -> Derainer.run_batch (same shape, dtype and colour order; frames of
         several cameras with equal size and colour order share one call)
      -> Image fields (a reused buffer) and, optionally, CompressedImage bytes

The node runs every frame through these functions; the plumbing benchmark
times the same ``ImageFiller`` and ``compressed_payload``, and the bag
evaluation encodes with ``compressed_payload`` too, so a derained frame leaves
the same way wherever it was made.
"""

from __future__ import annotations

import array
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from sapnet_ros.derainer import Derainer, FrameTiming
from sapnet_ros.frames import ColorOrder
from sapnet_ros.gate.rain_gate import GateDecision
from sapnet_ros.io.headers import MAX_PIXELS
from sapnet_ros.io.messages import (
    CompressedFields,
    Decoded,
    ImageFields,
    array_to_compressed,
    array_to_image_fields,
    compressed_to_array,
    image_to_array,
)


@dataclass(frozen=True)
class DerainedFrame:
    """One derained frame, ready to publish.

    Attributes:
        array: (H, W) or (H, W, C), uint8 or uint16, channels in ``order``.
        order: "rgb" or "bgr" (grey frames say "rgb").
        encoding: the ROS encoding to publish ``array`` with.
        timing: where the Derainer spent its time on the call that made this
            frame (shared by the frames batched with it).
        rain: what the rain gate did with the frame (None: no gate).
    """

    array: np.ndarray
    order: ColorOrder
    encoding: str
    timing: FrameTiming
    rain: GateDecision | None = None


def decode(msg: ImageFields | CompressedFields, compressed: bool, max_pixels: int = MAX_PIXELS) -> Decoded:
    """The array of ``msg`` with its colour order and output encoding.

    Args:
        msg: a ``sensor_msgs/Image`` or, with ``compressed``, ``CompressedImage``.
        compressed: which of the two ``msg`` is.
        max_pixels: frames larger than this are refused; compressed ones
            before decoding, from the size their header declares.

    Raises:
        ImageFormatError: the message cannot be decoded (encoding, size, step,
            truncated or undecodable data, over ``max_pixels``).
    """
    if compressed:
        return compressed_to_array(msg, max_pixels)  # type: ignore[arg-type]
    return image_to_array(msg, max_pixels)  # type: ignore[arg-type]


def derain_decoded(derainer: Derainer, frames: Sequence[Decoded], streams: Sequence[Hashable]) -> list[DerainedFrame]:
    """Derain frames of several streams (cameras), one backend call per group of equal size and colour order.

    Args:
        derainer: the shared frame path (with or without a rain gate).
        frames: decoded frames, at most one per stream for a gated Derainer
            (each advances its stream's gate once).
        streams: the stream of each frame (the gate's key).

    Returns:
        One DerainedFrame per input, in input order.
    """
    groups: dict[tuple[int, int, ColorOrder], list[int]] = {}
    for index, frame in enumerate(frames):
        groups.setdefault((*frame.array.shape[:2], frame.order), []).append(index)
    results: dict[int, DerainedFrame] = {}
    for (_, _, order), members in groups.items():
        batch = derainer.run_batch([frames[i].array for i in members], order, [streams[i] for i in members])
        decisions: Sequence[GateDecision | None] = batch.gates or [None] * len(members)
        for index, derained, decision in zip(members, batch.images, decisions, strict=True):
            encoding = frames[index].output_encoding
            results[index] = DerainedFrame(derained, order, encoding, batch.timing, decision)
    return [results[index] for index in range(len(frames))]


class ImageFiller:
    """Fills ``sensor_msgs/Image`` messages, reusing one data buffer while the frame size stays.

    rclpy converts a numpy array or memoryview given as message data element
    by element, but takes an ``array.array('B')`` as it is: by reference in a
    message built with ``check_fields=True``, else by one memcpy. ``publish``
    serializes before it returns, so one buffer can carry every frame.
    """

    def __init__(self) -> None:
        self._buffer = array.array("B")

    def fill(self, msg: Any, frame: DerainedFrame) -> None:
        """Set ``height, width, encoding, is_bigendian, step, data`` of ``msg`` from ``frame``."""
        fields = array_to_image_fields(frame.array, frame.encoding)
        data: np.ndarray = fields.pop("data")  # flat uint8 view of the frame
        if len(self._buffer) != data.size:
            self._buffer = array.array("B", bytes(data.size))
        np.copyto(np.frombuffer(self._buffer, np.uint8), data)
        for name, value in fields.items():
            setattr(msg, name, value)
        msg.data = self._buffer


_TO_BGR = {3: cv2.COLOR_RGB2BGR, 4: cv2.COLOR_RGBA2BGRA}


def compressed_payload(frame: DerainedFrame, image_format: str, quality: int) -> tuple[str, bytes]:
    """``CompressedImage`` ``(format, data)`` of ``frame`` (JPEG falls back to PNG for 16-bit or alpha)."""
    image = frame.array
    channels = 1 if image.ndim == 2 else image.shape[2]
    if frame.order == "rgb" and channels in _TO_BGR:
        image = cv2.cvtColor(image, _TO_BGR[channels])  # OpenCV encoders expect BGR(A)
    return array_to_compressed(image, image_format, quality)
