"""A second, independent rain model: drops in a 3-D volume seen by a camera, not streak texture.

``rain.py`` (the project's synthesizer, Rain100-style) smears random impulses
with a line kernel and screen-blends the result, so its streaks only ever
brighten. Real rain differs in ways an estimator or a calibration tuned on it
never sees; this model draws them from a rough physical picture instead:

- every drop has a depth. Its streak length is the distance it falls during
  the exposure divided by its depth, its width shrinks with depth, and drops
  off the focal plane are defocused (wide, faint) while far ones are dots;
- a drop is a small lens: it shows a bright, blurred picture of the whole
  scene (mostly the sky), blended by its coverage. Against a bright sky a
  streak can be darker than what is behind it;
- falling rain scatters light: a veil (airlight) thickens with distance
  (rows nearer the horizon are farther away), i.e. fog-like accumulation;
- splashes on the ground, drops sitting on the lens (refracting an upside-down
  blurred piece of the scene, with a dark rim), sleet (short, thick, opaque
  and white), wide low-contrast streaks, and night: a dark scene lit by
  headlights, where only drops near a light glow, with the sensor noise of
  high gain.

``STYLES`` names a set of looks; ``apply_style`` lays one over a clean image.
Everything is seeded. Written for evaluation (which rain the estimator and the
int8 calibration were not tuned on) and for varied training data, see
``sets.py`` for which style serves which purpose.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import cv2
import numpy as np

from sapnet_ros.frames import SCALES

DEPTH_SLICES = 4
HEADLIGHT = np.array(
    [1.0, 0.95, 0.8], np.float32
)  # warm white, RGB  # drops are rendered per depth slice: one blur per slice instead of one per drop


@dataclass(frozen=True)
class PhysicalStyle:
    """One look of rain in the physical model (sizes in pixels at a 480-row frame; they scale with the frame).

    Attributes:
        drops: drops per 1000 pixels of the frame in the visible volume.
        fall: streak length of a drop at depth 1 (exposure times speed); a drop at depth z draws fall / z.
        angle: wind, degrees from vertical (positive leans right); spread: its per-drop jitter.
        thickness: streak width of a drop at depth 1; far drops are 1 px.
        opacity: coverage of a drop at depth 1 (far drops cover less).
        focus: depth in focus; drops nearer than it are defocused in proportion.
        fog: extinction of the veil at the farthest rows (0: none).
        splashes: splashes per 1000 pixels of the ground (lower 40 % of the frame).
        lens_drops: drops sitting on the lens.
        sleet: particles are short, thick and opaque white ellipses instead of streaks.
        night: darken the scene and light the rain with headlights.
        noise: sensor noise standard deviation in [0, 1] units.
    """

    drops: float = 2.0
    fall: float = 40.0
    angle: float = 5.0
    spread: float = 3.0
    thickness: float = 2.0
    opacity: float = 0.5
    focus: float = 1.5
    fog: float = 0.0
    splashes: float = 0.0
    lens_drops: int = 0
    sleet: bool = False
    night: bool = False
    noise: float = 0.0


STYLES: dict[str, PhysicalStyle] = {
    "drizzle": PhysicalStyle(drops=12.0, fall=30.0, thickness=1.5, opacity=0.45, focus=1.0),
    "downpour": PhysicalStyle(drops=10.0, fall=120.0, thickness=3.0, opacity=0.7, fog=0.25, splashes=0.6),
    "windy": PhysicalStyle(drops=6.0, fall=110.0, angle=32.0, spread=6.0, thickness=2.0, opacity=0.6),
    "splashing": PhysicalStyle(drops=4.0, fall=80.0, opacity=0.55, splashes=1.5),
    "veiled": PhysicalStyle(drops=4.0, fall=80.0, thickness=2.0, opacity=0.5, fog=0.3),
    "sleet": PhysicalStyle(drops=3.0, fall=18.0, angle=10.0, thickness=5.0, opacity=0.85, sleet=True),
    "wide_faint": PhysicalStyle(drops=3.0, fall=160.0, thickness=9.0, opacity=0.7, focus=4.0),
    "lens": PhysicalStyle(drops=3.0, fall=70.0, opacity=0.5, lens_drops=14),
    "night": PhysicalStyle(drops=6.0, fall=90.0, thickness=2.5, opacity=0.8, night=True, noise=0.03),
}


def _to_unit(clean: np.ndarray) -> np.ndarray:
    """(H, W, 3) float32 RGB in [0, 1] of an (H, W[, C]) uint8/uint16 image."""
    image = clean.astype(np.float32) / np.float32(SCALES[clean.dtype])
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    return np.ascontiguousarray(image[:, :, :3])


def _drop_mask(style: PhysicalStyle, height: int, width: int, scale: float, rng: np.random.Generator) -> np.ndarray:
    """Coverage (H, W) in [0, 1] of the falling drops (sizes times ``scale``), nearest slice defocused most."""
    count = int(style.drops * height * width / 1000.0)
    # Depth in [1, 6], denser far away (a viewing frustum holds more volume there).
    depths = 1.0 + 5.0 * rng.random(count) ** 0.5
    coverage = np.zeros((height, width), np.float32)
    edges = np.linspace(1.0, 6.0, DEPTH_SLICES + 1)
    for near, far in itertools.pairwise(edges):
        chosen = depths[(depths >= near) & (depths < far)]
        depth = (near + far) / 2
        canvas = np.zeros((height, width), np.float32)
        thickness = max(1, round(style.thickness * scale / depth))
        for z in chosen:
            x, y = rng.uniform(-0.1, 1.1) * width, rng.uniform(-0.1, 1.1) * height
            angle = math.radians(style.angle + rng.uniform(-style.spread, style.spread))
            length = style.fall * scale / z * rng.uniform(0.7, 1.3)
            strength = float(style.opacity / z**0.5 * rng.uniform(0.6, 1.0))
            if style.sleet:
                axes = (max(1, round(thickness * 0.7)), max(1, round(length / 2)))
                cv2.ellipse(canvas, (round(x), round(y)), axes, math.degrees(-angle), 0, 360, strength, -1, cv2.LINE_AA)
                continue
            dx, dy = math.sin(angle) * length / 2, math.cos(angle) * length / 2
            start, end = (round(x - dx), round(y - dy)), (round(x + dx), round(y + dy))
            cv2.line(canvas, start, end, strength, thickness, cv2.LINE_AA)
        defocus = max(0.0, style.focus / depth - 1.0) * style.thickness * scale + 0.3
        # A defocused drop spreads its light: wider and fainter, not gone (keep part of the peak).
        canvas = cv2.GaussianBlur(canvas, (0, 0), defocus) * min(3.0, 1.0 + defocus / (2.0 * thickness))
        coverage = 1.0 - (1.0 - coverage) * (1.0 - np.clip(canvas, 0.0, 1.0))
    return coverage


def _drop_radiance(scene: np.ndarray, style: PhysicalStyle, lights: np.ndarray | None) -> np.ndarray:
    """(H, W, 3) colour a drop shows: a bright, blurred average of the scene (its wide field of view)."""
    pixels = scene.reshape(-1, 3)
    average = pixels.mean(axis=0)  # a drop sees ~165 degrees: mostly the scene's average
    sky = np.percentile(pixels, 90, axis=0).astype(np.float32)  # ... weighted towards the bright sky above
    surround = cv2.blur(scene, (31, 31))
    radiance = 0.5 * average + 0.3 * sky + 0.2 * surround
    if style.sleet:
        radiance = np.maximum(radiance, 0.85)  # ice scatters white
    if lights is not None:
        radiance = 0.15 * radiance + lights[:, :, None] * HEADLIGHT
    return np.clip(radiance * 1.1, 0.0, 1.0)


def _headlights(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """(H, W) light in [0, 1.5]: two to four Gaussian glows in the lower half (cars, street lamps)."""
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float32)
    light = np.zeros((height, width), np.float32)
    for _ in range(int(rng.integers(2, 5))):
        cy, cx = rng.uniform(0.45, 0.85) * height, rng.uniform(0.1, 0.9) * width
        radius = rng.uniform(0.08, 0.2) * height
        light += rng.uniform(0.7, 1.5) * np.exp(-((rows - cy) ** 2 + (cols - cx) ** 2) / (2 * radius**2))
    return np.clip(light, 0.0, 1.5)


def _veil(image: np.ndarray, fog: float, airlight: float) -> np.ndarray:
    """Depth-dependent scattering: rows above the lower third are farther, the top row farthest."""
    height = image.shape[0]
    rows = np.linspace(1.0, 0.0, height, dtype=np.float32)  # 1 at the top (far), 0 at the bottom (near)
    depth = np.clip(rows / 0.7, 0.15, 1.0)
    transmission = np.exp(-fog * 3.0 * depth)[:, None, None]
    return image * transmission + airlight * (1.0 - transmission)


def _splashes(image: np.ndarray, style: PhysicalStyle, scale: float, rng: np.random.Generator) -> np.ndarray:
    """Crowns of droplets thrown up where drops hit the ground (the lower 40 % of the frame)."""
    height, width = image.shape[:2]
    canvas = np.zeros((height, width), np.float32)
    for _ in range(int(style.splashes * 0.4 * height * width / 1000.0)):
        x, y = rng.uniform(0, width), rng.uniform(0.6, 1.0) * height
        size = rng.uniform(2.0, 6.0) * scale * (0.5 + (y / height - 0.6) * 2.5)  # nearer ground: bigger
        for spoke in np.linspace(-70, 70, int(rng.integers(3, 7))):
            tip = (round(x + math.sin(math.radians(spoke)) * size), round(y - math.cos(math.radians(spoke)) * size))
            cv2.line(canvas, (round(x), round(y)), tip, float(rng.uniform(0.3, 0.7)), 1, cv2.LINE_AA)
    spray = cv2.GaussianBlur(canvas, (0, 0), 0.6)[:, :, None]
    return image * (1.0 - spray) + np.float32(0.95) * spray


def _lens_drops(image: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """Drops on the lens: each shows a blurred, upside-down piece of the scene, with a darker rim."""
    height, width = image.shape[:2]
    blurred = cv2.GaussianBlur(image, (0, 0), 2.0)
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float32)
    out = image.copy()
    for _ in range(count):
        radius = rng.uniform(0.02, 0.07) * height
        cy, cx = rng.uniform(0, height), rng.uniform(0, width)
        squash = rng.uniform(0.7, 1.0)  # drops run: slightly taller than wide
        distance = np.sqrt(((cols - cx) / squash) ** 2 + (rows - cy) ** 2) / radius
        inside = distance < 1.0
        if not inside.any():
            continue
        # A ball lens: the view through it is inverted and magnified about its centre.
        map_x = np.clip(cx - (cols - cx) * 1.8, 0, width - 1).astype(np.float32)
        map_y = np.clip(cy - (rows - cy) * 1.8, 0, height - 1).astype(np.float32)
        refracted = cv2.remap(blurred, map_x, map_y, cv2.INTER_LINEAR) * 1.08
        rim = np.clip((distance - 0.75) / 0.25, 0.0, 1.0) * 0.45
        alpha = np.clip((1.0 - distance) / 0.12, 0.0, 1.0)[:, :, None]
        drop = refracted * (1.0 - rim[:, :, None])
        out = out * (1.0 - alpha) + drop * alpha
    return out


def render(clean: np.ndarray, style: PhysicalStyle, seed: int = 0, frame_height: int | None = None) -> np.ndarray:
    """Lay physical rain of ``style`` over ``clean``.

    Args:
        clean: (H, W[, C]) uint8 or uint16, RGB (BGR works alike but tints the headlights blue).
        style: the rain's look.
        seed: makes the result reproducible.
        frame_height: rows of the frame ``clean`` is cut from (drop sizes scale with it); None: its own.

    Returns:
        uint8/uint16 (H, W, 3) rainy image in ``clean``'s dtype (grey and alpha inputs become 3 channels).
    """
    rng = np.random.default_rng(seed)
    scene = _to_unit(clean)
    height, width = scene.shape[:2]
    scale = (frame_height or height) / 480.0
    lights = None
    if style.night:
        lights = _headlights(height, width, rng)
        scene = scene**1.6 * 0.25 + (lights[:, :, None] * 0.35) * HEADLIGHT
    coverage = _drop_mask(style, height, width, scale, rng)[:, :, None]
    image = scene * (1.0 - coverage) + _drop_radiance(scene, style, lights) * coverage
    if style.fog > 0:
        image = _veil(image, style.fog, 0.12 if style.night else 0.8)
    if style.splashes > 0:
        image = _splashes(image, style, scale, rng)
    if style.lens_drops:
        image = _lens_drops(image, style.lens_drops, rng)
    if style.noise > 0:
        image = image + rng.normal(0.0, style.noise, image.shape).astype(np.float32)
    scale = SCALES[clean.dtype]
    return np.rint(np.clip(image, 0.0, 1.0) * scale).astype(clean.dtype)


def apply_style(clean: np.ndarray, name: str, seed: int = 0) -> np.ndarray:
    """``render`` with the named style from ``STYLES``.

    Raises:
        ValueError: unknown style name.
    """
    if name not in STYLES:
        raise ValueError(f"unknown physical rain style {name!r}; choose one of: {', '.join(STYLES)}")
    return render(clean, STYLES[name], seed)
