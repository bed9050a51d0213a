"""Clean photos to lay synthesized rain on: scikit-image's bundled samples (no download).

The rain estimator's training and evaluation, the flicker benchmark and the
tests draw their clean scenes from here.
"""

from __future__ import annotations

import cv2
import numpy as np
from skimage import data

from sapnet_ros.errors import SapnetError


def load_photo(name: str) -> np.ndarray:
    """A scikit-image sample photo as uint8 (H, W, 3) RGB (grey ones repeated, binary ones at 0/255).

    Raises:
        SapnetError: scikit-image has no sample ``name``.
    """
    if not callable(getattr(data, name, None)):
        raise SapnetError(f"scikit-image has no sample photo {name!r}")
    image = getattr(data, name)()
    image = image[0] if isinstance(image, tuple) else image  # stereo_motorcycle: (left, right, disparity)
    if image.dtype == bool:
        image = image.astype(np.uint8) * 255
    elif image.dtype != np.uint8:
        image = np.rint(np.clip(image, 0.0, 1.0) * 255).astype(np.uint8)
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    return np.ascontiguousarray(image[:, :, :3])


def still_scene(name: str, width: int, height: int) -> np.ndarray:
    """Photo ``name`` resized to ``width`` x ``height``: uint8 (height, width, 3) RGB."""
    return cv2.resize(load_photo(name), (width, height), interpolation=cv2.INTER_AREA)
