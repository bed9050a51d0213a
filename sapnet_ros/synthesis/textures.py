"""Dry scenes that look like rain to a streak detector: gravel, foliage, brick, fences, road markings, night noise.

A rain estimator that has only seen rain over smooth photos learns "many
thin bright lines" and opens the gate on a lawn or a fence. These procedural
scenes (seeded; no download) are dry negatives for training and for measuring
false alarms; training and evaluation use disjoint seeds (``sets.py``).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import cv2
import numpy as np


def _gravel(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """Pebbles: many small overlapping ellipses of random grey-brown shades, with shading noise."""
    image = np.full((height, width, 3), rng.uniform(60, 120), np.float32)
    for _ in range(height * width // 60):
        centre = (int(rng.integers(width)), int(rng.integers(height)))
        axes = (int(rng.integers(2, 9)), int(rng.integers(2, 9)))
        shade = rng.uniform(50, 200)
        colour = (shade * rng.uniform(0.9, 1.1), shade, shade * rng.uniform(0.8, 1.0))
        cv2.ellipse(image, centre, axes, float(rng.uniform(0, 180)), 0, 360, colour, -1, cv2.LINE_AA)
    return image + rng.normal(0, 8, image.shape).astype(np.float32)


def _foliage(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """Grass: thin, mostly upright blades, light on dark green, like rain streaks in shape."""
    image = np.zeros((height, width, 3), np.float32) + np.array([30, 60, 25], np.float32)
    for _ in range(height * width // 40):
        x, y = rng.uniform(0, width), rng.uniform(0, height)
        angle = math.radians(rng.normal(0, 15))
        length = rng.uniform(6, 30)
        tip = (round(x + math.sin(angle) * length), round(y - math.cos(angle) * length))
        green = rng.uniform(60, 200)
        colour = (green * rng.uniform(0.4, 0.8), green, green * rng.uniform(0.2, 0.5))
        cv2.line(image, (round(x), round(y)), tip, colour, int(rng.integers(1, 3)), cv2.LINE_AA)
    return image


def _brick(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """A brick wall: staggered courses, light mortar lines, per-brick colour and grain."""
    mortar = rng.uniform(150, 210)
    image = np.full((height, width, 3), mortar, np.float32)
    course, length = int(rng.integers(10, 24)), int(rng.integers(30, 60))
    for row, top in enumerate(range(0, height, course)):
        offset = (row % 2) * length // 2
        for left in range(-offset, width, length):
            red = rng.uniform(90, 170)
            colour = (red, red * rng.uniform(0.35, 0.55), red * rng.uniform(0.25, 0.4))
            cv2.rectangle(image, (left + 1, top + 1), (left + length - 2, top + course - 2), colour, -1)
    return image + rng.normal(0, 10, image.shape).astype(np.float32)


def _fence(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """A wire or picket fence: regular thin bright lines (vertical, slanted or a diamond mesh) on a dim scene."""
    background = cv2.resize(rng.uniform(40, 140, (4, 5, 3)).astype(np.float32), (width, height))
    wires = np.zeros((height, width), np.float32)
    spacing = int(rng.integers(8, 24))
    angles = [rng.uniform(-10, 10)] if rng.random() < 0.5 else [45.0, -45.0]
    for angle in angles:
        dx = math.tan(math.radians(angle)) * height
        for x in range(-abs(int(dx)) - spacing, width + abs(int(dx)) + spacing, spacing):
            cv2.line(wires, (x, 0), (round(x + dx), height), 1.0, int(rng.integers(1, 3)), cv2.LINE_AA)
    shade = rng.uniform(150, 240)
    return background * (1 - wires[:, :, None]) + shade * wires[:, :, None]


def _road(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """Asphalt with dashed lane markings converging to a vanishing point, and grainy tar."""
    image = np.full((height, width, 3), rng.uniform(50, 100), np.float32)
    image += rng.normal(0, 12, (height, width, 1)).astype(np.float32)
    vanish = (rng.uniform(0.3, 0.7) * width, rng.uniform(-0.2, 0.2) * height)
    for base in np.linspace(-0.3, 1.3, int(rng.integers(3, 7))) * width:
        dash = rng.uniform(0.04, 0.12)
        for start in np.arange(0.0, 1.0, 2 * dash):
            points = [(vanish[0] + (base - vanish[0]) * t, vanish[1] + (height - vanish[1]) * t)
                      for t in (start, min(start + dash, 1.0))]  # fmt: skip
            width_px = max(1, round(1 + 5 * start))
            cv2.line(image, tuple(round(v) for v in points[0]), tuple(round(v) for v in points[1]),
                     (230, 230, 220), width_px, cv2.LINE_AA)  # fmt: skip
    return image


def _night_noise(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """A dark street at high sensor gain: dim gradients, a few lamps, strong noise and hot pixels."""
    image = cv2.resize(rng.uniform(5, 40, (3, 4, 3)).astype(np.float32), (width, height))
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float32)
    for _ in range(int(rng.integers(1, 4))):
        cy, cx, radius = rng.uniform(0, height), rng.uniform(0, width), rng.uniform(3, 20)
        image += 220 * np.exp(-((rows - cy) ** 2 + (cols - cx) ** 2) / (2 * radius**2))[:, :, None]
    image += np.asarray(rng.normal(0, rng.uniform(6, 16), image.shape), np.float32)
    hot = rng.random((height, width)) < 0.001
    image[hot] = 255
    return image


TEXTURES: dict[str, Callable[[int, int, np.random.Generator], np.ndarray]] = {
    "gravel": _gravel,
    "foliage": _foliage,
    "brick": _brick,
    "fence": _fence,
    "road": _road,
    "night_noise": _night_noise,
}


def dry_texture(name: str, height: int, width: int, seed: int = 0) -> np.ndarray:
    """The procedural dry scene ``name`` as uint8 (height, width, 3) RGB.

    Raises:
        ValueError: unknown texture name.
    """
    if name not in TEXTURES:
        raise ValueError(f"unknown texture {name!r}; choose one of: {', '.join(TEXTURES)}")
    image = TEXTURES[name](height, width, np.random.default_rng(seed))
    return np.rint(np.clip(image, 0, 255)).astype(np.uint8)
