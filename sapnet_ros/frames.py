"""Pixels: colour orders, value scales, luma, checks, array <-> network layout, blending.

The leaf of the package: everything imports it and it imports nothing of the
project except ``errors``. Arrays are (H, W) or (H, W, 1|3|4), uint8 or
uint16, with a named colour order; network tensors are float32 (3, H, W) RGB
in [0, 1].
"""

from __future__ import annotations

from typing import Literal

import cv2
import numpy as np

from sapnet_ros.errors import ImageFormatError

ColorOrder = Literal["rgb", "bgr"]
COLOR_ORDERS: tuple[ColorOrder, ...] = ("rgb", "bgr")
LUMA_BT601 = np.array([0.299, 0.587, 0.114], dtype=np.float32)  # R, G, B weights
SCALES = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}


def check_image(image: np.ndarray) -> None:
    """Raise ImageFormatError unless ``image`` is (H, W) or (H, W, 1|3|4), uint8 or uint16, non-empty."""
    if image.dtype not in SCALES:
        raise ImageFormatError(f"unsupported pixel type {image.dtype}; expected uint8 or uint16")
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (1, 3, 4)):
        raise ImageFormatError(f"unsupported image shape {image.shape}; expected (H, W) or (H, W, 1|3|4)")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ImageFormatError(f"empty image {image.shape}")


def to_network(image: np.ndarray, order: ColorOrder = "rgb") -> np.ndarray:
    """Convert one image to the network's input layout.

    Args:
        image: (H, W) or (H, W, 1|3|4), uint8 [0, 255] or uint16 [0, 65535];
            colour channels in ``order`` (alpha, if any, is ignored).
        order: "rgb" or "bgr".

    Returns:
        float32 (3, H, W), RGB in [0, 1].
    """
    check_image(image)
    scale = np.float32(1.0 / SCALES[image.dtype])
    if image.ndim == 2 or image.shape[2] == 1:
        grey = image.reshape(image.shape[0], image.shape[1]) * scale  # (H, W)
        return np.broadcast_to(grey, (3, *grey.shape)).copy()
    colour = image[:, :, 2::-1] if order == "bgr" else image[:, :, :3]  # (H, W, 3) RGB view
    network = np.ascontiguousarray(colour.transpose(2, 0, 1), dtype=np.float32)  # a new array: the input is integer
    network *= scale  # in place: one float32 frame allocated, not two
    return network


def from_network(rgb: np.ndarray, like: np.ndarray, order: ColorOrder = "rgb") -> np.ndarray:
    """Convert one network output back to the layout, dtype and colour order of ``like``.

    Args:
        rgb: float32 (3, H, W), RGB, nominally [0, 1] (clipped here).
        like: the input image the output replaces; its alpha is passed through,
            and a grey input gets the BT.601 luma of ``rgb``.
        order: colour order of ``like``.

    Returns:
        Array of ``like``'s shape and dtype, rounded to the nearest level.
    """
    full_scale = SCALES[like.dtype]
    if like.ndim == 2 or like.shape[2] == 1:
        grey = np.tensordot(LUMA_BT601, rgb, axes=1)  # (H, W)
        return _quantize(grey, full_scale, like.dtype).reshape(like.shape)
    channels = rgb[::-1] if order == "bgr" else rgb
    out = np.empty_like(like)
    out[:, :, :3] = _quantize(channels.transpose(1, 2, 0), full_scale, like.dtype)
    if like.shape[2] == 4:
        out[:, :, 3] = like[:, :, 3]
    return out


def _quantize(values: np.ndarray, full_scale: float, dtype: np.dtype) -> np.ndarray:
    scaled = np.clip(values, 0.0, 1.0) * np.float32(full_scale)
    return np.rint(scaled).astype(dtype)


def blend(passed: np.ndarray, derained: np.ndarray, weight: float) -> np.ndarray:
    """``weight`` in [0, 1] of ``derained`` over ``passed`` (same shape and dtype, uint8/uint16), rounded."""
    if weight >= 1.0:
        return derained
    if weight <= 0.0:
        return passed.copy()
    mixed = passed.astype(np.float32) + np.float32(weight) * (derained.astype(np.float32) - passed)
    return np.rint(mixed).astype(passed.dtype)


def resize_chw(tensor: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize float32 (C, H, W) with area averaging down and bicubic up."""
    shrinking = height * width < tensor.shape[1] * tensor.shape[2]
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC
    resized = cv2.resize(tensor.transpose(1, 2, 0), (width, height), interpolation=interpolation)
    return np.ascontiguousarray(resized.transpose(2, 0, 1))


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
