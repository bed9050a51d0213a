"""No-reference image quality for bags without clean frames: BRISQUE from the ``brisque`` package.

BRISQUE (Mittal, Moorthy and Bovik 2012) fits natural-scene statistics of
locally normalised luminance at two scales and maps them to a distortion score
with an SVR trained on the LIVE database. The package ships that SVR and its
feature scaling inside the wheel, so nothing is downloaded at run time. Lower
is better; absolute values depend on the scene, so compare a rainy frame with
its derained twin (synthetic heavy rain on scikit-image's coffee photo at
320x240: clean 3, rainy 55).

``brisque`` 0.2.0's ``BRISQUE.score`` trips over NumPy 2.4 (it calls
``float`` on one-element arrays), so ``Brisque.score`` runs the same steps
through the package's public feature and SVR methods and hands it plain floats.
"""

from __future__ import annotations

import cv2
import numpy as np
from skimage.color import rgb2gray

from sapnet_ros.frames import SCALES, ColorOrder, colour_view

NAME = "BRISQUE"
KERNEL_SIZE, SIGMA = 7, 7 / 6  # the package's (and the paper's) local normalisation window


def grey(image: np.ndarray, order: ColorOrder) -> np.ndarray:
    """float64 (H, W) luminance in [0, 1] of (H, W[, C]) uint8/uint16, as the package's ``score`` computes it."""
    scaled = colour_view(image.astype(np.float64) / SCALES[image.dtype], order, "rgb")
    return scaled if scaled.ndim == 2 else np.asarray(rgb2gray(scaled))


class Brisque:
    """Scores frames with the BRISQUE model that ships in the ``brisque`` wheel."""

    def __init__(self) -> None:
        from brisque import BRISQUE  # imported here: it pulls in scipy, libsvm and requests

        self._model = BRISQUE(url=False)

    def score(self, image: np.ndarray, order: ColorOrder) -> float:
        """BRISQUE of (H, W[, C]) uint8/uint16 with colours in ``order``; lower is better."""
        luminance = grey(image, order)
        half = cv2.resize(luminance, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_CUBIC)
        features = [
            np.asarray(value, np.float64).item()
            for scale in (luminance, half)
            for value in self._model.calculate_brisque_features(scale, kernel_size=KERNEL_SIZE, sigma=SIGMA)
        ]
        return float(self._model.calculate_image_quality_score(features))
