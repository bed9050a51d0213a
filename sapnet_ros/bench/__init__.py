"""``sapnet-bench``: one command, independent sections, one JSON.

A section is a module with two functions:

- ``run(config: BenchConfig) -> dict``: measure, return JSON-able figures;
- ``render(result: dict) -> str``: those figures as text (Markdown tables).

``bench/cli.py`` lists the sections (``SECTIONS``); ``--only`` picks some.
Every figure is measured in the same run as the figures it is compared with.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sapnet_ros.backends import BackendOptions
from sapnet_ros.backends.engine_cache import Size, format_size
from sapnet_ros.settings import DerainSettings

DEFAULT_SIZES: tuple[Size, ...] = ((240, 320), (480, 640), (720, 1280))


@dataclass(frozen=True)
class BenchConfig:
    """What every section measures with.

    Attributes:
        sizes: frame sizes, (height, width).
        repeats: timed frames per measurement (the median is reported).
        warmup: untimed frames before them.
        threads: CPU threads per backend; 0 = library default.
        device: "auto", "cpu" or "cuda[:N]"; GPU variants run only on a GPU.
        quality_size: (height, width) of the paired photos for quality figures.
        variants: "backend:precision" names to measure; empty = every one
            available (PyTorch fp32, the reference, is always measured).
        minutes: how long the soak section overloads the node.
    """

    sizes: tuple[Size, ...] = DEFAULT_SIZES
    repeats: int = 3
    warmup: int = 1
    threads: int = 0
    device: str = "auto"
    quality_size: Size = (480, 640)
    variants: tuple[str, ...] = ()
    minutes: float = 1.0

    def size_or(self, preferred: Size, otherwise: Size | None = None) -> Size:
        """``preferred`` if it is among ``sizes``, else ``otherwise`` (default: the first size asked for)."""
        if preferred in self.sizes:
            return preferred
        return self.sizes[0] if otherwise is None else otherwise

    def auto_settings(self) -> DerainSettings:
        """The path derain_node runs by default (backend and precision auto) on this device and threads."""
        return DerainSettings(options=BackendOptions(precision="auto", device=self.device, threads=self.threads))


def cpuinfo_text() -> str:
    """``/proc/cpuinfo``, or "" where there is none (not Linux): callers fall back as if nothing matched."""
    path = Path("/proc/cpuinfo")
    return path.read_text() if path.is_file() else ""


def elapsed_ms(step: Callable[[], object]) -> float:
    """Wall milliseconds of one call of ``step``."""
    started = time.perf_counter()
    step()
    return (time.perf_counter() - started) * 1e3


def times_ms(step: Callable[[], object], repeats: int) -> list[float]:
    """Wall milliseconds of ``repeats`` calls of ``step``; warming up is the caller's (it differs per step)."""
    return [elapsed_ms(step) for _ in range(repeats)]


def median_ms(step: Callable[[], object], repeats: int) -> float:
    """Median wall milliseconds of ``repeats`` calls of ``step``."""
    return statistics.median(times_ms(step, repeats))


def table(headers: list[str], rows: list[list[str]]) -> str:
    """A Markdown table (readable in a terminal, pasteable into the README)."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]
    lines = [
        "| " + " | ".join(str(cell).ljust(width) for cell, width in zip(line, widths, strict=True)) + " |"
        for line in [headers, ["-" * width for width in widths], *rows]
    ]
    return "\n".join(lines)


__all__ = [
    "DEFAULT_SIZES",
    "BenchConfig",
    "Size",
    "cpuinfo_text",
    "elapsed_ms",
    "format_size",
    "median_ms",
    "table",
    "times_ms",
]
