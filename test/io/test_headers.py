"""Declared image sizes read from headers, against what OpenCV decodes; bombs refused before decoding."""

from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import tiny_rgb
from image_bombs import jpeg_bomb, png_bomb

from sapnet_ros.errors import ImageFormatError
from sapnet_ros.io.headers import MAX_PIXELS, check_declared_size, declared_size
from sapnet_ros.io.images import read_image

ENCODED = {  # suffix -> OpenCV write parameters (lossless WebP takes the VP8L path, quality < 100 VP8)
    ".png": [],
    ".jpg": [],
    ".webp": [cv2.IMWRITE_WEBP_QUALITY, 80],
    ".bmp": [],
}


@pytest.mark.parametrize("suffix", ENCODED)
@pytest.mark.parametrize("shape", [(24, 31, 3), (7, 5), (24, 31, 4)], ids=["bgr", "grey", "bgra"])
def test_declared_size_is_what_opencv_decodes(suffix: str, shape: tuple[int, ...]) -> None:
    image = tiny_rgb(24, 31)[: shape[0], : shape[1]]
    image = image[:, :, 0] if len(shape) == 2 else np.dstack([image, image[:, :, :1]])[:, :, : shape[2]]
    ok, encoded = cv2.imencode(suffix, np.ascontiguousarray(image), ENCODED[suffix])
    assert ok
    decoded = cv2.imdecode(encoded, cv2.IMREAD_UNCHANGED)
    size = declared_size(encoded.tobytes())
    assert (size.height, size.width) == decoded.shape[:2] == shape[:2]


def test_lossless_webp_and_a_top_down_bmp_are_read() -> None:
    lossless = cv2.imencode(".webp", tiny_rgb(9, 13), [cv2.IMWRITE_WEBP_QUALITY, 101])[1].tobytes()
    assert lossless[12:16] == b"VP8L" and (declared_size(lossless).width, declared_size(lossless).height) == (13, 9)
    bmp = bytearray(cv2.imencode(".bmp", tiny_rgb(9, 13))[1].tobytes())
    bmp[22:26] = (-9).to_bytes(4, "little", signed=True)  # rows stored top-down
    assert (declared_size(bytes(bmp)).width, declared_size(bytes(bmp)).height) == (13, 9)


def test_a_jpeg_with_large_metadata_before_its_frame_header_is_read() -> None:
    jpeg = cv2.imencode(".jpg", tiny_rgb(9, 13))[1].tobytes()
    comment = b"\xff\xfe" + (65535).to_bytes(2, "big") + bytes(65533)  # a full COM segment, twice
    assert declared_size(jpeg[:2] + comment + comment + jpeg[2:]).width == 13


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "no data"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "PNG does not start with IHDR"),
        (png_bomb(8, 8)[:20], "header is truncated"),
        (jpeg_bomb(16, 16)[:30], "JPEG ends before its frame header"),
        (b"\xff\xd8\xff\xda\x00\x02", "no frame header before its scan"),
        (jpeg_bomb(16, 0), "DNL marker"),
        (cv2.imencode(".tiff", tiny_rgb())[1].tobytes(), "not PNG, JPEG, WebP or BMP"),
        (b"P6\n100000 100000\n255\n", "their size cannot be checked before decoding"),
    ],
    ids=["empty", "png-no-ihdr", "png-truncated", "jpeg-truncated", "jpeg-sos-first", "jpeg-dnl", "tiff", "pnm"],
)
def test_unreadable_headers_are_refused(data: bytes, message: str) -> None:
    with pytest.raises(ImageFormatError, match=message):
        declared_size(data)


def test_bombs_are_refused_before_decoding() -> None:
    assert MAX_PIXELS > 7680 * 4320  # an 8K frame passes by default
    png = png_bomb(10_000, 10_000)
    assert len(png) < 400_000  # what the attacker sent: 312 KB
    with pytest.raises(ImageFormatError, match=r"PNG declares 10000x10000 \(100.0 MP\), over max_pixels") as err:
        check_declared_size(png)
    assert err.value.problem == "over max_pixels"
    with pytest.raises(ImageFormatError, match="JPEG declares 30000x30000"):
        check_declared_size(jpeg_bomb(30_000, 30_000))
    assert check_declared_size(png, max_pixels=100_000_000).pixels == 100_000_000  # a raised limit lets it in
    with pytest.raises(ImageFormatError, match="over max_pixels 100"):
        check_declared_size(png_bomb(11, 10), max_pixels=100)


def test_read_image_refuses_a_bomb_file_with_one_line(tmp_path: Path) -> None:
    path = tmp_path / "bomb.png"
    path.write_bytes(png_bomb(100_000, 100_000, rows=4))
    with pytest.raises(ImageFormatError) as err:
        read_image(path)
    assert str(err.value).startswith(f"{path}: not a decodable image (") and "100000x100000" in str(err.value)
    assert "\n" not in str(err.value)
    small = tmp_path / "small.png"
    small.write_bytes(png_bomb(40, 30))
    assert read_image(small).shape == (30, 40)
    with pytest.raises(ImageFormatError, match="over max_pixels 1000"):
        read_image(small, max_pixels=1000)
