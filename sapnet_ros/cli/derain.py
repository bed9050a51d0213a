"""``sapnet-derain``: derain PNG/JPEG files or folders into PNGs with the same stem.

With ``--rain-gate`` every file is its own stream: its own rain level decides
whether it is derained or copied through unchanged (no history across files).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tqdm import tqdm

from sapnet_ros.cli.arguments import add_derain_arguments, configure_logging, derain_settings
from sapnet_ros.commands import command
from sapnet_ros.derainer import Derainer, open_derainer
from sapnet_ros.errors import InputError, SapnetError
from sapnet_ros.io.atomic import output_folder
from sapnet_ros.io.images import collect_images, output_paths, read_image, write_png


def derain_files(
    derainer: Derainer, targets: dict[Path, Path], progress: bool, max_pixels: int
) -> tuple[list[float], list[str], int]:
    """Derain each input into its target; files declaring more than ``max_pixels`` are skipped.

    Returns:
        Per-frame ms, one error line per failed file, and how many files the
        rain gate passed through as dry.
    """
    times: list[float] = []
    failures: list[str] = []
    dry = 0
    for source, target in tqdm(targets.items(), disable=not progress, unit="img", file=sys.stderr):
        try:
            result = derainer.run_batch([read_image(source, max_pixels)], "bgr", [source])
            write_png(target, result.images[0])
        except (SapnetError, OSError) as err:
            failures.append(f"skipped {source}: {err}")
            tqdm.write(f"sapnet-derain: {failures[-1]}", file=sys.stderr)
            continue
        times.append(result.timing.total_ms)
        dry += result.gates is not None and result.gates[0].weight == 0
    return times, failures, dry


def _check_named(inputs: list[Path]) -> None:
    """Refuse an input named on the command line that cannot even be looked at (a symlink loop, no permission).

    A missing file is not refused here: like an unreadable one, it is reported and skipped.
    """
    for item in inputs:
        try:
            item.stat()
        except FileNotFoundError:
            continue
        except OSError as err:
            raise InputError(f"{item}: {err.strerror or err}") from err


@command("sapnet-derain")
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="sapnet-derain",
        description="Remove rain from images with SAPNet. Grey, RGBA and 16-bit PNGs keep their format.",
        epilog="examples:\n  sapnet-derain photo.jpg --output out/\n"
        "  sapnet-derain frames/ --output derained/ --backend onnxruntime\n"
        "  sapnet-derain dashcam/ --output out/ --rain-gate     # dry frames are copied unchanged",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("inputs", nargs="+", type=Path, metavar="INPUT", help="image files or folders")
    parser.add_argument("--output", "-o", type=Path, required=True, help="folder for the derained PNGs")
    parser.add_argument("--verbose", "-v", action="store_true", help="debug logging")
    add_derain_arguments(parser)
    args = parser.parse_args(argv)
    configure_logging(args.verbose)

    try:
        _check_named(args.inputs)
        inputs = collect_images(args.inputs)
        if not inputs:
            parser.exit(2, "sapnet-derain: error: no PNG/JPEG files found in the inputs\n")
        targets = output_paths(inputs, args.output)
        settings = derain_settings(parser, args)
        with output_folder(args.output), open_derainer(settings) as derainer:  # the folder is checked first
            times, failures, dry = derain_files(derainer, targets, len(inputs) > 1, settings.max_pixels)
            info = derainer.backend.info
    except SapnetError as err:
        parser.exit(2, f"sapnet-derain: error: {err}\n")
    mean_ms = sum(times) / len(times) if times else 0.0
    print(
        f"sapnet-derain: {len(times)} frames, {mean_ms:.1f} ms/frame mean, "
        f"backend {info.name} ({info.device}, {info.precision}), {len(failures)} failed"
        + (f", {dry} passed through dry by the rain gate" if args.rain_gate_enabled else "")
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
