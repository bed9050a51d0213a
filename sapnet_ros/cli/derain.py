"""``sapnet-derain``: derain PNG/JPEG files or folders into PNGs with the same stem.

With ``--rain-gate`` every file is its own stream: its own rain level decides
whether it is derained or copied through unchanged (no history across files).
What was decided is visible: ``-v`` prints a line per file (rain level,
derained or passed through) and ``--report FILE`` writes the same as CSV.
"""

from __future__ import annotations

import argparse
import csv
import sys
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from sapnet_ros.cli.arguments import add_derain_arguments, configure_logging, derain_settings
from sapnet_ros.commands import command
from sapnet_ros.derainer import Derainer, open_derainer
from sapnet_ros.errors import InputError, SapnetError
from sapnet_ros.io.atomic import atomic_path, check_writable, output_folder
from sapnet_ros.io.images import collect_images, output_paths, read_image, write_png

REPORT_COLUMNS = ("input", "output", "rain_level", "derained", "ms")


@dataclass(frozen=True)
class FileResult:
    """What happened to one file: its rain level (None without a gate) and whether it was derained."""

    source: Path
    target: Path
    level: float | None
    derained: bool
    ms: float

    def line(self) -> str:
        """The ``-v`` line: file, rain level and decision."""
        level = "" if self.level is None else f"rain level {self.level:.2f}, "
        return f"{self.source}: {level}{'derained' if self.derained else 'passed through dry'} -> {self.target}"

    def row(self) -> list[str]:
        """The ``--report`` CSV row (REPORT_COLUMNS)."""
        level = "" if self.level is None else f"{self.level:.4f}"
        return [str(self.source), str(self.target), level, "yes" if self.derained else "no", f"{self.ms:.1f}"]


def derain_files(
    derainer: Derainer, targets: dict[Path, Path], progress: bool, max_pixels: int, verbose: bool = False
) -> tuple[list[FileResult], list[str]]:
    """Derain each input into its target; files declaring more than ``max_pixels`` are skipped.

    Returns:
        One result per file written, and one error line per failed file.
    """
    results: list[FileResult] = []
    failures: list[str] = []
    for source, target in tqdm(targets.items(), disable=not progress, unit="img", file=sys.stderr):
        try:
            batch = derainer.run_batch([read_image(source, max_pixels)], "bgr", [source])
            write_png(target, batch.images[0])
        except (SapnetError, OSError) as err:
            failures.append(f"skipped {source}: {err}")
            tqdm.write(f"sapnet-derain: {failures[-1]}", file=sys.stderr)
            continue
        gate = batch.gates[0] if batch.gates is not None else None
        result = FileResult(
            source, target, gate.level if gate else None, gate is None or gate.weight > 0, batch.timing.total_ms
        )
        results.append(result)
        if verbose:
            tqdm.write(result.line())
    return results, failures


def write_report(path: Path, results: list[FileResult]) -> None:
    """The per-file CSV (REPORT_COLUMNS), written atomically: a failed run leaves no half report."""
    with atomic_path(path) as temporary, temporary.open("w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(REPORT_COLUMNS)
        writer.writerows(result.row() for result in results)


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
    parser.add_argument(
        "--verbose", "-v", action="store_true", help="a line per file (rain level, derained or not), debug logging"
    )
    parser.add_argument("--report", type=Path, default=None, help="write a CSV per file: " + ", ".join(REPORT_COLUMNS))
    add_derain_arguments(parser)
    args = parser.parse_args(argv)
    configure_logging(args.verbose)

    try:
        _check_named(args.inputs)
        inputs = collect_images(args.inputs)
        if not inputs:
            parser.exit(2, "sapnet-derain: error: no PNG/JPEG files found in the inputs\n")
        if args.report:
            check_writable(args.report)
        targets = output_paths(inputs, args.output)
        settings = derain_settings(parser, args)
        with output_folder(args.output), open_derainer(settings) as derainer:  # the folder is checked first
            results, failures = derain_files(derainer, targets, len(inputs) > 1, settings.max_pixels, args.verbose)
            info = derainer.backend.info
        if args.report:
            write_report(args.report, results)
    except SapnetError as err:
        parser.exit(2, f"sapnet-derain: error: {err}\n")
    times = [result.ms for result in results]
    dry = sum(not result.derained for result in results)
    mean_ms = sum(times) / len(times) if times else 0.0
    print(
        f"sapnet-derain: {len(times)} frames, {mean_ms:.1f} ms/frame mean, "
        f"backend {info.name} ({info.device}, {info.precision}), {len(failures)} failed"
        + (f", {dry} passed through dry by the rain gate" if args.rain_gate_enabled else "")
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
