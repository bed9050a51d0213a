"""Rain the project never tuned on: the rain gate's recall and false opens, int8's loss and fp32's gain, per set.

The sets (``synthesis/sets.py``) keep apart what trained the estimator and
calibrated int8 from what is scored here: held-out styles of the physical
rain model, the project's rain over unseen scenes, dry unseen scenes
(rain-like textures included) and real rainy photos (fetched data; skipped
with a note when absent). Per set it reports the share of frames that would
open the gate (``level >= open_level``: recall on rain, false opens on dry),
the fp32 model's gain over the rainy input against ground truth, and what
int8 loses against fp32, both against ground truth: mean and worst frame, RGB
and Y. Everything runs on ONNX Runtime's CPU provider at the sets' size.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from sapnet_ros import resources
from sapnet_ros.bench import BenchConfig, table
from sapnet_ros.gate.estimator import RainEstimator
from sapnet_ros.gate.rain_gate import GateSettings
from sapnet_ros.model.artifacts import MAX_GT_LOSS_DB, MAX_WORST_LOSS_DB, int8_model_path, sets_hold
from sapnet_ros.model.fidelity import set_fidelity
from sapnet_ros.model.quantize import SET_FRAMES
from sapnet_ros.synthesis import sets

RECALL_GOAL = 0.95
FALSE_OPEN_GOAL = 0.05


def gate_figures(estimator: RainEstimator, evaluation_set: sets.EvalSet, open_level: float) -> dict[str, Any]:
    """Share of the set's frames at or above ``open_level``, and their levels' mean and extremes."""
    levels = np.array(estimator.levels([frame.image for frame in evaluation_set.frames]))
    rainy = evaluation_set.frames[0].rainy
    opened = levels >= open_level
    return {
        "frames": len(levels),
        "rainy": rainy,
        "opened": round(float(opened.mean()), 3),
        "mean_level": round(float(levels.mean()), 3),
        "extreme_level": round(float(levels.min() if rainy else levels.max()), 3),
        "missed" if rainy else "false_opens": [
            frame.name for frame, was_open in zip(evaluation_set.frames, opened, strict=True) if was_open != rainy
        ],
    }


def run(config: BenchConfig) -> dict[str, Any]:
    """``sapnet-bench`` section: gate and int8 figures on every evaluation set (the sets' own size, not ``sizes``)."""
    evaluation_sets = sets.evaluation_sets()
    notes = []
    if not any(s.name.startswith("real") for s in evaluation_sets):
        notes.append(
            f"real rainy photos skipped: none under {sets.data_dir() / sets.REAL_FOLDER} "
            "(scripts/fetch_generalisation_data.py fetches them)"
        )
    estimator = RainEstimator()
    open_level = GateSettings().open_level
    result: dict[str, Any] = {
        "estimator": str(estimator.path),
        "open_level": open_level,
        "sets": {s.name: {"source": s.source, "gate": gate_figures(estimator, s, open_level)} for s in evaluation_sets},
    }
    found = int8_model_path()
    if found is None:
        notes.append("int8 skipped: no int8 model for the shipped weights")
    else:
        for fidelity in set_fidelity(resources.default_onnx(), found[0], evaluation_sets, SET_FRAMES):
            result["sets"][fidelity.name]["int8"] = fidelity.as_dict()
        result["int8_model"] = str(found[0])
    result["notes"] = notes
    return result


def _gate_cell(gate: dict[str, Any]) -> str:
    goal = gate["opened"] >= RECALL_GOAL if gate["rainy"] else gate["opened"] <= FALSE_OPEN_GOAL
    kind = "recall" if gate["rainy"] else "false opens"
    return f"{kind} {100 * gate['opened']:.0f}%{'' if goal else ' (!)'}"


def render(result: dict[str, Any]) -> str:
    rows = []
    for name, entry in result["sets"].items():
        gate, int8 = entry["gate"], entry.get("int8")
        quality = ["-"] * 3
        if int8:
            holds = sets_hold({"quality_sets": json.dumps([int8])})
            quality = [
                f"{int8['gain_rgb_db']:+.2f} / {int8['gain_y_db']:+.2f}",
                f"{int8['loss_mean_rgb_db']:.3f} / {int8['loss_mean_y_db']:.3f}",
                f"{int8['loss_worst_rgb_db']:.3f} / {int8['loss_worst_y_db']:.3f}{'' if holds else ' (!)'}",
            ]
        rows.append([name, str(gate["frames"]), _gate_cell(gate), f"{gate['mean_level']:.2f}", *quality])
    headers = ["set", "frames", "gate", "mean level", "fp32 gain dB RGB / Y", "int8 loss mean RGB / Y",
               "int8 loss worst RGB / Y"]  # fmt: skip
    lines = [table(headers, rows)]
    lines.append(
        f"\ngoals: recall >= {RECALL_GOAL:.0%}, false opens <= {FALSE_OPEN_GOAL:.0%} (level >= "
        f"{result['open_level']}); int8 loss vs fp32 against ground truth <= {MAX_GT_LOSS_DB} dB mean, "
        f"<= {MAX_WORST_LOSS_DB} dB worst frame; (!) marks a miss"
    )
    lines += [f"note: {note}" for note in result["notes"]]
    return "\n".join(lines)
