"""Command-line options shared by every tool that derains (derain, evaluate, eval-bag), from ``DERAIN_OPTIONS``."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable

from sapnet_ros.settings import DERAIN_OPTIONS, DerainSettings, OptionSpec


def _ranged(spec: OptionSpec) -> Callable[[str], float]:
    """An argparse type for a numeric option: its type (int or float), within its range."""
    kind: Callable[[str], float] = int if isinstance(spec.default, int) else float

    def parse(text: str) -> float:
        value = kind(text)
        if (spec.low is not None and value < spec.low) or (spec.high is not None and value > spec.high):
            raise argparse.ArgumentTypeError(f"{text!r} is outside [{spec.low}, {spec.high}]")
        return value

    parse.__name__ = type(spec.default).__name__  # argparse names the type in its error messages
    return parse


def _metavar(spec: OptionSpec) -> str | None:
    if spec.choices:
        return None  # argparse lists them
    if spec.is_file:
        return "FILE"
    return {int: "N", float: "X"}.get(type(spec.default), "VALUE")


def add_derain_arguments(parser: argparse.ArgumentParser) -> None:
    """Add one flag per derain option (backend, model files, precision, device, sizes, TensorRT, rain gate)."""
    group = parser.add_argument_group("how to derain")
    for spec in DERAIN_OPTIONS:
        if isinstance(spec.default, bool):
            group.add_argument(spec.cli_flag, dest=spec.name, action="store_true", help=spec.help)
            continue
        default = f" (default: {spec.default})" if spec.default != "" else ""
        group.add_argument(
            spec.cli_flag,
            dest=spec.name,
            default=spec.default,
            type=str if isinstance(spec.default, str) else _ranged(spec),
            choices=spec.choices or None,
            metavar=_metavar(spec),
            help=spec.help + default.replace("%", "%%"),
        )


def derain_settings(parser: argparse.ArgumentParser, args: argparse.Namespace) -> DerainSettings:
    """The settings the parsed flags ask for; contradicting ones (rain gate levels) end in ``parser.error``."""
    try:
        return DerainSettings.from_values({spec.name: getattr(args, spec.name) for spec in DERAIN_OPTIONS})
    except ValueError as err:
        parser.error(str(err))


def configure_logging(verbose: bool = False) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("onnx_ir").setLevel(logging.WARNING)  # one INFO line per folded initializer when exporting
