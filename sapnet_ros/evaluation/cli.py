"""``sapnet-eval-bag``: derain recorded drives offline and report quality, latency and detector impact."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from sapnet_ros.cli.arguments import add_derain_arguments, configure_logging, derain_settings
from sapnet_ros.commands import command
from sapnet_ros.errors import OutputExistsError, SapnetError
from sapnet_ros.evaluation.detectors import DETECTORS, create_detector
from sapnet_ros.evaluation.fleet import BagFailure, run_jobs
from sapnet_ros.evaluation.records import DERAINED, RAINY, BagResult, summarize
from sapnet_ros.evaluation.report import REPORT_FILES, fmt, write_report
from sapnet_ros.evaluation.run import BagJob, EvalOptions
from sapnet_ros.io.atomic import output_folder, stale_temporaries
from sapnet_ros.io.bags import connections_for, open_bag

LOG = logging.getLogger("sapnet-eval-bag")
EXAMPLES = """examples:
  sapnet-eval-bag drive_2024_05_03/ --image-topic /front/image_raw --output eval/
  sapnet-eval-bag rainy.mcap --image-topic /cam/image --gt-topic /cam/clean --output eval/ --detector onnx:yolov8n.onnx
  sapnet-eval-bag fleet/*.bag --image-topic /cam/compressed --output eval/ --workers 4
  sapnet-eval-bag fleet/*/ --image-topic /cam/image_raw --output /shared/eval --ray auto --threads 4"""


def plan_jobs(bags: list[Path], output: Path) -> list[BagJob]:
    """One job per bag, its derained copy in ``output/bags/<name>``.

    The unfinished bags a killed run left (``.NAME.PID.partial``) are removed,
    so a rerun into the same output works.

    Raises:
        OutputExistsError: an output would overwrite or land inside an input,
            or a derained bag of that name already exists.
    """
    inputs = [bag.resolve() for bag in bags]
    outputs = [(output / name).resolve() for name in REPORT_FILES] + [(output / "bags").resolve()]
    for bag, resolved in zip(bags, inputs, strict=True):
        if output.resolve() == resolved or resolved in output.resolve().parents:
            raise OutputExistsError(f"{output}: output folder is or lies inside the input bag {bag}")
        if any(resolved == o or o in resolved.parents for o in outputs):
            raise OutputExistsError(f"{bag}: input lies where the outputs go; choose another --output")
    jobs: list[BagJob] = []
    taken: set[str] = set()
    for bag in bags:
        stem = bag.resolve().name if bag.is_dir() else bag.stem
        name, n = stem, 2
        while name in taken:
            name, n = f"{stem}-{n}", n + 1
        taken.add(name)
        target = output / "bags" / name
        if target.exists():
            raise OutputExistsError(f"{target}: a derained bag is already there; choose another --output")
        for leftover in stale_temporaries(target, "partial"):
            LOG.warning("removing %s, the unfinished bag of an interrupted run", leftover)
            shutil.rmtree(leftover)
        jobs.append(BagJob(name, bag, target, os.getpid()))
    return jobs


def preflight(jobs: list[BagJob], options: EvalOptions) -> tuple[list[BagJob], list[BagFailure], int]:
    """Open every bag and find its topics before any work; returns usable jobs, failures, frames in total."""
    usable, failures, frames = [], [], 0
    for job in jobs:
        try:
            with open_bag(job.source) as reader:
                image = connections_for(reader, options.image_topic)
                if options.gt_topic:
                    connections_for(reader, options.gt_topic)
        except SapnetError as err:
            failures.append(BagFailure(job.name, str(job.source), str(err)))
            continue
        usable.append(job)
        frames += sum(c.msgcount for c in image)
    return usable, failures, frames


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sapnet-eval-bag",
        description="Derain every frame of a camera topic in recorded bags (rosbag2 sqlite3/mcap, ROS 1), write "
        "a rosbag2 copy with the derained topic added, and report image quality, latency and what it does to a "
        "detector (DIR/report.html, report.md, metrics.json).",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("bags", nargs="+", type=Path, metavar="BAG", help="rosbag2 folders, .mcap or ROS 1 .bag files")
    parser.add_argument("--image-topic", required=True, help="rainy camera topic (Image or CompressedImage)")
    parser.add_argument("--gt-topic", help="clean frames paired by header stamp: PSNR/SSIM and detection agreement")
    parser.add_argument("--output", "-o", type=Path, required=True, metavar="DIR", help="folder for reports and bags")
    parser.add_argument(
        "--derained-topic", help="default: image_derained beside the image topic, as derain_node has it"
    )
    parser.add_argument(
        "--detector", default="hog", help=f"{', '.join(DETECTORS)}: YOLO-style ONNX model (default: %(default)s)"
    )
    parser.add_argument(
        "--gt-tolerance",
        type=float,
        default=1.0,
        metavar="MS",
        help="largest stamp gap to ground truth (default: 1 ms)",
    )
    parser.add_argument("--batch", type=int, default=1, help="frames per inference call (default: %(default)s)")
    parser.add_argument(
        "--thumbnails", type=int, default=3, metavar="N", help="best and worst frames shown (default: 3)"
    )
    parser.add_argument("--workers", type=int, default=0, help="local processes; 0 = one per bag up to the CPUs")
    parser.add_argument("--ray", metavar="ADDRESS", help="run bags as Ray tasks: auto, ray://HOST:PORT or local")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--verbose", "-v", action="store_true", help="debug logging")
    add_derain_arguments(parser)
    return parser


def _check(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    for name, minimum in (("batch", 1), ("thumbnails", 0), ("workers", 0), ("gt_tolerance", 0)):
        if getattr(args, name) < minimum:
            parser.error(f"--{name.replace('_', '-')} must be >= {minimum}, got {getattr(args, name)}")


def _settings(args: argparse.Namespace, options: EvalOptions) -> dict[str, Any]:
    """The resolved options, JSON-ready, for metrics.json."""
    settings = json.loads(json.dumps(dataclasses.asdict(options), default=str))  # paths as strings
    return {**settings, "bags": [str(b) for b in args.bags], "workers": args.workers, "ray": args.ray}


def _print_summary(result: BagResult) -> None:
    summary = summarize(result.records)
    parts = [f"{len(result.records)}/{result.frames_total} frames"]
    if quality := summary.get("quality"):
        parts.append(f"PSNR {fmt(quality[RAINY]['psnr_rgb'])} -> {fmt(quality[DERAINED]['psnr_rgb'])} dB")
    if nr := summary.get("no_reference"):
        parts.append(f"BRISQUE {fmt(nr[RAINY], 1)} -> {fmt(nr[DERAINED], 1)}")
    if latency := summary["latency_ms"]:
        parts.append(f"latency median {latency['median']:.1f} ms, p95 {latency['p95']:.1f} ms")
    if result.error:
        parts.append(f"STOPPED EARLY: {result.error}")
    print(f"sapnet-eval-bag: {result.name}: " + ", ".join(parts))


@command("sapnet-eval-bag")
def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    _check(parser, args)
    configure_logging(args.verbose)
    options = EvalOptions(
        image_topic=args.image_topic,
        gt_topic=args.gt_topic,
        derained_topic=args.derained_topic,
        derain=derain_settings(parser, args),
        batch=args.batch,
        detector=args.detector,
        gt_tolerance_ns=round(args.gt_tolerance * 1e6),
        thumbnails=args.thumbnails,
    )
    try:
        create_detector(options.detector)  # a bad spec or model fails here, not in every worker
        jobs = plan_jobs(args.bags, args.output)
    except SapnetError as err:
        parser.exit(2, f"sapnet-eval-bag: error: {err}\n")
    jobs, failures, frames = preflight(jobs, options)
    for failure in failures:
        print(f"sapnet-eval-bag: error: {failure.error}", file=sys.stderr)
    if not jobs:
        return 2
    with output_folder(args.output):  # checked (and created) before any frame is derained
        workers = args.workers or min(len(jobs), os.cpu_count() or 1)
        outcomes = run_jobs(jobs, options, frames, workers, args.ray, progress=not args.no_progress)
        results = [o for o in outcomes if isinstance(o, BagResult)]
        for failure in (o for o in outcomes if isinstance(o, BagFailure)):
            print(f"sapnet-eval-bag: error: {failure.error}", file=sys.stderr)
            failures.append(failure)
        for result in results:
            _print_summary(result)
        if results:
            report = write_report(args.output, results, failures, _settings(args, options))
            print(f"sapnet-eval-bag: report {report}, metrics {args.output / 'metrics.json'}")
    return 1 if failures or any(r.error for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
