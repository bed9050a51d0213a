"""The evaluation's outputs: ``metrics.json`` (every figure), ``report.md`` and a self-contained ``report.html``.

Both reports are rendered from one list of blocks (headings, text, tables,
figures), so they always say the same thing. Plots are drawn with matplotlib's
Agg canvas (no display, no global pyplot state); the HTML embeds them and the
thumbnails as base64 PNG, the Markdown links the same PNGs under ``plots/``
and ``thumbnails/``.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure as MplFigure
from matplotlib.ticker import MaxNLocator

from sapnet_ros import __version__
from sapnet_ros.evaluation import noreference
from sapnet_ros.evaluation.fleet import BagFailure
from sapnet_ros.evaluation.records import CLEAN, DERAINED, RAINY, BagResult, spread, summarize
from sapnet_ros.io.atomic import write_atomic

REPORT_FILES = ("metrics.json", "report.md", "report.html", "plots", "thumbnails")
COLOURS = {RAINY: "#888888", DERAINED: "#1f77b4", CLEAN: "#2ca02c"}


@dataclass(frozen=True)
class Heading:
    level: int
    text: str


@dataclass(frozen=True)
class Text:
    text: str


@dataclass(frozen=True)
class Table:
    header: list[str]
    rows: list[list[str]]


@dataclass(frozen=True)
class Figure:
    caption: str
    path: str  # relative to the report
    png: bytes


Block = Heading | Text | Table | Figure


def fmt(value: float | int | None, digits: int = 2, unit: str = "") -> str:
    """A number for a table; ``n/a`` where it was not measured."""
    if value is None:
        return "n/a"
    if isinstance(value, int):
        return f"{value}{unit}"
    return f"{value:.{digits}f}{unit}" if math.isfinite(value) else str(value)


def finite(data: Any) -> Any:
    """``data`` with non-finite floats (PSNR of identical images) as None, for strict JSON."""
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {key: finite(value) for key, value in data.items()}
    if isinstance(data, list | tuple):
        return [finite(value) for value in data]
    return data


def _png(figure: MplFigure) -> bytes:
    buffer = io.BytesIO()
    FigureCanvasAgg(figure).print_png(buffer)
    return buffer.getvalue()


def plots(result: BagResult) -> dict[str, tuple[str, bytes]]:
    """The bag's plots: name -> (caption, PNG)."""
    records = result.records
    index = [r.index for r in records]
    drawn: dict[str, tuple[str, bytes]] = {}
    shown = [r for r in records if r.quality]
    if shown:
        ylabel, what = "PSNR RGB (dB)", "PSNR against ground truth"
        series = {variant: [r.quality[variant].psnr_rgb for r in shown] for variant in (RAINY, DERAINED)}
    else:
        shown = [r for r in records if r.no_reference]
        ylabel, what = f"{noreference.NAME} (lower is better)", f"{noreference.NAME} (no reference)"
        series = {variant: [r.no_reference[variant] for r in shown] for variant in (RAINY, DERAINED)}
    if shown:
        figure = MplFigure(figsize=(7, 2.6), dpi=100, layout="constrained")
        axes = figure.add_subplot()
        for variant, values in series.items():
            axes.plot([r.index for r in shown], values, ".-", color=COLOURS[variant], label=variant)
        axes.set(xlabel="frame", ylabel=ylabel)
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.legend(loc="best", fontsize="small")
        axes.grid(alpha=0.3)
        drawn["quality"] = (f"Per-frame {what}, rainy and derained", _png(figure))
    if records:
        figure = MplFigure(figsize=(7, 2.6), dpi=100, layout="constrained")
        axes = figure.add_subplot()
        latencies = [r.latency_ms for r in records]
        axes.hist(latencies, bins=min(30, max(5, len(latencies) // 2)), color=COLOURS[DERAINED])
        latency = spread(latencies)
        assert latency is not None  # there are records
        for key, style in (("median", "-"), ("p95", "--")):
            axes.axvline(latency[key], color="black", linestyle=style, label=f"{key} {latency[key]:.1f} ms")
        axes.set(xlabel="latency per frame (ms)", ylabel="frames")
        axes.legend(loc="best", fontsize="small")
        drawn["latency"] = ("Deraining latency per frame (pre-processing + inference + post-processing)", _png(figure))
    gated = [(r.index, r.gate) for r in records if r.gate is not None]
    if gated:
        figure = MplFigure(figsize=(7, 2.6), dpi=100, layout="constrained")
        axes = figure.add_subplot()
        frames = [frame for frame, _ in gated]
        axes.plot(frames, [d.level for _, d in gated], ".", color=COLOURS[RAINY], label="rain level")
        axes.plot(frames, [d.smoothed for _, d in gated], "-", color="black", label="smoothed")
        axes.plot(frames, [d.weight for _, d in gated], "-", color=COLOURS[DERAINED], label="derained share")
        axes.set(xlabel="frame", ylabel="level / share", ylim=(-0.05, 1.05))
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.legend(loc="best", fontsize="small")
        axes.grid(alpha=0.3)
        drawn["gate"] = ("Rain gate: each frame's rain level, its moving average and the derained share", _png(figure))
    if any(r.detections for r in records):
        figure = MplFigure(figsize=(7, 2.6), dpi=100, layout="constrained")
        axes = figure.add_subplot()
        for variant in (RAINY, DERAINED, CLEAN):
            counts = [r.detections[variant].count if variant in r.detections else math.nan for r in records]
            if any(not math.isnan(c) for c in counts):
                axes.plot(index, counts, ".-", color=COLOURS[variant], label=variant)
        axes.set(xlabel="frame", ylabel="detections")
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.yaxis.set_major_locator(MaxNLocator(integer=True))
        axes.legend(loc="best", fontsize="small")
        axes.grid(alpha=0.3)
        drawn["detections"] = (f"Detections per frame ({result.detector})", _png(figure))
    return drawn


def _summary_row(name: str, summary: dict[str, Any], status: str) -> list[str]:
    quality, nr = summary.get("quality"), summary.get("no_reference")
    latency, found = summary["latency_ms"] or {}, summary.get("detections")
    return [
        name,
        str(summary["frames"]),
        f"{fmt(quality[RAINY]['psnr_rgb'])} → {fmt(quality[DERAINED]['psnr_rgb'])}" if quality else "n/a",
        f"{fmt(nr[RAINY], 1)} → {fmt(nr[DERAINED], 1)}" if nr else "n/a",
        f"{fmt(latency.get('median'), 1)} / {fmt(latency.get('p95'), 1)}",
        f"{fmt(found[RAINY]['per_frame'])} → {fmt(found[DERAINED]['per_frame'])}" if found else "n/a",
        status,
    ]


def _status(result: BagResult) -> str:
    if result.error:
        return f"stopped early after {result.frames_read} of {result.frames_total} frames"
    skipped = sum(result.skipped.values())
    return f"ok, {skipped} skipped" if skipped else "ok"


def _bag_blocks(result: BagResult, summary: dict[str, Any], names: dict[str, str]) -> list[Block]:
    blocks: list[Block] = [
        Heading(2, result.name),
        Text(
            f"Bag `{result.source}` → `{result.output_bag}`; `{result.image_topic}` derained onto "
            f"`{result.derained_topic}`"
            + (f", ground truth `{result.gt_topic}`" if result.gt_topic else ", no ground truth")
            + f". Backend {result.backend['name']} ({result.backend['device']}, {result.backend['precision']}), "
            f"detector {result.detector}. {len(result.records)} of {result.frames_total} frames derained, "
            f"{result.messages_read} of {result.messages_total} messages read, {result.wall_s:.1f} s."
        ),
    ]
    if result.error:
        blocks.append(Text(f"**Stopped early**: {result.error}. Everything read before is in the output bag."))
    for reason, count in result.skipped.items():
        blocks.append(Text(f"Skipped {count}: {reason}."))
    if quality := summary.get("quality"):
        rows = [
            [
                label,
                fmt(quality[RAINY][key], digits),
                fmt(quality[DERAINED][key], digits),
                fmt(quality["gain"][key], digits),
            ]
            for label, key, digits in (
                ("PSNR RGB (dB)", "psnr_rgb", 2),
                ("SSIM RGB", "ssim_rgb", 4),
                ("PSNR Y, BT.601 (dB)", "psnr_y", 2),
                ("SSIM Y, BT.601", "ssim_y", 4),
            )
        ]
        blocks += [Text(f"Against ground truth, mean of {summary['paired_frames']} paired frames:"),
                   Table(["metric", "rainy", "derained", "gain"], rows)]  # fmt: skip
    if nr := summary.get("no_reference"):
        blocks += [
            Table(["no-reference metric", "rainy", "derained"], [[nr["metric"], fmt(nr[RAINY]), fmt(nr[DERAINED])]]),
            Text(BRISQUE_SCALE),
        ]
    if change := summary.get("flicker"):
        row = [f"flicker: {change['metric']}, mean of {change['frames']} frames", fmt(change[RAINY]),
               fmt(change[DERAINED])]  # fmt: skip
        blocks.append(Table(["temporal stability", "rainy", "derained"], [row]))
    rows = [
        [label] + [fmt((summary[key] or {}).get(stat), 1) for stat in ("median", "p95", "max", "mean")]
        for label, key in (("latency per frame (ms)", "latency_ms"), ("of which inference (ms)", "inference_ms"))
    ]
    blocks.append(Table(["", "median", "p95", "max", "mean"], rows))
    if gate := summary.get("gate"):
        level = gate["level"]
        row = [str(gate["frames"]), f"{100 * gate['derained_share']:.0f} %", str(gate["switches"]),
               fmt(level["mean"]), fmt(level["median"]), fmt(level["max"])]  # fmt: skip
        blocks.append(Table(["rain gate: frames", "derained", "switches", "mean level", "median", "max"], [row]))
    if found := summary.get("detections"):
        blocks += _detection_blocks(result.detector, found, summary.get("agreement", {}))
    for name, (caption, png) in plots(result).items():
        blocks.append(Figure(caption, f"plots/{names[result.name]}-{name}.png", png))
    for thumb in result.thumbnails:
        panels = "rainy | derained" + (" | clean" if result.gt_topic else "")
        caption = f"{thumb.kind}: frame {thumb.index} ({panels}), {result.ranking} {thumb.score:+.2f}"
        path = f"thumbnails/{names[result.name]}-{thumb.kind}-frame{thumb.index}.png"
        blocks.append(Figure(caption, path, thumb.png))
    return blocks


BRISQUE_SCALE = (
    "BRISQUE scores naturalness without a reference: lower is better, about 0-100 on ordinary photos; "
    "very clean or smooth frames (such as derained ones) can score below 0, which is not an error."
)
AGREEMENT = ("precision", "recall", "f1")


def _detection_blocks(detector: str, found: dict[str, Any], agree: dict[str, Any]) -> list[Block]:
    """The detector table; precision/recall/F1 only with ground truth, and a plain sentence when it found nothing."""
    variants = [variant for variant in (RAINY, DERAINED, CLEAN) if found[variant]["frames"]]
    if not any(found[variant]["per_frame"] for variant in variants):
        return [Text(f"Detector {detector} found nothing in any frame (rainy or derained), so it tells nothing here.")]
    with_truth = any(variant in agree for variant in variants)
    rows = [
        [variant, fmt(found[variant]["per_frame"]), fmt(found[variant]["mean_score"])]
        + ([fmt(agree[variant][k], 3) if variant in agree else "" for k in AGREEMENT] if with_truth else [])
        for variant in variants
    ]
    header = ["on frames", "detections per frame", "mean score"] + (["precision", "recall", "F1"] if with_truth else [])
    caption = (
        "agreement with the clean frames' detections at IoU 0.5:"
        if with_truth
        else "without ground truth there is nothing to score precision and recall against:"
    )
    return [Text(f"Detector {detector}; {caption}"), Table(header, rows)]


def build(
    results: Sequence[BagResult],
    summaries: Sequence[dict[str, Any]],
    overall: dict[str, Any],
    failures: Sequence[BagFailure],
    names: dict[str, str],
) -> list[Block]:
    """The report's blocks: a summary over bags, then one section per bag.

    ``summaries`` are ``summarize`` of each result's records, ``overall`` of all of them.
    """
    header = ["bag", "frames", "PSNR RGB dB rainy → derained", "BRISQUE rainy → derained",
              "latency ms median / p95", "detections/frame rainy → derained", "status"]  # fmt: skip
    rows = [_summary_row(r.name, summary, _status(r)) for r, summary in zip(results, summaries, strict=True)]
    if len(results) > 1:
        rows.append(_summary_row("all bags", overall, ""))
    blocks: list[Block] = [Heading(1, "SAPNet deraining on recorded drives"), Table(header, rows)]
    blocks += [Text(f"**Failed** `{f.source}`: {f.error}") for f in failures]
    for result, summary in zip(results, summaries, strict=True):
        blocks += _bag_blocks(result, summary, names)
    return blocks


def to_markdown(blocks: list[Block]) -> str:
    lines: list[str] = []
    for block in blocks:
        if isinstance(block, Heading):
            lines += [f"{'#' * block.level} {block.text}", ""]
        elif isinstance(block, Text):
            lines += [block.text, ""]
        elif isinstance(block, Table):
            lines += ["| " + " | ".join(block.header) + " |", "|" + " --- |" * len(block.header)]
            lines += ["| " + " | ".join(row) + " |" for row in block.rows] + [""]
        else:
            lines += [f"![{block.caption}]({block.path})", f"*{block.caption}*", ""]
    return "\n".join(lines)


def _inline(text: str) -> str:
    """Escape, then render the two Markdown marks the blocks use: `code` and **bold**."""
    parts = html.escape(text).split("`")
    text = "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))
    parts = text.split("**")
    return "".join(f"<strong>{p}</strong>" if i % 2 else p for i, p in enumerate(parts))


STYLE = """body{font-family:system-ui,sans-serif;max-width:72rem;margin:2rem auto;padding:0 1rem;color:#222}
table{border-collapse:collapse;margin:.5rem 0 1rem}td,th{border:1px solid #ccc;padding:.25rem .6rem;text-align:right}
td:first-child,th:first-child{text-align:left}th{background:#f3f3f3}figure{margin:1rem 0}
figcaption{font-size:.9rem;color:#555}img{max-width:100%}code{background:#f3f3f3;padding:0 .2rem}"""


def to_html(blocks: list[Block], title: str) -> str:
    body: list[str] = []
    for block in blocks:
        if isinstance(block, Heading):
            body.append(f"<h{block.level}>{html.escape(block.text)}</h{block.level}>")
        elif isinstance(block, Text):
            body.append(f"<p>{_inline(block.text)}</p>")
        elif isinstance(block, Table):
            head = "".join(f"<th>{html.escape(h)}</th>" for h in block.header)
            rows = "".join("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in row) + "</tr>" for row in block.rows)
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
        else:
            data = base64.b64encode(block.png).decode("ascii")
            body.append(
                f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(block.caption)}">'
                f"<figcaption>{html.escape(block.caption)}</figcaption></figure>"
            )
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{STYLE}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n"
    )


def file_names(results: Sequence[BagResult]) -> dict[str, str]:
    """Bag name -> a name safe in file names."""
    return {r.name: "".join(c if c.isalnum() or c in "-_." else "_" for c in r.name) for r in results}


def write_report(
    output: Path, results: Sequence[BagResult], failures: Sequence[BagFailure], settings: dict[str, Any]
) -> Path:
    """Write metrics.json, report.md, report.html, plots/ and thumbnails/; returns the HTML path.

    Args:
        output: the folder (existing); files of an earlier report there are replaced.
        results: the bags evaluated, in the order shown.
        failures: bags that could not be evaluated, listed at the top.
        settings: the command line's resolved options, recorded in metrics.json.
    """
    names = file_names(results)
    summaries = [summarize(r.records) for r in results]
    overall = summarize([record for r in results for record in r.records])
    blocks = build(results, summaries, overall, failures, names)
    for block in blocks:
        if isinstance(block, Figure):
            (output / block.path).parent.mkdir(parents=True, exist_ok=True)
            write_atomic(output / block.path, block.png)
    metrics = {
        "tool": "sapnet-eval-bag",
        "version": __version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "settings": settings,
        "overall": overall,
        "bags": [r.as_dict(summary) for r, summary in zip(results, summaries, strict=True)],
        "failed": [vars(f) for f in failures],
    }
    write_atomic(output / "metrics.json", json.dumps(finite(metrics), indent=1, allow_nan=False).encode())
    write_atomic(output / "report.md", to_markdown(blocks).encode())
    write_atomic(output / "report.html", to_html(blocks, "SAPNet deraining report").encode())
    return output / "report.html"
