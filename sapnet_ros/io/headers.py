"""The size an encoded image declares, read from its header before anything is decoded.

A 300 KB PNG may declare 10000x10000 pixels: decoding it costs gigabytes, and
under a memory cap OpenCV dies inside the decoder with nothing logged. Every
decoder in the package (the node's compressed input, image files, bag
frames) therefore reads the declared size first and refuses frames over one
pixel limit (the derain option ``max_pixels``).

Read here, without decoding: PNG (IHDR), JPEG (the first SOFn marker, as
libjpeg reads it), WebP (VP8, VP8L and VP8X) and BMP. Every other format
OpenCV could decode (TIFF, PNM, OpenEXR, JPEG 2000, ...) is refused: its size
cannot be checked before decoding.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass
from typing import Literal

import numpy as np

from sapnet_ros.errors import ImageFormatError

# An 8K frame (7680x4320 UHD, 8192x4320 DCI) is 33-35 MP, and a 48-50 MP phone photo should still open;
# decoded, 50 MP are 150 MB of 8-bit BGR (400 MB at 16-bit RGBA), so a frame at the limit cannot exhaust memory.
MAX_PIXELS = 50_000_000
READ_FORMATS = "PNG, JPEG, WebP or BMP"
BytesLike = (
    bytes | bytearray | memoryview | np.ndarray | array
)  # what memoryview() takes: files, rclpy and rosbags messages

_PNG = b"\x89PNG\r\n\x1a\n"
_JPEG = b"\xff\xd8\xff"
# SOF0-3, 5-7, 9-11, 13-15 carry the frame size; C4 (DHT), C8 (JPG) and CC (DAC) do not.
_JPEG_FRAMES = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_JPEG_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})  # TEM, RST0-7: no length field


@dataclass(frozen=True)
class DeclaredSize:
    """What an image header says: format and size in pixels."""

    format: str
    width: int
    height: int

    @property
    def pixels(self) -> int:
        return self.width * self.height


def _int(
    data: memoryview, start: int, length: int, order: Literal["big", "little"] = "big", signed: bool = False
) -> int:
    if len(data) < start + length:
        raise ImageFormatError("header is truncated", problem="undecodable")
    return int.from_bytes(data[start : start + length], order, signed=signed)


def _jpeg(data: memoryview) -> tuple[int, int]:
    """(width, height) of the first frame header, walking the markers as libjpeg does."""
    pos = 2
    while pos < len(data):
        if data[pos] != 0xFF:  # bytes between segments: libjpeg skips them to the next marker
            pos += 1
            continue
        while pos < len(data) and data[pos] == 0xFF:  # fill bytes
            pos += 1
        if pos >= len(data):
            break
        marker = data[pos]
        if marker in _JPEG_STANDALONE:
            pos += 1
            continue
        if marker in (0xD9, 0xDA):  # EOI or SOS before any frame header
            raise ImageFormatError("JPEG has no frame header before its scan", problem="undecodable")
        length = _int(data, pos + 1, 2)
        if marker in _JPEG_FRAMES:
            height, width = _int(data, pos + 4, 2), _int(data, pos + 6, 2)
            if height == 0:
                raise ImageFormatError("JPEG defers its height to a DNL marker (not supported)", problem="undecodable")
            return width, height
        if length < 2:
            raise ImageFormatError(f"JPEG segment length {length} is invalid", problem="undecodable")
        pos += 1 + length
    raise ImageFormatError("JPEG ends before its frame header", problem="undecodable")


def _webp(data: memoryview) -> tuple[int, int]:
    chunk = bytes(data[12:16])
    if chunk == b"VP8 ":  # lossy: key frame tag, start code 9d 01 2a, 14-bit sides
        if bytes(data[23:26]) != b"\x9d\x01\x2a":
            raise ImageFormatError("WebP VP8 frame has no start code", problem="undecodable")
        return _int(data, 26, 2, "little") & 0x3FFF, _int(data, 28, 2, "little") & 0x3FFF
    if chunk == b"VP8L":  # lossless: signature 0x2f, then 14 bits width-1 and 14 bits height-1
        bits = _int(data, 21, 4, "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X":  # extended: 24-bit canvas width-1 and height-1
        return _int(data, 24, 3, "little") + 1, _int(data, 27, 3, "little") + 1
    raise ImageFormatError(f"WebP chunk {chunk!r} is not VP8, VP8L or VP8X", problem="undecodable")


def _bmp(data: memoryview) -> tuple[int, int]:
    if _int(data, 14, 4, "little") == 12:  # BITMAPCOREHEADER: 16-bit sides
        return _int(data, 18, 2, "little"), _int(data, 20, 2, "little")
    height = _int(data, 22, 4, "little", signed=True)  # negative: rows stored top-down
    return _int(data, 18, 4, "little", signed=True), abs(height)


def declared_size(data: BytesLike) -> DeclaredSize:
    """The format and size an encoded image declares, from its first bytes.

    Raises:
        ImageFormatError: a format other than PNG, JPEG, WebP or BMP, or a
            header that is truncated or malformed.
    """
    view = np.frombuffer(data, np.uint8).data  # a byte view, no copy of the payload
    head = bytes(view[:16])
    if head.startswith(_PNG):
        if head[12:16] != b"IHDR":
            raise ImageFormatError("PNG does not start with IHDR", problem="undecodable")
        return DeclaredSize("PNG", _int(view, 16, 4), _int(view, 20, 4))
    if head.startswith(_JPEG):
        return DeclaredSize("JPEG", *_jpeg(view))
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return DeclaredSize("WebP", *_webp(view))
    if head.startswith(b"BM"):
        return DeclaredSize("BMP", *_bmp(view))
    if not head:
        raise ImageFormatError("no data", problem="undecodable")
    raise ImageFormatError(
        f"not {READ_FORMATS} (other formats are refused: their size cannot be checked before decoding)",
        problem="unsupported format",
    )


def check_declared_size(data: BytesLike, max_pixels: int = MAX_PIXELS) -> DeclaredSize:
    """``declared_size``, refused when empty or over ``max_pixels``: call before decoding untrusted data.

    Raises:
        ImageFormatError: as ``declared_size``, or the declared size is empty
            or has more than ``max_pixels`` pixels.
    """
    size = declared_size(data)
    if size.width <= 0 or size.height <= 0:
        raise ImageFormatError(f"{size.format} declares an empty size {size.width}x{size.height}", problem="size")
    if size.pixels > max_pixels:
        raise ImageFormatError(
            f"{size.format} declares {size.width}x{size.height} ({size.pixels / 1e6:.1f} MP), "
            f"over max_pixels {max_pixels}",
            problem="over max_pixels",
        )
    return size
