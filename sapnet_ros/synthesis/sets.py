"""Which scenes and rain train or calibrate, and which evaluate: disjoint by photo, texture seed, style and generator.

Whatever is trained (the rain estimator) or calibrated (int8 ranges) is
scored only on what it never saw, so that a figure cannot be tuned to by
accident:

- clean scenes: scikit-image photos split by photo (``TRAIN_PHOTOS`` /
  ``EVAL_PHOTOS``), each cropped at several places and scales, plus the
  procedural dry textures that look like rain (``textures.py``) with disjoint
  seeds (training below ``EVAL_SEED``, evaluation from it);
- rain: the project's synthesizer (``rain.py``) and the physical model's
  ``TRAIN_PHYSICAL`` styles train and calibrate; the physical model's
  ``EVAL_PHYSICAL`` styles (another generator's looks: wind, veil, wide faint
  streaks, lens drops, night) and real rainy photos only evaluate. The
  project's rain on the evaluation scenes is a set too: seen rain, unseen
  scenes;
- real rainy photos (no ground truth): the 147 real photos shipped in the
  SAPNet authors' repository (``scripts/fetch_generalisation_data.py``), under
  ``$SAPNET_DATA`` (default ``~/.cache/sapnet_ros/data``); odd-numbered ones
  choose the estimator's operating point ("real-select"), even-numbered ones
  only report ("real-test"). Sets whose data is absent are skipped.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np

from sapnet_ros.io.images import collect_images, read_image
from sapnet_ros.synthesis import physical, textures
from sapnet_ros.synthesis.photos import load_photo
from sapnet_ros.synthesis.rain import HEAVY, LIGHT, RainSynthesizer, styled

TRAIN_PHOTOS = ("astronaut", "camera", "stereo_motorcycle", "hubble_deep_field", "retina", "coins", "brick", "grass",
                "moon", "page", "text", "clock", "cell", "immunohistochemistry", "colorwheel", "logo", "horse",
                "checkerboard", "microaneurysms", "shepp_logan_phantom")  # fmt: skip
EVAL_PHOTOS = ("coffee", "rocket", "chelsea", "gravel")
TRAIN_PHYSICAL = ("drizzle", "downpour", "splashing", "sleet")
EVAL_PHYSICAL = ("windy", "veiled", "wide_faint", "lens", "night")
EVAL_SEED = 1000  # texture and rain seeds from here on are evaluation's
CROPS = ((0.5, 0.5, 1.0), (0.2, 0.3, 0.6), (0.8, 0.7, 0.45))  # (centre row, centre column, share of the photo)
VALIDATION_CROPS = ((0.3, 0.7, 0.75), (0.7, 0.25, 0.5), (0.5, 0.5, 0.35))  # other places: the operating point's
VALIDATION_SEED = EVAL_SEED + 500
EVAL_SIZE = (240, 320)  # (height, width) of the evaluation frames
REAL_FOLDER = "sapnet_real_input"
PROJECT_EVAL_STYLES = {
    "lightest": styled("light", density=0.002),
    "light": LIGHT,
    "heavy": HEAVY,
    "heavy slanted": styled("heavy", angle=-25.0),
}


@dataclass(frozen=True)
class Frame:
    """One evaluation frame.

    Attributes:
        name: scene and rain, e.g. "coffee@1/windy".
        image: uint8 (H, W, 3) RGB, what the camera sees.
        clean: the scene without rain (ground truth), or None where unknown (real photos).
        rainy: whether it rains in the frame (the estimator's label).
    """

    name: str
    image: np.ndarray
    clean: np.ndarray | None
    rainy: bool


@dataclass(frozen=True)
class EvalSet:
    """Frames of one generator (or origin) and style, for evaluation only."""

    name: str
    source: str
    frames: tuple[Frame, ...]

    @property
    def paired(self) -> bool:
        """Whether every frame has its ground truth (quality against it can be measured)."""
        return all(frame.clean is not None for frame in self.frames)


def data_dir() -> Path:
    """Where fetched evaluation data lives: ``$SAPNET_DATA`` or ``~/.cache/sapnet_ros/data`` (never the repo)."""
    return Path(os.environ.get("SAPNET_DATA", Path.home() / ".cache" / "sapnet_ros" / "data"))


def crop(photo: np.ndarray, centre_row: float, centre_column: float, share: float, size: tuple[int, int]) -> np.ndarray:
    """A crop of ``photo`` with the aspect of ``size`` (height, width), covering ``share`` of the photo, resized."""
    height, width = size
    rows, cols = photo.shape[:2]
    keep_rows = min(rows, round(cols * height / width)) * share
    keep_cols = keep_rows * width / height
    top = int(np.clip(centre_row * rows - keep_rows / 2, 0, rows - keep_rows))
    left = int(np.clip(centre_column * cols - keep_cols / 2, 0, cols - keep_cols))
    piece = photo[top : top + round(keep_rows), left : left + round(keep_cols)]
    interpolation = cv2.INTER_AREA if piece.shape[0] > height else cv2.INTER_CUBIC
    return np.ascontiguousarray(cv2.resize(piece, (width, height), interpolation=interpolation))


def clean_scenes(
    split: str, size: tuple[int, int] = EVAL_SIZE, textures_per_kind: int = 1
) -> list[tuple[str, np.ndarray]]:
    """(name, uint8 RGB) dry scenes of ``split``: photo crops, then textures.

    "train": the training photos and texture seeds; "eval": the evaluation photos and seeds;
    "validation": the evaluation photos at other places and other texture seeds (dry frames
    for choosing an operating point without touching the evaluation frames).

    Raises:
        ValueError: unknown split.
    """
    if split not in ("train", "eval", "validation"):
        raise ValueError(f"split must be 'train', 'eval' or 'validation', got {split!r}")
    photos = TRAIN_PHOTOS if split == "train" else EVAL_PHOTOS
    first_seed = {"train": 0, "eval": EVAL_SEED, "validation": VALIDATION_SEED}[split]
    places = VALIDATION_CROPS if split == "validation" else CROPS
    scenes = []
    for photo_name in photos:
        photo = load_photo(photo_name)
        scenes += [(f"{photo_name}@{index}", crop(photo, *place, size)) for index, place in enumerate(places)]
    for kind in textures.TEXTURES:
        for seed in range(first_seed, first_seed + textures_per_kind):
            scenes.append((f"{kind}#{seed}", textures.dry_texture(kind, *size, seed=seed)))
    return scenes


def jittered(name: str, rng: np.random.Generator) -> physical.PhysicalStyle:
    """A physical style varied at random around the named one (for training: many looks of one style)."""
    style = physical.STYLES[name]
    return replace(
        style,
        drops=style.drops * float(np.exp(rng.uniform(np.log(0.25), np.log(2.0)))),
        fall=style.fall * float(rng.uniform(0.5, 1.5)),
        angle=float(rng.uniform(-30.0, 30.0)),
        opacity=min(1.0, style.opacity * float(rng.uniform(0.5, 1.3))),
        fog=style.fog * float(rng.uniform(0.0, 1.5)),
    )


def _synthetic_sets(scenes: list[tuple[str, np.ndarray]]) -> list[EvalSet]:
    """The dry set, the project's rain and each held-out physical style, all over the evaluation scenes."""
    sets = [EvalSet("dry", "evaluation scenes without rain", tuple(Frame(n, s, s, False) for n, s in scenes))]
    project = []
    for index, (scene_name, scene) in enumerate(scenes):
        style_name = list(PROJECT_EVAL_STYLES)[index % len(PROJECT_EVAL_STYLES)]
        rainy = RainSynthesizer(PROJECT_EVAL_STYLES[style_name], seed=EVAL_SEED + index).apply(scene)
        project.append(Frame(f"{scene_name}/{style_name}", rainy, scene, True))
    sets.append(EvalSet("project", "rain.py (seen generator, unseen scenes)", tuple(project)))
    for style_name in EVAL_PHYSICAL:
        frames = tuple(
            Frame(f"{scene_name}/{style_name}", physical.apply_style(scene, style_name, EVAL_SEED + index), scene, True)
            for index, (scene_name, scene) in enumerate(scenes)
        )
        sets.append(EvalSet(f"physical/{style_name}", "physical.py, held-out style", frames))
    return sets


def real_sets(folder: Path | None = None, longest: int = 640) -> list[EvalSet]:
    """The real rainy photos (no ground truth) split into "real-select" and "real-test"; [] if not fetched.

    Photos are shrunk to at most ``longest`` pixels on their longer side (the shipped ones are up to 1000+).
    """
    folder = folder or data_dir() / REAL_FOLDER
    paths = collect_images([folder]) if folder.is_dir() else []
    select: list[Frame] = []
    test: list[Frame] = []
    for path in sorted(paths, key=lambda p: (len(p.stem), p.stem)):
        stored = read_image(path)
        image = np.dstack([stored] * 3) if stored.ndim == 2 else stored[:, :, 2::-1]  # files are BGR(A) or grey
        factor = longest / max(image.shape[:2])
        if factor < 1:
            image = cv2.resize(image, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
        frame = Frame(f"real/{path.stem}", np.ascontiguousarray(image), None, True)
        (select if path.stem[-1:] in "13579" else test).append(frame)
    if not paths:
        return []
    source = f"real rainy photos ({folder})"
    return [EvalSet("real-select", source, tuple(select)), EvalSet("real-test", source, tuple(test))]


def evaluation_sets(size: tuple[int, int] = EVAL_SIZE, with_real: bool = True) -> list[EvalSet]:
    """Every evaluation set: dry, project rain and held-out physical styles over unseen scenes, real photos."""
    sets = _synthetic_sets(clean_scenes("eval", size))
    return sets + (real_sets() if with_real else [])
