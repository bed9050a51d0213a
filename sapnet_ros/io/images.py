"""Image files <-> arrays, with OpenCV: 8/16-bit, grey, colour and alpha, BGR order."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import cv2
import numpy as np

from sapnet_ros.errors import ImageFormatError, OutputExistsError
from sapnet_ros.io.atomic import write_atomic
from sapnet_ros.io.headers import MAX_PIXELS, check_declared_size

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg"})


def read_image(path: Path, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Read a PNG/JPEG as stored: (H, W) grey or (H, W, 3|4) BGR(A), uint8 or uint16.

    The size the file declares is checked before decoding (see ``io.headers``).

    Raises:
        ImageFormatError: missing, empty, truncated or undecodable file, a
            format whose size cannot be read first, or a declared size over
            ``max_pixels``.
    """
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as err:
        raise ImageFormatError(f"{path}: cannot read ({err.strerror})", problem="unreadable") from err
    try:
        check_declared_size(data, max_pixels)
    except ImageFormatError as err:
        raise ImageFormatError(
            f"{path}: not a decodable image ({data.size} bytes): {err}", problem=err.problem
        ) from None
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if image is None:
        raise ImageFormatError(f"{path}: not a decodable image ({data.size} bytes)", problem="undecodable")
    return image


def write_png(path: Path, image: np.ndarray) -> None:
    """Write (H, W[, C]) uint8/uint16 BGR(A) as PNG, atomically (temporary name, then rename)."""
    ok, encoded = cv2.imencode(".png", image)
    if not ok:
        raise ImageFormatError(f"{path}: OpenCV could not encode {image.dtype} {image.shape} as PNG")
    write_atomic(path, encoded.tobytes())


def collect_images(inputs: Iterable[Path]) -> list[Path]:
    """Expand files and folders (recursively) into a sorted list of PNG/JPEG paths.

    Files named explicitly are kept whatever their suffix, so that a bad one is
    reported rather than silently ignored.
    """
    found: list[Path] = []
    for item in inputs:
        if item.is_dir():
            found.extend(sorted(p for p in item.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()))
        else:
            found.append(item)
    return found


def output_paths(inputs: list[Path], output_dir: Path, suffix: str = ".png") -> dict[Path, Path]:
    """Map each input to ``output_dir/<stem><suffix>``.

    Raises:
        OutputExistsError: an output would overwrite an input, or two inputs share a stem.
    """
    mapping: dict[Path, Path] = {}
    owners: dict[Path, Path] = {}
    sources = {path.resolve() for path in inputs}
    for path in inputs:
        target = output_dir / f"{path.stem}{suffix}"
        if target.resolve() in sources:
            raise OutputExistsError(f"{target}: output would overwrite an input; choose another --output")
        if target in owners and owners[target] != path:
            raise OutputExistsError(f"{owners[target]} and {path} would both be written to {target}")
        owners[target] = path
        mapping[path] = target
    return mapping
