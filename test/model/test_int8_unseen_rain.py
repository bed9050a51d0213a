"""int8 against fp32 on rain its calibration never saw (a small paired set): the bound, and auto's choice."""

from __future__ import annotations

import pytest

from sapnet_ros import resources
from sapnet_ros.model.artifacts import MAX_GT_LOSS_DB, MAX_WORST_LOSS_DB, int8_model_path, quality_holds
from sapnet_ros.model.fidelity import SetFidelity, set_fidelity
from sapnet_ros.synthesis import physical, sets


@pytest.fixture(scope="module")
def unseen() -> SetFidelity:
    """The shipped int8 model on three held-out photo crops, each with another held-out physical style, 120x160."""
    scenes = sets.clean_scenes("eval", (120, 160))[0:9:3]  # coffee, rocket, chelsea
    frames = tuple(
        sets.Frame(name, physical.apply_style(scene, sets.EVAL_PHYSICAL[index], seed=index), scene, True)
        for index, (name, scene) in enumerate(scenes)
    )
    found = int8_model_path()
    assert found is not None
    (result,) = set_fidelity(resources.default_onnx(), found[0], [sets.EvalSet("unseen", "test", frames)])
    return result


def _bound_holds(result: SetFidelity) -> bool:
    means = (result.loss_mean_rgb_db, result.loss_mean_y_db)
    worst = (result.loss_worst_rgb_db, result.loss_worst_y_db)
    return max(means) <= MAX_GT_LOSS_DB and max(worst) <= MAX_WORST_LOSS_DB


def test_auto_never_picks_an_int8_model_that_misses_the_bound_on_unseen_rain(unseen: SetFidelity) -> None:
    found = int8_model_path()
    assert found is not None and unseen.frames == 3
    assert _bound_holds(unseen) or not quality_holds(found[1]), unseen


@pytest.mark.xfail(strict=True, reason="goal not met: docs/generalisation.md (0.2-0.6 dB lost on unseen styles)")
def test_goal_int8_keeps_fp32_quality_on_unseen_rain(unseen: SetFidelity) -> None:
    """The issue's bound; strict: it reports when a shipped int8 model meets it."""
    assert _bound_holds(unseen), unseen
