"""How rainy a frame looks: a tiny CNN on native-resolution grey tiles.

Rain streaks are thin (1-3 px), so they vanish when a frame is shrunk; the
estimator therefore looks at a fixed grid of small tiles cut from the frame at
its own resolution, converts only those to contrast-normalized grey, and runs
a 12 k-parameter CNN on them. Per-tile features (mean and peak response) are
averaged over the tiles and a linear head turns them into one rain level in
[0, 1] (the probability that the frame is rainy).

The network (``rain_training.RainNet``) is trained by
``sapnet-train-rain-estimator`` with the project's rain synthesizer and shipped
as ONNX (``models/rain_estimator.onnx``, tile layout and training figures in
its metadata). It runs on ONNX Runtime's CPU provider with one thread: a
couple of milliseconds a frame, whichever backend derains, and no contention
with the backend's thread pool.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
import onnxruntime as ort

from sapnet_ros import resources
from sapnet_ros.errors import WeightsError
from sapnet_ros.frames import LUMA_BT601, SCALES, ColorOrder, check_image
from sapnet_ros.model.sessions import inference_session

MODEL_FILE = "rain_estimator.onnx"
FORMAT = "sapnet_ros-rain-estimator"
INPUT_NAME = "tiles"
OUTPUT_NAME = "rain_logit"
TILE = 64  # tile side in pixels, at the frame's own resolution
GRID = (3, 4)  # rows, columns of tiles spread evenly over the frame
CONTRAST_FLOOR = 0.02  # added to a tile's standard deviation: flat tiles are not blown up into noise


def tile_origins(height: int, width: int, grid: tuple[int, int] = GRID, tile: int = TILE) -> list[tuple[int, int]]:
    """Top-left corners of ``grid`` tiles spread evenly over a frame (one tile if the frame is smaller)."""
    rows = grid[0] if height > tile else 1
    columns = grid[1] if width > tile else 1
    tops = np.linspace(0, max(height - tile, 0), rows).round().astype(int)
    lefts = np.linspace(0, max(width - tile, 0), columns).round().astype(int)
    return [(int(top), int(left)) for top in tops for left in lefts]


@lru_cache(maxsize=64)
def _cached_origins(height: int, width: int, grid: tuple[int, int], tile: int) -> tuple[tuple[int, int], ...]:
    """``tile_origins`` once per frame size: a camera's frames all share one."""
    return tuple(tile_origins(height, width, grid, tile))


def grey_tiles(image: np.ndarray, order: ColorOrder, grid: tuple[int, int] = GRID, tile: int = TILE) -> np.ndarray:
    """The estimator's input for one frame.

    Args:
        image: (H, W) or (H, W, 1|3|4), uint8 or uint16, colours in ``order``.
        order: "rgb" or "bgr".
        grid: rows and columns of tiles.
        tile: tile side in pixels.

    Returns:
        float32 (K, 1, t, t): BT.601 grey in [0, 1], per tile minus its mean
        and over its standard deviation (+ CONTRAST_FLOOR), so that faint
        streaks at night count like bright ones by day; t = min(tile, H, W).
        Only the tiles are converted, not the frame.
    """
    check_image(image)
    size = min(tile, image.shape[0], image.shape[1])
    weights = LUMA_BT601[::-1] if order == "bgr" else LUMA_BT601
    scale = np.float32(1.0 / SCALES[image.dtype])
    tiles = []
    for top, left in _cached_origins(image.shape[0], image.shape[1], grid, size):
        patch = image[top : top + size, left : left + size]
        if patch.ndim == 3 and patch.shape[2] >= 3:
            grey = patch[:, :, :3].astype(np.float32) @ weights  # (t, t)
        else:
            grey = patch.reshape(size, size).astype(np.float32)
        tiles.append(grey * scale)
    stacked = np.stack(tiles)[:, None]  # (K, 1, t, t)
    centred = stacked - stacked.mean(axis=(2, 3), keepdims=True)
    return centred / (centred.std(axis=(2, 3), keepdims=True) + np.float32(CONTRAST_FLOOR))


class RainEstimator:
    """Rain level in [0, 1] of frames, from the shipped (or a retrained) ONNX ``RainNet``.

    Args:
        model: a ``rain_estimator.onnx``; None: the shipped one.

    Raises:
        WeightsError: missing, unreadable or not the estimator's model.
    """

    def __init__(self, model: Path | None = None) -> None:
        self.path = model or resources.models_dir() / MODEL_FILE
        if not self.path.is_file():
            raise WeightsError(f"{self.path}: rain estimator not found (train it: sapnet-train-rain-estimator)")
        settings = ort.SessionOptions()
        settings.intra_op_num_threads = 1  # a few MFLOP per frame: threads would only wait on each other
        settings.inter_op_num_threads = 1
        self.session = inference_session(self.path, settings)
        self.metadata = dict(self.session.get_modelmeta().custom_metadata_map)
        if self.metadata.get("format") != FORMAT:
            raise WeightsError(f"{self.path}: not a rain estimator (format {self.metadata.get('format')!r})")
        self.tile = int(self.metadata["tile"])
        self.grid = (int(self.metadata["grid_rows"]), int(self.metadata["grid_columns"]))

    def levels(self, images: Sequence[np.ndarray], order: ColorOrder = "rgb") -> list[float]:
        """Rain level of each image ((H, W[, C]) uint8/uint16 in ``order``; sizes may differ)."""
        levels = []
        # One call per frame: tile counts and sizes may differ, and a batch of equal frames rounds
        # differently (levels off by ~1e-6 from the frames' own runs).
        for image in images:
            tiles = grey_tiles(image, order, self.grid, self.tile)[None]  # (1, K, 1, t, t)
            (logit,) = self.session.run([OUTPUT_NAME], {INPUT_NAME: tiles})[0]
            levels.append(float(1.0 / (1.0 + np.exp(-logit))))
        return levels

    def level(self, image: np.ndarray, order: ColorOrder = "rgb") -> float:
        """Rain level of one image in [0, 1]."""
        return self.levels([image], order)[0]
