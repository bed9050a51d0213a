"""``sapnet-make-pairs``: training pairs from clean images, or a bag's clean frames, with synthesized rain.

Writes ``OUTPUT/input/<name>.png`` (rainy) and ``OUTPUT/target/<name>.png``
(clean), the first layout ``training.data`` reads. Every image of a folder
gets its own seeded rain; the frames of a bag topic get one rain field per
variant that moves from frame to frame, as a camera in the rain sees it.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from sapnet_ros.cli.arguments import configure_logging
from sapnet_ros.commands import command
from sapnet_ros.errors import BagError, OutputExistsError, SapnetError
from sapnet_ros.io.bags import COMPRESSED_IMAGE, connections_for, open_bag, read_messages
from sapnet_ros.io.images import collect_images, output_paths, read_image, write_png
from sapnet_ros.io.messages import Decoded
from sapnet_ros.pipeline import decode
from sapnet_ros.synthesis.rain import STYLES, RainStyle, RainSynthesizer, add_rain, styled

LOG = logging.getLogger(__name__)


class PairWriter:
    """Writes rainy/clean pairs into ``input/`` and ``target/`` of an empty (or new) folder."""

    def __init__(self, output: Path) -> None:
        self.rainy_dir, self.clean_dir = output / "input", output / "target"
        for folder in (self.rainy_dir, self.clean_dir):
            if folder.is_dir() and any(folder.iterdir()):
                raise OutputExistsError(f"{folder}: already holds files; choose a new --output")
            folder.mkdir(parents=True, exist_ok=True)
        self.written = 0

    def write(self, name: str, rainy: np.ndarray, clean: np.ndarray) -> None:
        """Write one pair: (H, W[, C]) uint8/uint16, BGR(A) or grey."""
        write_png(self.rainy_dir / f"{name}.png", rainy)
        write_png(self.clean_dir / f"{name}.png", clean)
        self.written += 1


def pair_style(name: str, rng: np.random.Generator, angle_range: float) -> RainStyle:
    """Style ``name`` with its fall angle moved by up to ``angle_range`` degrees either way."""
    base = STYLES[name]
    return styled(name, angle=base.angle + float(rng.uniform(-angle_range, angle_range)))


def _variant_name(stem: str, variant: int, variants: int) -> str:
    return f"{stem}_r{variant}" if variants > 1 else stem


def from_folder(
    inputs: Sequence[Path], writer: PairWriter, styles: Sequence[str], variants: int, angle_range: float, seed: int
) -> list[str]:
    """Pair every clean image of ``inputs`` with ``variants`` rainy versions; returns one line per failed file."""
    images = collect_images(inputs)
    output_paths(images, writer.clean_dir)  # refuses two inputs with one stem
    failures = []
    for index, path in enumerate(tqdm(images, unit="img", file=sys.stderr, disable=len(images) < 2)):
        try:
            clean = read_image(path)
        except SapnetError as err:
            failures.append(f"skipped {path}: {err}")
            continue
        for variant in range(variants):
            rng = np.random.default_rng((seed, index, variant))
            style = pair_style(styles[variant % len(styles)], rng, angle_range)
            rainy = add_rain(clean, style, seed=int(rng.integers(2**31)))
            writer.write(_variant_name(path.stem, variant, variants), rainy, clean)
    return failures


def as_bgr(decoded: Decoded) -> np.ndarray:
    """A decoded frame in the files' channel order: BGR(A), or grey as it is."""
    array = decoded.array
    if decoded.order == "rgb" and array.ndim == 3 and array.shape[2] in (3, 4):
        return np.ascontiguousarray(array[:, :, [2, 1, 0, 3][: array.shape[2]]])
    return array


def from_bag(
    bag: Path,
    topic: str,
    writer: PairWriter,
    styles: Sequence[str],
    variants: int,
    angle_range: float,
    seed: int,
    every: int = 1,
    max_frames: int = 0,
) -> list[str]:
    """Pair every ``every``-th frame of ``topic`` (up to ``max_frames``) with moving synthesized rain."""
    rng = np.random.default_rng(seed)
    synthesizers = [
        RainSynthesizer(pair_style(styles[k % len(styles)], rng, angle_range), seed=seed + k) for k in range(variants)
    ]
    failures = []
    kept = 0
    with open_bag(bag) as reader:
        connections = connections_for(reader, topic)
        messages = read_messages(reader, connections)
        try:
            for index, (connection, _, raw) in enumerate(tqdm(messages, unit="msg", file=sys.stderr)):
                if index % every:
                    continue
                try:
                    msg: Any = reader.deserialize(raw, connection.msgtype)
                    decoded = decode(msg, connection.msgtype == COMPRESSED_IMAGE)
                except SapnetError as err:
                    failures.append(f"skipped message {index} of {topic}: {err}")
                    continue
                clean = as_bgr(decoded)
                for variant, synthesizer in enumerate(synthesizers):
                    writer.write(
                        _variant_name(f"frame_{index:06d}", variant, variants), synthesizer.apply(clean, kept), clean
                    )
                kept += 1
                if max_frames and kept >= max_frames:
                    break
        except BagError as err:  # damaged or cut short: the pairs made before stay
            failures.append(f"stopped early: {err}")
    return failures


@command("sapnet-make-pairs")
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="sapnet-make-pairs",
        description="Make rainy/clean training pairs (OUTPUT/input, OUTPUT/target) with the rain synthesizer.",
        epilog="examples:\n"
        "  sapnet-make-pairs clean_photos/ --output pairs/train --variants 3 --style heavy --style light\n"
        "  sapnet-make-pairs --bag drive.mcap --topic /camera/image_raw --every 10 --output pairs/drive",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("inputs", nargs="*", type=Path, metavar="INPUT", help="clean image files or folders")
    parser.add_argument("--output", "-o", type=Path, required=True, help="folder for input/ and target/")
    parser.add_argument("--bag", type=Path, help="take the clean frames from this bag (rosbag2 or ROS 1)")
    parser.add_argument("--topic", help="image topic of --bag (sensor_msgs/Image or CompressedImage)")
    parser.add_argument(
        "--every", type=int, default=1, help="keep every N-th frame of the topic (default: %(default)s)"
    )
    parser.add_argument("--max-frames", type=int, default=0, help="stop after this many frames; 0 = all (default)")
    parser.add_argument(
        "--style",
        action="append",
        choices=sorted(STYLES),
        help="rain style, repeatable; variants cycle (default: heavy)",
    )
    parser.add_argument("--variants", type=int, default=1, help="rainy versions of each image (default: %(default)s)")
    parser.add_argument(
        "--angle-range",
        type=float,
        default=15.0,
        help="random change of the fall angle, degrees (default: %(default)s)",
    )
    parser.add_argument("--seed", type=int, default=0, help="default: %(default)s")
    parser.add_argument("--verbose", "-v", action="store_true", help="debug logging")
    args = parser.parse_args(argv)
    configure_logging(args.verbose)
    if bool(args.inputs) == bool(args.bag):
        parser.error("give clean image INPUTs or --bag with --topic, not both")
    if args.bag and not args.topic:
        parser.error("--bag needs --topic")
    if args.variants < 1 or args.every < 1 or args.max_frames < 0 or args.angle_range < 0:
        parser.error("--variants and --every must be >= 1; --max-frames and --angle-range >= 0")
    styles = args.style or ["heavy"]
    try:
        writer = PairWriter(args.output)
        if args.bag:
            failures = from_bag(
                args.bag,
                args.topic,
                writer,
                styles,
                args.variants,
                args.angle_range,
                args.seed,
                args.every,
                args.max_frames,
            )
        else:
            failures = from_folder(args.inputs, writer, styles, args.variants, args.angle_range, args.seed)
    except SapnetError as err:
        parser.exit(2, f"sapnet-make-pairs: error: {err}\n")
    for failure in failures:
        print(f"sapnet-make-pairs: {failure}", file=sys.stderr)
    print(f"sapnet-make-pairs: wrote {writer.written} pairs to {args.output}, {len(failures)} failed")
    return 1 if failures else 0
