"""Our message conversions against rosbags-image, an independent implementation."""

import sys

import cv2
import numpy as np
import pytest
from conftest import tiny_rgb
from rosbags.image import compressed_image_to_cvimage, image_to_cvimage
from rosbags.typesys import Stores, get_typestore

from sapnet_ros.errors import ImageFormatError
from sapnet_ros.io.messages import (
    ENCODINGS,
    array_to_compressed,
    array_to_image_fields,
    compressed_to_array,
    image_to_array,
)

STORE = get_typestore(Stores.LATEST)
Image = STORE.types["sensor_msgs/msg/Image"]
CompressedImage = STORE.types["sensor_msgs/msg/CompressedImage"]
Header = STORE.types["std_msgs/msg/Header"]
Time = STORE.types["builtin_interfaces/msg/Time"]
HEADER = Header(stamp=Time(sec=1, nanosec=2), frame_id="camera")
LITTLE = sys.byteorder == "little"


def _raw(encoding: str, height: int = 6, width: int = 8, seed: int = 0, pad: int = 0, big: bool = False) -> Image:
    enc = ENCODINGS[encoding]
    row = width * enc.channels * enc.dtype.itemsize
    values = np.random.default_rng(seed).integers(
        0, 256 if enc.dtype.itemsize == 1 else 65536, (height, row // enc.dtype.itemsize)
    )
    body = values.astype(enc.dtype.newbyteorder(">" if big else "<")).view(np.uint8).reshape(height, row)
    data = np.concatenate([body, np.full((height, pad), 0xAB, np.uint8)], axis=1).ravel()
    return Image(
        header=HEADER, height=height, width=width, encoding=encoding, is_bigendian=int(big), step=row + pad, data=data
    )


@pytest.mark.parametrize("encoding", sorted(ENCODINGS))
def test_matches_rosbags_image(encoding: str) -> None:
    msg = _raw(encoding)
    decoded = image_to_array(msg)
    target = decoded.output_encoding if ENCODINGS[encoding].decode is not None else encoding
    np.testing.assert_array_equal(decoded.array, image_to_cvimage(msg, target))


@pytest.mark.parametrize("encoding", ["rgb8", "mono16", "bgra8", "bayer_rggb8", "yuv422"])
def test_row_padding_is_honoured(encoding: str) -> None:
    padded, packed = _raw(encoding, pad=12), _raw(encoding)
    np.testing.assert_array_equal(image_to_array(padded).array, image_to_array(packed).array)


def test_direct_encodings_are_views_without_copy() -> None:
    msg = _raw("bgr8", pad=4)
    array = image_to_array(msg).array
    assert not array.flags.owndata and np.shares_memory(array, msg.data)


@pytest.mark.parametrize("encoding", ["mono16", "rgb16"])
def test_big_endian_is_swapped(encoding: str) -> None:
    little, big = _raw(encoding, big=False), _raw(encoding, big=True)
    np.testing.assert_array_equal(image_to_array(little).array, image_to_array(big).array)
    assert image_to_array(big).array.dtype.isnative


@pytest.mark.parametrize("encoding", ["rgb8", "bgra8", "mono8", "rgb16", "mono16", "bgr16"])
def test_array_to_fields_round_trips(encoding: str) -> None:
    decoded = image_to_array(_raw(encoding, pad=3))
    fields = array_to_image_fields(decoded.array, decoded.output_encoding)
    msg = Image(header=HEADER, **{**fields, "data": np.frombuffer(fields["data"], np.uint8)})
    assert msg.step == msg.width * ENCODINGS[encoding].channels * ENCODINGS[encoding].dtype.itemsize
    assert msg.is_bigendian == int(not LITTLE)
    np.testing.assert_array_equal(image_to_array(msg).array, decoded.array)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"encoding": "32FC1"}, "unsupported encoding '32FC1'"),
        ({"width": 0}, "empty image size 0x6"),
        ({"height": 10_000_000}, "image size 8x10000000 is over max_pixels 50000000"),
        ({"step": 5}, "step 5 does not fit 8 px of rgb8"),
        ({"data": np.zeros(10, np.uint8)}, "data has 10 bytes, rgb8 8x6 step 24 needs 144"),
    ],
)
def test_malformed_images_are_refused(change: dict[str, object], message: str) -> None:
    msg = _raw("rgb8")
    for key, value in change.items():
        setattr(msg, key, value)
    with pytest.raises(ImageFormatError, match=message):
        image_to_array(msg)


@pytest.mark.parametrize("image", [tiny_rgb(), tiny_rgb()[:, :, 0]], ids=["bgr", "grey"])
def test_compressed_matches_rosbags_image(image: np.ndarray) -> None:
    image_format, data = array_to_compressed(image, "png")
    msg = CompressedImage(header=HEADER, format=image_format, data=np.frombuffer(data, np.uint8))
    decoded = compressed_to_array(msg)
    np.testing.assert_array_equal(decoded.array, image)
    np.testing.assert_array_equal(decoded.array, compressed_image_to_cvimage(msg))


def test_jpeg_falls_back_to_png_for_alpha_and_16_bit() -> None:
    assert array_to_compressed(np.dstack([tiny_rgb(), tiny_rgb()[:, :, :1]]))[0] == "bgra8; png compressed bgra8"
    assert array_to_compressed(tiny_rgb().astype(np.uint16))[0] == "bgr16; png compressed bgr16"
    assert array_to_compressed(tiny_rgb())[0] == "bgr8; jpeg compressed bgr8"


@pytest.mark.parametrize(
    ("image_format", "data", "message"),
    [
        ("jpeg", b"", "cannot decode compressed image \\('jpeg', 0 bytes\\)"),
        ("jpeg", cv2.imencode(".jpg", tiny_rgb())[1].tobytes()[:30], "cannot decode"),
        ("16UC1; compressedDepth png", b"\x00" * 20, "compressed depth images"),
    ],
)
def test_bad_compressed_data_is_refused(image_format: str, data: bytes, message: str) -> None:
    msg = CompressedImage(header=HEADER, format=image_format, data=np.frombuffer(data, np.uint8))
    with pytest.raises(ImageFormatError, match=message):
        compressed_to_array(msg)
