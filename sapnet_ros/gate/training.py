"""``sapnet-train-rain-estimator``: train the rain gate's estimator on synthesized rain.

Data: scikit-image's bundled photos (no download), split by photo into a
training set and a held-out set that only the evaluation (and the gate's
acceptance tests) see. Each training example is a 128x128 region of a randomly
scaled, flipped, rotated and relit photo (night scenes included), with rain of
a random style from ``sapnet_ros.synthesis.rain`` (density, streak length, angle,
width, blur, brightness, haze, layers) on half of them, then sensor noise,
blur and JPEG artefacts on either class. The estimator sees the region as
2x2 tiles through the same ``grey_tiles`` as at run time.

Everything is seeded: the same command writes the same weights. After
training, the held-out photos (dry and with the named rain styles) and the two
real rainy samples are scored, and the figures go into the weights' metadata.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Iterator
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
from sapnet_ros.io.images import read_image
from sapnet_ros.model.export import save_onnx, to_onnx
from sapnet_ros.synthesis.photos import load_photo, still_scene
from sapnet_ros.synthesis.rain import HEAVY, LIGHT, RainStyle, RainSynthesizer, composite, styled

TRAIN_PHOTOS = ("astronaut", "camera", "stereo_motorcycle", "hubble_deep_field", "retina", "coins", "brick", "grass",
                "moon", "page", "text", "clock", "cell", "immunohistochemistry", "colorwheel", "logo", "horse",
                "checkerboard", "microaneurysms", "shepp_logan_phantom")  # fmt: skip
HELD_OUT_PHOTOS = ("coffee", "rocket", "chelsea", "gravel")
EVAL_STYLES = {
    "lightest": styled("light", density=0.002),
    "light": LIGHT,
    "heavy": HEAVY,
    "heavy slanted": styled("heavy", angle=-25.0),
}
EVAL_SIZE = (320, 240)  # width, height of the held-out frames
REGION = 2 * TILE  # a training example: 2x2 tiles


class RainNet(nn.Module):
    """Rain logit of a set of grey tiles.

    Four 3x3 convolutions (the first two with stride 2: a 1-px streak still
    falls under every kernel it crosses; receptive field 23 px, a streak's
    width and a piece of its length), then the mean and the peak of each
    feature map, averaged over the tiles, into a linear head.
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

    examples: int = 6000  # synthesized regions, half of them rainy
    rain_layers: int = 400  # distinct rain layers laid over them
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


def example(scales: list[np.ndarray], rain: tuple[np.ndarray, float] | None, rng: np.random.Generator) -> np.ndarray:
    """One training region: uint8 (REGION, REGION, 3) RGB of a photo, with ``rain`` (layer, haze) if given."""
    scaled = scales[int(rng.integers(len(scales)))]
    top = int(rng.integers(0, scaled.shape[0] - REGION + 1))
    left = int(rng.integers(0, scaled.shape[1] - REGION + 1))
    region = np.rot90(scaled[top : top + REGION, left : left + REGION], int(rng.integers(0, 4)))
    region = _relit(region[:, ::-1] if rng.random() < 0.5 else region, rng)  # the scene turns, not the rain
    if rain is not None:
        layer, haze = rain
        if rng.random() < 0.5:
            layer = layer[::-1]  # upside down: the same streaks
        if rng.random() < 0.5:
            layer = layer[:, ::-1]  # mirrored: rain leaning the other way
        region = composite(region, layer, haze)
    return _degraded(np.ascontiguousarray(region), rng)


def make_dataset(config: EstimatorTrainConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """(examples, 4, 1, TILE, TILE) float32 tiles and (examples,) labels, from the training photos."""
    rng = np.random.default_rng(config.seed)
    photos = [pyramid(load_photo(name)) for name in TRAIN_PHOTOS]
    layers = rain_layers(config.rain_layers, rng)
    labels = np.arange(config.examples) % 2
    tiles = np.empty((config.examples, 4, 1, TILE, TILE), np.float32)
    for index, rainy in enumerate(labels):
        rain = layers[int(rng.integers(len(layers)))] if rainy else None
        region = example(photos[int(rng.integers(len(photos)))], rain, rng)
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


def held_out_frames() -> dict[str, tuple[np.ndarray, bool]]:
    """Name -> (uint8 (H, W, 3) RGB frame, is rainy) for the evaluation; none was seen in training."""
    frames: dict[str, tuple[np.ndarray, bool]] = {}
    for name in HELD_OUT_PHOTOS:
        clean = still_scene(name, *EVAL_SIZE)
        frames[f"{name} dry"] = (clean, False)
        for style_name, style in EVAL_STYLES.items():
            frames[f"{name} {style_name}"] = (RainSynthesizer(style, seed=7).apply(clean), True)
    for path in resources.sample_images():  # Rain100H sample, real rainy night
        frames[path.stem] = (np.ascontiguousarray(read_image(path)[:, :, ::-1]), True)
    return frames


def evaluate(estimator: RainEstimator, threshold: float = 0.5) -> dict[str, object]:
    """Levels and the confusion at ``threshold`` on the held-out frames."""
    frames = held_out_frames()
    levels = {name: estimator.level(frame) for name, (frame, _) in frames.items()}
    rainy = {name: is_rainy for name, (_, is_rainy) in frames.items()}
    said_rain = {name: level >= threshold for name, level in levels.items()}
    return {
        "threshold": threshold,
        "dry_as_dry": sum(not said_rain[n] for n in levels if not rainy[n]),
        "dry_as_rain": sum(said_rain[n] for n in levels if not rainy[n]),
        "rain_as_rain": sum(said_rain[n] for n in levels if rainy[n]),
        "rain_as_dry": sum(not said_rain[n] for n in levels if rainy[n]),
        "levels": {name: round(level, 4) for name, level in levels.items()},
    }


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
    """Train, export, score the held-out frames with the exported model; the figures go into its metadata."""
    started = time.monotonic()
    proto = export(train(config))
    metadata = metadata_for(config, time.monotonic() - started)
    save_onnx(proto, output, metadata)
    report = evaluate(RainEstimator(output))
    save_onnx(proto, output, metadata | {"held_out": json.dumps(report)})
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
