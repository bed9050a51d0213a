"""``sensor_msgs/Image`` and ``CompressedImage`` <-> numpy arrays, without cv_bridge.

The functions read message fields by name (``height``, ``width``, ``encoding``,
``is_bigendian``, ``step``, ``data``; ``format`` for compressed images), so the
same code serves rclpy messages in the node and rosbags messages in the bag
tools. Raw images are viewed in place with ``np.ndarray(buffer=..., strides=...)``
honouring ``step`` (row padding); a copy is made only where the data must
change (byte swapping, debayering, YUV decoding).

Colour handling follows the ROS image encodings:

==============================  ============================  ==================
input encoding                  array handed to the Derainer  output encoding
==============================  ============================  ==================
rgb8 bgr8 rgba8 bgra8 mono8     (H, W[, C]) uint8, as is      same as input
rgb16 bgr16 rgba16 bgra16       (H, W[, C]) uint16, as is     same as input
mono16
bayer_{rggb,bggr,gbrg,grbg}8    debayered (H, W, 3) BGR       bgr8
bayer_{rggb,bggr,gbrg,grbg}16   debayered (H, W, 3) BGR       bgr16
yuv422 (UYVY), yuv422_yuy2      decoded (H, W, 3) BGR         bgr8
==============================  ============================  ==================
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any, Protocol

import cv2
import numpy as np

from sapnet_ros.errors import ImageFormatError
from sapnet_ros.frames import ColorOrder
from sapnet_ros.io.headers import MAX_PIXELS, check_declared_size


@dataclass(frozen=True)
class Encoding:
    """How one ROS encoding maps to arrays.

    Attributes:
        dtype: element type of the message data (before byte order).
        channels: values per pixel in the message.
        order: colour order of the decoded array ("rgb" or "bgr"; grey uses "rgb").
        output: the encoding the derained image is published with.
        decode: OpenCV colour conversion applied on input (bayer, YUV), or None.
    """

    dtype: np.dtype
    channels: int
    order: ColorOrder
    output: str
    decode: int | None = None


def _direct(dtype: type, channels: int, order: ColorOrder, name: str) -> Encoding:
    return Encoding(np.dtype(dtype), channels, order, name)


# OpenCV names Bayer patterns after the second row's first two pixels, hence the shift.
_BAYER = {"rggb": cv2.COLOR_BayerBG2BGR, "bggr": cv2.COLOR_BayerRG2BGR,
          "gbrg": cv2.COLOR_BayerGR2BGR, "grbg": cv2.COLOR_BayerGB2BGR}  # fmt: skip

ENCODINGS: dict[str, Encoding] = {
    "rgb8": _direct(np.uint8, 3, "rgb", "rgb8"),
    "bgr8": _direct(np.uint8, 3, "bgr", "bgr8"),
    "rgba8": _direct(np.uint8, 4, "rgb", "rgba8"),
    "bgra8": _direct(np.uint8, 4, "bgr", "bgra8"),
    "mono8": _direct(np.uint8, 1, "rgb", "mono8"),
    "rgb16": _direct(np.uint16, 3, "rgb", "rgb16"),
    "bgr16": _direct(np.uint16, 3, "bgr", "bgr16"),
    "rgba16": _direct(np.uint16, 4, "rgb", "rgba16"),
    "bgra16": _direct(np.uint16, 4, "bgr", "bgra16"),
    "mono16": _direct(np.uint16, 1, "rgb", "mono16"),
    "yuv422": Encoding(np.dtype(np.uint8), 2, "bgr", "bgr8", cv2.COLOR_YUV2BGR_UYVY),
    "yuv422_yuy2": Encoding(np.dtype(np.uint8), 2, "bgr", "bgr8", cv2.COLOR_YUV2BGR_YUY2),
    **{f"bayer_{p}8": Encoding(np.dtype(np.uint8), 1, "bgr", "bgr8", code) for p, code in _BAYER.items()},
    **{f"bayer_{p}16": Encoding(np.dtype(np.uint16), 1, "bgr", "bgr16", code) for p, code in _BAYER.items()},
}
# Array layout of each output encoding, the inverse of the direct entries above.
OUTPUT_ENCODINGS = {name: enc for name, enc in ENCODINGS.items() if enc.decode is None}


class ImageFields(Protocol):
    """The fields of ``sensor_msgs/Image`` this module reads (rclpy or rosbags)."""

    height: int
    width: int
    encoding: str
    is_bigendian: int | bool
    step: int
    data: Any


class CompressedFields(Protocol):
    """The fields of ``sensor_msgs/CompressedImage`` this module reads."""

    format: str
    data: Any


@dataclass(frozen=True)
class Decoded:
    """A decoded frame: the array, its colour order, and the encoding to answer with."""

    array: np.ndarray
    order: ColorOrder
    output_encoding: str


def lookup(encoding: str) -> Encoding:
    try:
        return ENCODINGS[encoding]
    except KeyError:
        raise ImageFormatError(
            f"unsupported encoding {encoding!r}; supported: {', '.join(sorted(ENCODINGS))}", problem="encoding"
        ) from None


def _check_size(height: int, width: int, max_pixels: int) -> None:
    if height <= 0 or width <= 0:
        raise ImageFormatError(f"empty image size {width}x{height}", problem="size")
    if height * width > max_pixels:
        raise ImageFormatError(
            f"image size {width}x{height} is over max_pixels {max_pixels}", problem="over max_pixels"
        )


def image_to_array(msg: ImageFields, max_pixels: int = MAX_PIXELS) -> Decoded:
    """View (or decode) a ``sensor_msgs/Image`` as an array for the Derainer.

    Args:
        msg: the message (rclpy or rosbags).
        max_pixels: larger frames are refused (the derain option ``max_pixels``).

    Returns:
        Decoded with ``array`` (H, W) or (H, W, C), uint8 or uint16 in native
        byte order; a view of ``msg.data`` when no conversion is needed.

    Raises:
        ImageFormatError: unsupported encoding, empty size or over
            ``max_pixels``, ``step`` shorter than a row, or ``data`` shorter
            than ``step * height``.
    """
    enc = lookup(msg.encoding)
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    _check_size(height, width, max_pixels)
    pixel_bytes = enc.dtype.itemsize * enc.channels
    if step < width * pixel_bytes:
        raise ImageFormatError(
            f"step {step} does not fit {width} px of {msg.encoding} ({width * pixel_bytes} bytes)", problem="step"
        )
    buffer = memoryview(msg.data).cast("B")
    needed = step * (height - 1) + width * pixel_bytes  # the last row's padding may be absent
    if len(buffer) < needed:
        raise ImageFormatError(
            f"data has {len(buffer)} bytes, {msg.encoding} {width}x{height} step {step} needs {needed}",
            problem="truncated data",
        )
    dtype = enc.dtype.newbyteorder(">" if msg.is_bigendian else "<")
    array = np.ndarray(
        (height, width, enc.channels), dtype, buffer, strides=(step, pixel_bytes, enc.dtype.itemsize)
    )  # (H, W, C) view, no copy
    if not dtype.isnative:
        array = array.astype(dtype.newbyteorder("="))
    if enc.channels == 1:
        array = array[:, :, 0]
    if enc.decode is not None:
        array = cv2.cvtColor(np.ascontiguousarray(array), enc.decode)
    return Decoded(array, enc.order, enc.output)


def array_to_image_fields(array: np.ndarray, encoding: str) -> dict[str, Any]:
    """Field values of a ``sensor_msgs/Image`` holding ``array`` in ``encoding``.

    Args:
        array: (H, W) or (H, W, C) in the layout ``encoding`` names (see ENCODINGS).
        encoding: one of OUTPUT_ENCODINGS.

    Returns:
        ``height, width, encoding, is_bigendian, step, data``; ``data`` is a flat
        uint8 view of the array (copied only if the array was not contiguous).
    """
    try:
        enc = OUTPUT_ENCODINGS[encoding]
    except KeyError:
        raise ImageFormatError(f"cannot publish encoding {encoding!r}; use one of {sorted(OUTPUT_ENCODINGS)}") from None
    channels = 1 if array.ndim == 2 else array.shape[2]
    if array.dtype != enc.dtype or channels != enc.channels:
        raise ImageFormatError(f"{array.dtype} array with {channels} channels is not {encoding}")
    contiguous = np.ascontiguousarray(array)
    return {
        "height": contiguous.shape[0],
        "width": contiguous.shape[1],
        "encoding": encoding,
        "is_bigendian": int(sys.byteorder == "big"),
        "step": contiguous.shape[1] * channels * contiguous.dtype.itemsize,
        "data": contiguous.reshape(-1).view(np.uint8),
    }


def compressed_to_array(msg: CompressedFields, max_pixels: int = MAX_PIXELS) -> Decoded:
    """Decode a ``sensor_msgs/CompressedImage`` (JPEG or PNG) into (H, W[, C]) BGR(A) or grey.

    The size the data declares is checked before decoding: a small PNG or JPEG
    may declare gigapixels (an image bomb).

    Raises:
        ImageFormatError: empty, truncated or undecodable data, a format
            whose size cannot be read first, a declared size over
            ``max_pixels``, or a ``compressedDepth`` image (depth is not
            deraining's business).
    """
    if "compressedDepth" in msg.format:
        raise ImageFormatError(f"compressed depth images ({msg.format!r}) are not supported", problem="encoding")
    data = np.frombuffer(msg.data, np.uint8)
    what = f"compressed image ({msg.format!r}, {data.size} bytes)"
    try:
        check_declared_size(data, max_pixels)
    except ImageFormatError as err:
        raise ImageFormatError(f"cannot decode {what}: {err}", problem=err.problem) from None
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if image is None:
        raise ImageFormatError(f"cannot decode {what}", problem="undecodable")
    return Decoded(image, "bgr", compressed_encoding(image))


def compressed_encoding(image: np.ndarray) -> str:
    """The ROS encoding name of an OpenCV-decoded array (grey, BGR or BGRA; 8 or 16 bit)."""
    channels = 1 if image.ndim == 2 else image.shape[2]
    base = {1: "mono", 3: "bgr", 4: "bgra"}[channels]
    return f"{base}{8 * image.dtype.itemsize}"


def array_to_compressed(array: np.ndarray, image_format: str = "jpeg", quality: int = 90) -> tuple[str, bytes]:
    """Encode (H, W[, C]) grey/BGR(A) as ``sensor_msgs/CompressedImage`` ``(format, data)``.

    JPEG has no alpha or 16-bit: such arrays are published as PNG instead.
    """
    if image_format not in ("jpeg", "png"):
        raise ImageFormatError(f"unsupported compressed format {image_format!r}; use jpeg or png")
    encoding = compressed_encoding(array)
    if image_format == "jpeg" and (array.dtype != np.uint8 or encoding.startswith("bgra")):
        image_format = "png"
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if image_format == "jpeg" else [cv2.IMWRITE_PNG_COMPRESSION, 1]
    ok, encoded = cv2.imencode(f".{image_format}", array, params)
    if not ok:
        raise ImageFormatError(f"OpenCV could not encode {array.dtype} {array.shape} as {image_format}")
    return f"{encoding}; {image_format} compressed {encoding}", encoded.tobytes()
