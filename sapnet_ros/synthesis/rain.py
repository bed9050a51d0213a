"""Rain synthesis: turns clean images into rainy ones, for training pairs, tests and demos.

Streaks are made the way Rain100-style data sets are: sparse random impulses
smeared by a line kernel (length, angle, width), softened by a Gaussian blur,
in several layers of different depth; the layers are screen-blended onto the
image, and an optional haze veil lowers contrast as heavy rain does. Everything
is seeded. A ``RainSynthesizer`` keeps its streak field between frames and
moves it along the fall direction, so a sequence of a still scene gets moving
rain, as a camera sees it.

This lives outside ``training/`` because the node demo, the bag evaluation
and the benchmark synthesize rain too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import cv2
import numpy as np

from sapnet_ros.frames import SCALES


@dataclass(frozen=True)
class RainStyle:
    """Parameters of one rain appearance; defaults resemble Rain100H's heavy rain.

    Attributes:
        density: streak seeds per pixel, per layer.
        length: streak length range in pixels (each layer takes a value in it).
        angle: fall direction in degrees from vertical (positive leans right).
        angle_jitter: per-layer random change of ``angle``, degrees.
        width: streak thickness in pixels.
        blur: Gaussian sigma softening the streaks, pixels.
        brightness: peak streak intensity in [0, 1].
        haze: weight of the bright veil of heavy rain in [0, 1).
        layers: streak layers (depths), each with its own length and density.
        speed: streak motion per frame in pixels, for sequences.
    """

    density: float = 0.01
    length: tuple[int, int] = (15, 35)
    angle: float = 8.0
    angle_jitter: float = 4.0
    width: int = 1
    blur: float = 0.7
    brightness: float = 0.85
    haze: float = 0.12
    layers: int = 3
    speed: float = 24.0

    def __post_init__(self) -> None:
        checks = {
            "density": 0 <= self.density <= 0.2,
            "length": 1 <= self.length[0] <= self.length[1],
            "width": self.width >= 1,
            "blur": self.blur >= 0,
            "brightness": 0 <= self.brightness <= 1,
            "haze": 0 <= self.haze < 1,
            "layers": self.layers >= 1,
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f"invalid rain style values: {', '.join(f'{n}={getattr(self, n)!r}' for n in bad)}")


LIGHT = RainStyle(density=0.004, length=(8, 20), brightness=0.6, haze=0.03, layers=2)
HEAVY = RainStyle()
STYLES = {"light": LIGHT, "heavy": HEAVY}
# A rain that nothing is trained on (sapnet-distill draws its rains between LIGHT and HEAVY, leaning right):
# streaks leaning the other way, twice as thick, longer and hazier. Quality figures name it "held-out".
HELD_OUT = RainStyle(density=0.006, length=(25, 50), angle=-25.0, width=2, blur=1.2, brightness=0.8, haze=0.2)
HAZE_LEVEL = 0.85  # brightness of the veil that heavy rain lays over a scene


def _line_kernel(length: int, angle_deg: float, width: int) -> np.ndarray:
    """A normalized motion-blur kernel: a line of ``length`` px at ``angle_deg`` from vertical."""
    size = length + 2 * width + 1
    kernel = np.zeros((size, size), np.float32)
    centre = size / 2
    dx = math.sin(math.radians(angle_deg)) * length / 2
    dy = math.cos(math.radians(angle_deg)) * length / 2
    start = (round(centre - dx), round(centre - dy))
    end = (round(centre + dx), round(centre + dy))
    cv2.line(kernel, start, end, 1.0, thickness=width, lineType=cv2.LINE_AA)
    return kernel / max(float(kernel.max()), 1e-6)


class RainSynthesizer:
    """Adds seeded, optionally moving rain to images of any size.

    Args:
        style: the rain's appearance.
        seed: makes every frame reproducible.
    """

    def __init__(self, style: RainStyle = HEAVY, seed: int = 0) -> None:
        self.style = style
        self.seed = seed
        self._fields: dict[tuple[int, int], np.ndarray] = {}

    def rain_layer(self, height: int, width: int, frame: int = 0) -> np.ndarray:
        """The rain intensity of ``frame``: float32 (H, W) in [0, 1]."""
        field = self._fields.get((height, width))
        if field is None:
            field = self._fields[(height, width)] = self._make_field(height, width)
        shift_y = frame * self.style.speed * math.cos(math.radians(self.style.angle))
        shift_x = frame * self.style.speed * math.sin(math.radians(self.style.angle))
        top = round(shift_y) % height  # the field is 2H x 2W and periodic in each direction
        left = round(shift_x) % width
        return field[height - top : 2 * height - top, width - left : 2 * width - left]

    def _make_field(self, height: int, width: int) -> np.ndarray:
        """Streak layers on a periodic 2H x 2W canvas, so that moving crops never run out."""
        style = self.style
        rng = np.random.default_rng(self.seed)
        total = np.zeros((2 * height, 2 * width), np.float32)
        for layer in range(style.layers):
            depth = 1.0 - layer / (style.layers + 1)  # nearer layers: longer, brighter, sparser
            tile = (rng.random((height, width)) < style.density * (0.6 + 0.8 * layer / style.layers)).astype(np.float32)
            tile *= rng.uniform(0.5, 1.0, tile.shape).astype(np.float32)
            seeds = np.tile(tile, (3, 3))  # filtered with a full tile of context on every side
            length = round(style.length[0] + (style.length[1] - style.length[0]) * depth)
            angle = style.angle + rng.uniform(-style.angle_jitter, style.angle_jitter)
            streaks = cv2.filter2D(seeds, -1, _line_kernel(length, angle, style.width))
            if style.blur > 0:
                streaks = cv2.GaussianBlur(streaks, (0, 0), style.blur)
            total = np.maximum(total, streaks[height : 3 * height, width : 3 * width] * depth)
        return np.clip(total * style.brightness / max(float(total.max()), 1e-6), 0.0, 1.0)

    def apply(self, clean: np.ndarray, frame: int = 0) -> np.ndarray:
        """Add rain to ``clean``: (H, W[, C]) uint8 or uint16, any colour order; returns the same layout."""
        return composite(clean, self.rain_layer(clean.shape[0], clean.shape[1], frame), self.style.haze)


def composite(clean: np.ndarray, rain: np.ndarray, haze: float = 0.0) -> np.ndarray:
    """Lay a rain layer over an image.

    Args:
        clean: (H, W[, C]) uint8 or uint16, any colour order; alpha keeps its value.
        rain: float32 (H, W) streak intensity in [0, 1] (``RainSynthesizer.rain_layer``).
        haze: weight of the bright veil of heavy rain in [0, 1).

    Returns:
        The rainy image, in ``clean``'s layout.
    """
    scale = SCALES[clean.dtype]
    image = clean.astype(np.float32) / np.float32(scale)
    colour = image[..., :3] if clean.ndim == 3 else image
    if clean.ndim == 3:
        rain = rain[:, :, None]
    hazy = colour * (1 - haze) + haze * HAZE_LEVEL
    rainy = 1.0 - (1.0 - hazy) * (1.0 - rain)  # screen blend: streaks brighten, never darken
    if clean.ndim == 3:
        image[..., :3] = rainy
    else:
        image = rainy
    return np.rint(np.clip(image, 0.0, 1.0) * scale).astype(clean.dtype)


def add_rain(clean: np.ndarray, style: RainStyle = HEAVY, seed: int = 0, frame: int = 0) -> np.ndarray:
    """One-shot ``RainSynthesizer(style, seed).apply(clean, frame)``."""
    return RainSynthesizer(style, seed).apply(clean, frame)


def styled(name: str, **overrides: float) -> RainStyle:
    """A named style (``light`` or ``heavy``) with some fields replaced."""
    if name not in STYLES:
        raise ValueError(f"unknown rain style {name!r}; choose one of: {', '.join(STYLES)}")
    return replace(STYLES[name], **overrides)  # type: ignore[arg-type]


# Clean scikit-image photos (shipped with the package, no download) for paired rainy/clean tests.
# Quality is measured on EVALUATION_PHOTOS; int8 calibration uses only the others.
EVALUATION_PHOTOS = ("coffee", "astronaut")
CALIBRATION_PHOTOS = ("chelsea", "rocket", "camera", "brick", "grass", "gravel", "clock", "coins", "moon")


def clean_photo(name: str, height: int, width: int) -> np.ndarray:
    """scikit-image's photo ``name`` as uint8 (height, width, 3) RGB: centre-cropped to the aspect, then resized.

    Raises:
        ValueError: unknown photo, or scikit-image is not installed.
    """
    try:
        from sapnet_ros.synthesis.photos import load_photo  # scikit-image only where photos are asked for
    except ImportError as err:
        raise ValueError(f"clean photos need scikit-image ({err}); pip install scikit-image") from err
    if name not in EVALUATION_PHOTOS + CALIBRATION_PHOTOS:
        raise ValueError(f"unknown photo {name!r}; choose one of: {', '.join(EVALUATION_PHOTOS + CALIBRATION_PHOTOS)}")
    photo = load_photo(name)
    rows, cols = photo.shape[:2]
    keep_rows, keep_cols = min(rows, round(cols * height / width)), min(cols, round(rows * width / height))
    top, left = (rows - keep_rows) // 2, (cols - keep_cols) // 2
    cropped = photo[top : top + keep_rows, left : left + keep_cols]
    interpolation = cv2.INTER_AREA if keep_rows > height else cv2.INTER_CUBIC
    return np.ascontiguousarray(cv2.resize(cropped, (width, height), interpolation=interpolation))


def photo_pairs(
    height: int, width: int, photos: tuple[str, ...] = EVALUATION_PHOTOS, seed: int = 77
) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(label, rainy, clean) uint8 (H, W, 3) RGB pairs: every photo with light and with heavy rain."""
    pairs = []
    for photo in photos:
        clean = clean_photo(photo, height, width)
        for offset, (style_name, style) in enumerate(STYLES.items()):
            pairs.append((f"{photo}/{style_name}", add_rain(clean, style, seed=seed + offset), clean))
    return pairs
