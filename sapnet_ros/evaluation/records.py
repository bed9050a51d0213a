"""What the evaluation measures: one record per frame, one result per bag, and their summaries.

A ``FrameRecord`` keeps each family of figures in a dict keyed by variant
("rainy", "derained", "clean"), so a new per-frame figure is one field here and
one line in ``summarize``; everything reaches metrics.json through ``as_dict``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from sapnet_ros.evaluation import noreference
from sapnet_ros.evaluation.detectors import Agreement
from sapnet_ros.gate.rain_gate import GateDecision
from sapnet_ros.metrics import Quality, mean_quality

RAINY, DERAINED, CLEAN = "rainy", "derained", "clean"


@dataclass(frozen=True)
class DetectionStats:
    """Detections on one frame: how many and their mean score (None without any)."""

    count: int
    mean_score: float | None


@dataclass
class FrameRecord:
    """Everything measured on one frame of the image topic; a family is empty where it was not measured.

    Attributes:
        index: position on the image topic, from 0.
        stamp_ns: the message's header stamp.
        time_s: its log time, seconds from the start of the bag.
        latency_ms: Derainer pre-processing + inference + post-processing (the
            frame's share when frames were batched).
        inference_ms: the backend's part of ``latency_ms``.
        quality: variant (rainy, derained) -> PSNR/SSIM against the ground truth.
        no_reference: variant (rainy, derained) -> BRISQUE (lower is better).
        detections: variant (rainy, derained, clean) -> detection count and mean score.
        agreement: variant (rainy, derained) -> matches with the clean frame's detections.
        change: variant (rainy, derained) -> mean absolute luma change from the
            topic's previous frame, 8-bit levels (``metrics.flicker`` of the
            pair); none on the first frame or after a size change.
        gate: what the rain gate did with the frame (level, state, derained
            weight, switch); None without a gate.
    """

    index: int
    stamp_ns: int
    time_s: float
    latency_ms: float
    inference_ms: float
    quality: dict[str, Quality] = field(default_factory=dict)
    no_reference: dict[str, float] = field(default_factory=dict)
    detections: dict[str, DetectionStats] = field(default_factory=dict)
    agreement: dict[str, Agreement] = field(default_factory=dict)
    change: dict[str, float] = field(default_factory=dict)
    gate: GateDecision | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Thumbnail:
    """A side-by-side PNG (rainy | derained [| clean]) of one of the best or worst frames."""

    kind: str  # "best" or "worst"
    index: int
    stamp_ns: int
    score: float  # what frames were ranked by (see BagResult.ranking)
    png: bytes


@dataclass
class BagResult:
    """One bag's evaluation: what was read and written, the per-frame records, and how it ended."""

    name: str
    source: str
    output_bag: str
    image_topic: str
    derained_topic: str
    gt_topic: str | None
    backend: dict[str, str]
    detector: str
    records: list[FrameRecord]
    skipped: dict[str, int]  # reason -> frames skipped for it
    frames_read: int  # image-topic messages read
    frames_total: int  # image-topic messages in the bag
    messages_read: int
    messages_total: int
    error: str | None  # why reading stopped early; what was read before is kept
    ranking: str  # what thumbnails are ranked by
    thumbnails: list[Thumbnail]
    wall_s: float

    def as_dict(self, summary: dict[str, Any]) -> dict[str, Any]:
        """Everything but the thumbnail images, plus ``summary`` (``summarize`` of the records), for metrics.json."""
        data = {key: value for key, value in vars(self).items() if key not in ("records", "thumbnails")}
        data["thumbnails"] = [{k: v for k, v in asdict(t).items() if k != "png"} for t in self.thumbnails]
        data["summary"] = summary
        data["frames"] = [record.as_dict() for record in self.records]
        return data


def spread(values: list[float]) -> dict[str, float] | None:
    """Median, 95th percentile, maximum and mean of ``values`` (None if empty)."""
    if not values:
        return None
    array = np.asarray(values, np.float64)
    return {
        "median": float(np.median(array)),
        "p95": float(np.percentile(array, 95)),
        "max": float(array.max()),
        "mean": float(array.mean()),
    }


def _mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


def _quality(paired: list[FrameRecord], variant: str) -> dict[str, float]:
    return mean_quality([r.quality[variant] for r in paired]).as_dict()


def _detections(records: list[FrameRecord], variant: str) -> dict[str, float | int | None]:
    stats = [r.detections[variant] for r in records if variant in r.detections]
    scores = [s.mean_score * s.count for s in stats if s.mean_score is not None]
    total = sum(s.count for s in stats)
    return {
        "frames": len(stats),
        "total": total,
        "per_frame": total / len(stats) if stats else None,
        "mean_score": sum(scores) / total if total else None,
    }


def _agreement(records: list[FrameRecord], variant: str) -> dict[str, float | int | None]:
    total = sum((r.agreement[variant] for r in records if variant in r.agreement), Agreement())
    return {**asdict(total), "precision": total.precision, "recall": total.recall, "f1": total.f1}


def summarize(records: list[FrameRecord]) -> dict[str, Any]:
    """Bag-level figures from per-frame records; means over the frames where each was measured."""
    paired = [r for r in records if r.quality]
    summary: dict[str, Any] = {
        "frames": len(records),
        "latency_ms": spread([r.latency_ms for r in records]),
        "inference_ms": spread([r.inference_ms for r in records]),
        "paired_frames": len(paired),
    }
    if paired:
        rainy, derained = _quality(paired, RAINY), _quality(paired, DERAINED)
        gain = {key: derained[key] - rainy[key] for key in rainy}
        summary["quality"] = {RAINY: rainy, DERAINED: derained, "gain": gain}
    scored = [r for r in records if r.no_reference]
    if scored:
        summary["no_reference"] = {
            "metric": f"{noreference.NAME} (lower is better)",
            "frames": len(scored),
            **{v: _mean([r.no_reference[v] for r in scored]) for v in (RAINY, DERAINED)},
        }
    changed = [r for r in records if r.change]
    if changed:
        summary["flicker"] = {
            "metric": "mean absolute luma change between consecutive frames (8-bit levels)",
            "frames": len(changed),
            **{v: _mean([r.change[v] for r in changed]) for v in (RAINY, DERAINED)},
        }
    if any(r.detections for r in records):
        summary["detections"] = {v: _detections(records, v) for v in (RAINY, DERAINED, CLEAN)}
    if any(r.agreement for r in records):
        summary["agreement"] = {v: _agreement(records, v) for v in (RAINY, DERAINED)}
    gated = [r.gate for r in records if r.gate is not None]
    if gated:
        summary["gate"] = {
            "frames": len(gated),
            "derained_share": sum(d.weight > 0 for d in gated) / len(gated),
            "switches": sum(d.switched for d in gated),
            "level": spread([d.level for d in gated]),
        }
    return summary
