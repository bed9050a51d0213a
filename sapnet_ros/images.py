"""Image files <-> arrays, with OpenCV: 8/16-bit, grey, colour and alpha, BGR order."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np

from sapnet_ros.derainer import ColorOrder
from sapnet_ros.errors import ImageFormatError, OutputExistsError

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg"})


def read_image(path: Path) -> np.ndarray:
    """Read a PNG/JPEG as stored: (H, W) grey or (H, W, 3|4) BGR(A), uint8 or uint16.

    Raises:
        ImageFormatError: missing, empty, truncated or undecodable file.
    """
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as err:
        raise ImageFormatError(f"{path}: cannot read ({err.strerror})") from err
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if image is None:
        raise ImageFormatError(f"{path}: not a decodable image ({data.size} bytes)")
    return image


def write_png(path: Path, image: np.ndarray) -> None:
    """Write (H, W[, C]) uint8/uint16 BGR(A) as PNG, atomically (temporary name, then rename)."""
    ok, encoded = cv2.imencode(".png", image)
    if not ok:
        raise ImageFormatError(f"{path}: OpenCV could not encode {image.dtype} {image.shape} as PNG")
    write_atomic(path, encoded.tobytes())


def write_atomic(path: Path, data: bytes) -> None:
    """Write a file under a temporary name, then rename it, so readers never see half of it."""
    with atomic_path(path) as temporary:
        temporary.write_bytes(data)


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """``write_atomic`` for writers that take a path (``torch.save``): the name yielded becomes ``path`` at the end."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    yield temporary
    temporary.replace(path)


def colour_view(image: np.ndarray, order: ColorOrder, target: ColorOrder) -> np.ndarray:
    """(H, W) grey or (H, W, 3) colour in ``target`` order of (H, W[, C]) in ``order``; alpha dropped, dtype kept."""
    if image.ndim == 3 and image.shape[2] == 1:
        return image[:, :, 0]
    if image.ndim == 3:
        return image[:, :, 2::-1] if order != target else image[:, :, :3]
    return image


def to_bgr8(image: np.ndarray, order: ColorOrder) -> np.ndarray:
    """Contiguous (H, W) grey or (H, W, 3) BGR uint8 for OpenCV (16-bit keeps its high byte)."""
    bgr = colour_view(image, order, "bgr")
    if bgr.dtype == np.uint16:
        bgr = bgr >> 8
    return np.ascontiguousarray(bgr, dtype=np.uint8)


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
