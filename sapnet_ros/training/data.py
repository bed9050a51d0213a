"""Paired rainy/clean data: the common deraining layouts, start-up checks, random crops.

Three layouts are recognized, in this order:

==========================  =================================================
``input/`` + ``target/``    same stem in both (what ``sapnet-make-pairs`` writes)
``rainy/`` + ``norain/``    Rain100H/L test sets: ``rain-N`` and ``norain-N``
``rain-N`` + ``norain-N``   RainTrainH/L: both kinds of file in one folder
==========================  =================================================

Pairing is checked before anything trains: a file without its partner, an
unreadable file, or a pair whose images differ in size, channels or bit
depth is listed in one ``DataError`` rather than skipped.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from sapnet_ros.errors import DataError, ImageFormatError
from sapnet_ros.frames import to_network
from sapnet_ros.io.images import IMAGE_SUFFIXES, read_image

LOG = logging.getLogger(__name__)

FOLDER_LAYOUTS = (("input", "target"), ("rainy", "norain"), ("rain", "norain"))
RAINY_PREFIX = "rain-"
CLEAN_PREFIX = "norain-"
SHOWN_PROBLEMS = 20


@dataclass(frozen=True)
class Pair:
    """A rainy image and its clean ground truth."""

    name: str
    rainy: Path
    clean: Path


def _natural_key(text: str) -> list[int | str]:
    """Sort ``rain-2`` before ``rain-10``."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


def _report(root: Path, problems: list[str]) -> str:
    shown = "\n".join(f"  - {problem}" for problem in problems[:SHOWN_PROBLEMS])
    more = f"\n  ... and {len(problems) - SHOWN_PROBLEMS} more" if len(problems) > SHOWN_PROBLEMS else ""
    return f"{root}: {len(problems)} problem{'s' if len(problems) > 1 else ''} with the paired data:\n{shown}{more}"


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def _keyed(paths: Iterable[Path], prefix: str, problems: list[str]) -> dict[str, Path]:
    """Map each file to its pairing key: the stem without ``prefix``."""
    keyed: dict[str, Path] = {}
    for path in paths:
        key = path.stem.removeprefix(prefix)
        if key in keyed:
            problems.append(f"{path} and {keyed[key]} both claim pair {key!r}")
        keyed[key] = path
    return keyed


def _match(root: Path, rainy: dict[str, Path], clean: dict[str, Path], problems: list[str]) -> list[Pair]:
    problems += [f"{path}: no clean partner" for key, path in rainy.items() if key not in clean]
    problems += [f"{path}: no rainy partner" for key, path in clean.items() if key not in rainy]
    if problems:
        raise DataError(_report(root, problems))
    if not rainy:
        raise DataError(f"{root}: no image pairs found")
    return [Pair(key, rainy[key], clean[key]) for key in sorted(rainy, key=_natural_key)]


def find_pairs(root: Path) -> list[Pair]:
    """Pair the images of ``root`` in whichever layout it uses (see the module docstring).

    Raises:
        DataError: no known layout, or files without a partner (all of them listed).
    """
    if not root.is_dir():
        raise DataError(f"{root}: not a folder")
    problems: list[str] = []
    for rainy_dir, clean_dir in FOLDER_LAYOUTS:
        if (root / rainy_dir).is_dir() and (root / clean_dir).is_dir():
            rainy = _keyed(_images(root / rainy_dir), RAINY_PREFIX, problems)
            clean = _keyed(_images(root / clean_dir), CLEAN_PREFIX, problems)
            return _match(root, rainy, clean, problems)
    files = _images(root)
    rainy_files = [p for p in files if p.stem.startswith(RAINY_PREFIX)]
    clean_files = [p for p in files if p.stem.startswith(CLEAN_PREFIX)]
    if not rainy_files and not clean_files:
        raise DataError(
            f"{root}: no paired layout found; expected input/ + target/, rainy/ + norain/, "
            "or rain-N.png + norain-N.png files"
        )
    others = len(files) - len(rainy_files) - len(clean_files)
    if others:
        LOG.info("%s: ignoring %d images that are neither rain-* nor norain-* (e.g. rainstreak-*)", root, others)
    rainy = _keyed(rainy_files, RAINY_PREFIX, problems)
    clean = _keyed(clean_files, CLEAN_PREFIX, problems)
    return _match(root, rainy, clean, problems)


def _pair_problems(pair: Pair, min_side: int) -> list[str]:
    images = []
    problems = []
    for path in (pair.rainy, pair.clean):
        try:
            images.append(read_image(path))
        except ImageFormatError as err:
            problems.append(str(err))
    if problems:
        return problems
    rainy, clean = images
    if rainy.shape != clean.shape or rainy.dtype != clean.dtype:
        return [f"{pair.rainy} is {rainy.dtype} {rainy.shape} but {pair.clean} is {clean.dtype} {clean.shape}"]
    if min(rainy.shape[:2]) < min_side:
        return [f"{pair.rainy}: {rainy.shape[1]}x{rainy.shape[0]} is smaller than the {min_side} px patches"]
    return []


def check_pairs(root: Path, pairs: list[Pair], min_side: int = 1) -> None:
    """Decode every image once; raise DataError listing unreadable or mismatched pairs."""
    with ThreadPoolExecutor(max_workers=4) as pool:  # OpenCV decodes without the GIL
        problems = [problem for found in pool.map(lambda p: _pair_problems(p, min_side), pairs) for problem in found]
    if problems:
        raise DataError(_report(root, problems))


def load_pairs(root: Path, min_side: int = 1) -> list[Pair]:
    """``find_pairs`` and ``check_pairs`` together: the start-up check of a data folder."""
    pairs = find_pairs(root)
    check_pairs(root, pairs, min_side)
    LOG.info("%s: %d checked pairs", root, len(pairs))
    return pairs


def read_pair(pair: Pair) -> tuple[np.ndarray, np.ndarray]:
    """Both images as stored: (H, W[, C]) uint8/uint16, BGR(A) or grey."""
    return read_image(pair.rainy), read_image(pair.clean)


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """(H, W[, C]) uint8/uint16 BGR(A) or grey -> float32 (3, H, W) RGB [0, 1]."""
    return torch.from_numpy(to_network(image, "bgr"))


class PatchDataset(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """Random square crops of training pairs, with optional horizontal flips.

    Each item's crop is drawn from ``(seed, epoch, index)`` alone, so that a run
    resumed mid-epoch, or split over any number of ranks and workers, sees the
    same patches as an uninterrupted one. Set ``epoch`` before each epoch.

    Items: (rainy, clean), float32 (3, P, P) RGB [0, 1].
    """

    def __init__(self, pairs: list[Pair], patch_size: int, crops_per_image: int, flip: bool, seed: int) -> None:
        self.pairs = pairs
        self.patch_size = patch_size
        self.crops_per_image = crops_per_image
        self.flip = flip
        self.seed = seed
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.pairs) * self.crops_per_image

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        rainy, clean = read_pair(self.pairs[index // self.crops_per_image])
        rng = np.random.default_rng((self.seed, self.epoch, index))
        size = self.patch_size
        top = int(rng.integers(0, rainy.shape[0] - size + 1))
        left = int(rng.integers(0, rainy.shape[1] - size + 1))
        window = (slice(top, top + size), slice(left, left + size))
        rainy, clean = rainy[window], clean[window]
        if self.flip and rng.random() < 0.5:
            rainy, clean = rainy[:, ::-1], clean[:, ::-1]
        return to_tensor(rainy), to_tensor(clean)


class PairDataset(Dataset[tuple[torch.Tensor, torch.Tensor, str]]):
    """Whole validation pairs: (rainy, clean, name), float32 (3, H, W) RGB [0, 1]."""

    def __init__(self, pairs: list[Pair]) -> None:
        self.pairs = pairs

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, str]:
        pair = self.pairs[index]
        rainy, clean = read_pair(pair)
        return to_tensor(rainy), to_tensor(clean), pair.name
