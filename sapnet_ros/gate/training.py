"""``sapnet-train-rain-estimator``: train the rain gate's estimator on synthesized rain.

Data (no download), split as ``sapnet_ros.synthesis.sets`` says: the training
photos and the training seeds of the rain-like dry textures (gravel, foliage,
brick, fences, road markings, night noise). Each training example is a
128x128 region of a randomly scaled, flipped, rotated and relit scene (night
scenes included), with rain on half of them: the project's synthesizer
(``rain.py``, random style) or the physical model's training styles
(``physical.py``, jittered), then sensor noise, blur and JPEG artefacts on
either class. The estimator sees the region as 2x2 tiles through the same
``grey_tiles`` as at run time.

The operating point is chosen after training from a ROC on frames none of
that saw: the real rainy photos' selection half against dry validation scenes
(``sets.clean_scenes("validation")``); the head's bias is shifted so that the
chosen level maps to the gate's ``open_level``. Everything is seeded: the same
command writes the same weights. The evaluation sets (held-out generators,
styles, scenes, real photos) are then scored and the figures go into the
weights' metadata.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
import onnx
import torch
import torch.nn.functional as F
from torch import nn

from sapnet_ros import __version__, resources
from sapnet_ros.commands import command
from sapnet_ros.gate.estimator import (
    FORMAT,
    GRID,
    INPUT_NAME,
    MODEL_FILE,
    OUTPUT_NAME,
    TILE,
    RainEstimator,
    grey_tiles,
)
from sapnet_ros.model.export import save_onnx, to_onnx
from sapnet_ros.synthesis import physical, sets
from sapnet_ros.synthesis.photos import load_photo
from sapnet_ros.synthesis.rain import RainStyle, RainSynthesizer, composite
from sapnet_ros.synthesis.textures import TEXTURES, dry_texture

TRAIN_PHOTOS = sets.TRAIN_PHOTOS
HELD_OUT_PHOTOS = sets.EVAL_PHOTOS
REGION = 2 * TILE  # a training example: 2x2 tiles
TEXTURE_SIZE = 384  # side of each training texture scene
OPEN_LEVEL = 0.6  # the gate's default open_level: the chosen operating point maps to it
MAX_FALSE_OPEN = 0.05  # the share of dry validation frames the operating point may open on
OPERATING_MARGIN = 0.25  # logit between the highest allowed dry validation frame and the threshold
Rain = Callable[[np.ndarray, np.random.Generator], np.ndarray]  # lays rain over a uint8 RGB region


class RainNet(nn.Module):
    """Rain logit of a set of grey tiles.

    Four 3x3 convolutions (the first two with stride 2: a 1-px streak still
    falls under every kernel it crosses; receptive field 23 px, a streak's
    width and a piece of its length), then the mean and the peak of each
    feature map, averaged over the tiles, into a linear head. (Dilating the
    last two for a 63-px field and training 8 epochs scored worse on the
    held-out sets: docs/generalisation.md.)
    """

    def __init__(self, channels: int = 24) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 8, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(8, channels, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.ReLU(),
        )
        self.head = nn.Linear(2 * channels, 1)

    def forward(self, tiles: torch.Tensor) -> torch.Tensor:
        """Logits (B,) of tiles (B, K, 1, T, T): grey, centred on each tile's mean."""
        batch, count = tiles.shape[:2]
        maps = self.features(tiles.flatten(0, 1))  # (B*K, C, h, w)
        mean = maps.mean(dim=(2, 3)).view(batch, count, -1).mean(dim=1)  # (B, C)
        peak = maps.amax(dim=(2, 3)).view(batch, count, -1).mean(dim=1)  # (B, C)
        return self.head(torch.cat([mean, peak], dim=1)).squeeze(1)


@dataclass(frozen=True)
class EstimatorTrainConfig:
    """What one training run does; saved in the weights' metadata."""

    examples: int = 10000  # synthesized regions, half of them rainy
    rain_layers: int = 400  # distinct rain layers of the project's synthesizer
    textures_per_kind: int = 6  # training scenes of each rain-like dry texture
    physical_share: float = 0.5  # rainy examples with the physical model's rain (the rest: rain.py)
    epochs: int = 6
    batch: int = 32
    learning_rate: float = 1e-2
    weight_decay: float = 1e-4
    channels: int = 24
    seed: int = 0


def random_style(rng: np.random.Generator) -> RainStyle:
    """Rain of any look the synthesizer makes, from barely visible drizzle to downpour."""
    shortest = int(rng.integers(4, 30))
    return RainStyle(
        density=float(math.exp(rng.uniform(math.log(0.001), math.log(0.03)))),
        length=(shortest, shortest + int(rng.integers(4, 60))),
        angle=float(rng.uniform(-30.0, 30.0)),
        angle_jitter=float(rng.uniform(0.0, 6.0)),
        width=int(rng.choice([1, 1, 1, 2, 2, 3])),
        blur=float(rng.uniform(0.2, 1.5)),
        brightness=float(rng.uniform(0.2, 0.95)),
        haze=float(rng.uniform(0.0, 0.15)),
        layers=int(rng.integers(1, 4)),
    )


def _relit(region: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Random exposure and gamma; a quarter of the regions become night scenes."""
    values = region.astype(np.float32) / 255.0
    gain = rng.uniform(0.15, 0.5) if rng.random() < 0.25 else rng.uniform(0.7, 1.2)
    values = np.clip(values * gain, 0.0, 1.0) ** rng.uniform(0.7, 1.5)
    return np.rint(values * 255).astype(np.uint8)


def _degraded(region: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Camera artefacts on either class: defocus, sensor noise, JPEG."""
    if rng.random() < 0.2:
        region = cv2.GaussianBlur(region, (0, 0), rng.uniform(0.4, 1.0))
    if rng.random() < 0.5:
        noise = rng.normal(0.0, rng.uniform(1.0, 6.0), region.shape)
        region = np.clip(region + noise, 0, 255).astype(np.uint8)
    if rng.random() < 0.5:
        _, encoded = cv2.imencode(".jpg", region, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(40, 95))])
        region = np.asarray(cv2.imdecode(encoded, cv2.IMREAD_UNCHANGED))
    return region


def pyramid(photo: np.ndarray) -> list[np.ndarray]:
    """``photo`` at several scales (longest side one region, a thumbnail, up to 1024 px), made once per photo."""
    longest = max(photo.shape[:2])
    sizes = np.geomspace(REGION, max(REGION, min(1024, longest * 1.5)), 6)
    scaled = []
    for size in sizes:
        factor = size / longest
        height, width = max(REGION, round(photo.shape[0] * factor)), max(REGION, round(photo.shape[1] * factor))
        interpolation = cv2.INTER_AREA if factor < 1 else cv2.INTER_CUBIC
        scaled.append(cv2.resize(photo, (width, height), interpolation=interpolation))
    return scaled


def rain_layers(count: int, rng: np.random.Generator) -> list[tuple[np.ndarray, float]]:
    """``count`` (REGION x REGION rain layer, haze) pairs of random styles: the costly part, made once."""
    layers = []
    for _ in range(count):
        style = random_style(rng)
        layers.append((RainSynthesizer(style, int(rng.integers(2**31))).rain_layer(REGION, REGION), style.haze))
    return layers


def project_rain(layer: np.ndarray, haze: float) -> Rain:
    """Rain of the project's synthesizer: a premade layer, flipped at random (the same streaks, other lean)."""

    def lay(region: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        flipped = layer[::-1] if rng.random() < 0.5 else layer
        flipped = flipped[:, ::-1] if rng.random() < 0.5 else flipped
        return composite(region, flipped, haze)

    return lay


def physical_rain(region: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Rain of one of the physical model's training styles, jittered, as seen in a 240- to 720-row frame."""
    style = sets.jittered(sets.TRAIN_PHYSICAL[int(rng.integers(len(sets.TRAIN_PHYSICAL)))], rng)
    return physical.render(region, style, int(rng.integers(2**31)), frame_height=int(rng.integers(240, 721)))


def example(scales: list[np.ndarray], rain: Rain | None, rng: np.random.Generator) -> np.ndarray:
    """One training region: uint8 (REGION, REGION, 3) RGB of a scene, with ``rain`` laid over it if given."""
    scaled = scales[int(rng.integers(len(scales)))]
    top = int(rng.integers(0, scaled.shape[0] - REGION + 1))
    left = int(rng.integers(0, scaled.shape[1] - REGION + 1))
    region = np.rot90(scaled[top : top + REGION, left : left + REGION], int(rng.integers(0, 4)))
    region = _relit(region[:, ::-1] if rng.random() < 0.5 else region, rng)  # the scene turns, not the rain
    if rain is not None:
        region = rain(np.ascontiguousarray(region), rng)
    return _degraded(np.ascontiguousarray(region), rng)


def make_dataset(config: EstimatorTrainConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """(examples, 4, 1, TILE, TILE) float32 tiles and (examples,) labels, from the training photos."""
    rng = np.random.default_rng(config.seed)
    scenes = [pyramid(load_photo(name)) for name in TRAIN_PHOTOS]
    scenes += [
        pyramid(dry_texture(kind, TEXTURE_SIZE, TEXTURE_SIZE, seed))
        for kind in TEXTURES
        for seed in range(config.textures_per_kind)
    ]
    layers = [project_rain(layer, haze) for layer, haze in rain_layers(config.rain_layers, rng)]
    labels = np.arange(config.examples) % 2
    tiles = np.empty((config.examples, 4, 1, TILE, TILE), np.float32)
    for index, rainy in enumerate(labels):
        rain: Rain | None = None
        if rainy:
            rain = physical_rain if rng.random() < config.physical_share else layers[int(rng.integers(len(layers)))]
        region = example(scenes[int(rng.integers(len(scenes)))], rain, rng)
        tiles[index] = grey_tiles(region, "rgb", grid=(2, 2), tile=TILE)
    return torch.from_numpy(tiles), torch.from_numpy(labels.astype(np.float32))


def _batches(count: int, size: int, generator: torch.Generator) -> Iterator[torch.Tensor]:
    order = torch.randperm(count, generator=generator)
    yield from order.split(size)


def train(config: EstimatorTrainConfig, log: bool = True) -> RainNet:
    """Train ``RainNet`` from scratch as ``config`` says (deterministic for a given seed)."""
    torch.manual_seed(config.seed)
    tiles, labels = make_dataset(config)
    model = RainNet(config.channels)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    steps = config.epochs * math.ceil(config.examples / config.batch)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, config.learning_rate, total_steps=steps)
    generator = torch.Generator().manual_seed(config.seed)
    for epoch in range(config.epochs):
        total, correct, loss_sum = 0, 0, 0.0
        for indices in _batches(config.examples, config.batch, generator):
            batch = tiles[indices]
            flip = torch.rand(len(indices), generator=generator) < 0.5
            batch = torch.where(flip[:, None, None, None, None], batch.flip(-1), batch)  # mirror: rain stays rain
            logits = model(batch)
            loss = F.binary_cross_entropy_with_logits(logits, labels[indices])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            total += len(indices)
            correct += int(((logits > 0) == (labels[indices] > 0.5)).sum())
            loss_sum += loss.item() * len(indices)
        if log:
            print(
                f"epoch {epoch + 1}/{config.epochs}: loss {loss_sum / total:.4f}, accuracy {correct / total:.3f}",
                flush=True,
            )
    return model.eval()


def _logits(model: RainNet, frames: list[np.ndarray]) -> np.ndarray:
    """The model's logits of uint8 RGB frames, tiled as at run time."""
    with torch.no_grad():
        return np.array([model(torch.from_numpy(grey_tiles(frame, "rgb"))[None]).item() for frame in frames])


def validation_frames(seed: int) -> tuple[list[np.ndarray], list[np.ndarray], str]:
    """(rainy, dry) uint8 RGB frames for the operating point, and what they are; none is trained or evaluated on.

    Dry: the evaluation photos at other places and other texture seeds. Rainy: the real photos' selection
    half where fetched, and the same validation scenes with training-generator rain.
    """
    scenes = [scene for _, scene in sets.clean_scenes("validation", textures_per_kind=3)]
    rng = np.random.default_rng(seed + 1)
    rainy = []
    for index, scene in enumerate(scenes):
        if index % 2:
            rainy.append(physical.render(scene, sets.jittered(sets.TRAIN_PHYSICAL[index % 4], rng), index))
        else:
            rainy.append(RainSynthesizer(random_style(rng), seed=index).apply(scene))
    real = [frame.image for selection in sets.real_sets()[:1] for frame in selection.frames]
    described = f"{len(scenes)} dry validation scenes; {len(rainy)} of them with training rain"
    if real:
        described += f" + {len(real)} real rainy photos (real-select)"
    return rainy + real, scenes, described


def operating_point(model: RainNet, seed: int) -> tuple[float, dict[str, object]]:
    """The logit at which a frame counts as rainy, from the validation ROC, and how it was chosen.

    The threshold lets through at most MAX_FALSE_OPEN of the dry validation frames and sits
    OPERATING_MARGIN above the highest dry logit it allows. (Capping it at the rainy frames' median, as
    first tried, halved the recall on real rain for no fewer false opens.)
    """
    rainy, dry, described = validation_frames(seed)
    rain_logits, dry_logits = _logits(model, rainy), np.sort(_logits(model, dry))
    allowed = int(MAX_FALSE_OPEN * len(dry_logits))
    threshold = float(dry_logits[len(dry_logits) - 1 - allowed]) + OPERATING_MARGIN
    recall = float(np.mean(rain_logits >= threshold))
    false_open = float(np.mean(dry_logits >= threshold))
    chosen = {"validation": described, "threshold_logit": round(threshold, 3), "validation_recall": round(recall, 3),
              "validation_false_open": round(false_open, 3)}  # fmt: skip
    return threshold, chosen


def with_operating_point(model: RainNet, threshold: float) -> RainNet:
    """Shift the head's bias so that a frame at ``threshold`` gets level OPEN_LEVEL (where the gate opens)."""
    with torch.no_grad():
        model.head.bias.add_(math.log(OPEN_LEVEL / (1.0 - OPEN_LEVEL)) - threshold)
    return model


def evaluate(estimator: RainEstimator, size: tuple[int, int] = sets.EVAL_SIZE) -> dict[str, dict[str, float]]:
    """Per evaluation set: share of frames at or above OPEN_LEVEL (recall, or false opens on dry), mean level."""
    report = {}
    for evaluation_set in sets.evaluation_sets(size):
        levels = np.array(estimator.levels([frame.image for frame in evaluation_set.frames]))
        report[evaluation_set.name] = {
            "frames": len(levels),
            "opened": round(float(np.mean(levels >= OPEN_LEVEL)), 3),
            "mean_level": round(float(levels.mean()), 3),
        }
    return report


def export(model: RainNet) -> onnx.ModelProto:
    """``model`` as ONNX: input (batch, tiles, 1, height, width) float32, output (batch,) logits."""
    dims = {0: torch.export.Dim("batch"), 1: torch.export.Dim("tiles"), 3: torch.export.Dim("height"),
            4: torch.export.Dim("width")}  # fmt: skip
    proto = to_onnx(model, torch.zeros(1, 4, 1, TILE, TILE), INPUT_NAME, OUTPUT_NAME, dims)
    proto.doc_string = "sapnet_ros rain estimator: logit that a frame is rainy, from contrast-normalized grey tiles"
    return proto


def metadata_for(config: EstimatorTrainConfig, seconds: float) -> dict[str, str]:
    """What the estimator needs at run time and what reproduces it."""
    return {
        "command": f"sapnet-train-rain-estimator --examples {config.examples} --epochs {config.epochs} "
        f"--seed {config.seed}",
        "data": "scikit-image photos (train_photos), rain-like textures (textures.py, seeds "
        f"0-{config.textures_per_kind - 1}), rain.py random styles, physical.py styles "
        f"{','.join(sets.TRAIN_PHYSICAL)} (jittered); see docs/generalisation.md",
        "format": FORMAT,
        "tile": str(TILE),
        "grid_rows": str(GRID[0]),
        "grid_columns": str(GRID[1]),
        "config": json.dumps(asdict(config)),
        "train_photos": ",".join(TRAIN_PHOTOS),
        "held_out_photos": ",".join(HELD_OUT_PHOTOS),
        "train_seconds": f"{seconds:.0f}",
        "made_by": f"sapnet-train-rain-estimator (sapnet_ros {__version__}, torch {torch.__version__})",
    }


def train_and_export(config: EstimatorTrainConfig, output: Path) -> dict[str, object]:
    """Train, choose the operating point, export, score the evaluation sets; the figures go into the metadata."""
    started = time.monotonic()
    model = train(config)
    threshold, chosen = operating_point(model, config.seed)
    proto = export(with_operating_point(model, threshold))
    metadata = metadata_for(config, time.monotonic() - started) | {"operating_point": json.dumps(chosen)}
    save_onnx(proto, output, metadata)
    report = {"operating_point": chosen, "evaluation": evaluate(RainEstimator(output))}
    save_onnx(proto, output, metadata | {"held_out": json.dumps(report["evaluation"])})
    return report


@command("sapnet-train-rain-estimator")
def main(argv: list[str] | None = None) -> int:
    defaults = EstimatorTrainConfig()
    parser = argparse.ArgumentParser(
        prog="sapnet-train-rain-estimator",
        description="Train the rain gate's estimator on synthesized rain (a few minutes on a CPU).",
        epilog="example: sapnet-train-rain-estimator --output models/rain_estimator.onnx",
    )
    parser.add_argument("--output", type=Path, default=resources.models_dir() / MODEL_FILE,
                        help="ONNX model to write (default: %(default)s)")  # fmt: skip
    parser.add_argument("--examples", type=int, default=defaults.examples, help="default: %(default)s")
    parser.add_argument("--epochs", type=int, default=defaults.epochs, help="default: %(default)s")
    parser.add_argument("--seed", type=int, default=defaults.seed, help="default: %(default)s")
    args = parser.parse_args(argv)
    config = EstimatorTrainConfig(examples=args.examples, epochs=args.epochs, seed=args.seed)
    torch.set_num_threads(1)  # tiny convolutions: one thread is as fast, never oversubscribed, and reproducible
    started = time.monotonic()
    report = train_and_export(config, args.output)
    print(json.dumps(report, indent=2))
    print(f"wrote {args.output} in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
