"""The shipped int8 model keeps fp32's quality on rain its calibration never saw (a small paired set)."""

from __future__ import annotations

from sapnet_ros import resources
from sapnet_ros.model.fidelity import set_fidelity
from sapnet_ros.model.quantize import MAX_GT_LOSS_DB, MAX_WORST_LOSS_DB, int8_model_path
from sapnet_ros.synthesis import physical, sets


def test_int8_loses_at_most_the_bound_on_held_out_styles_and_scenes() -> None:
    """Three held-out scenes, each with another held-out physical style, at 120x160 (seconds on a CPU)."""
    scenes = sets.clean_scenes("eval", (120, 160))[::6][:3]
    styles = sets.EVAL_PHYSICAL
    frames = tuple(
        sets.Frame(name, physical.apply_style(scene, styles[index], seed=index), scene, True)
        for index, (name, scene) in enumerate(scenes)
    )
    found = int8_model_path()
    assert found is not None
    (result,) = set_fidelity(resources.default_onnx(), found[0], [sets.EvalSet("unseen", "test", frames)])
    assert result.frames == 3 and result.gain_rgb_db > 0  # fp32 derains these: the comparison means something
    assert result.loss_mean_rgb_db <= MAX_GT_LOSS_DB and result.loss_mean_y_db <= MAX_GT_LOSS_DB, result
    assert result.loss_worst_rgb_db <= MAX_WORST_LOSS_DB and result.loss_worst_y_db <= MAX_WORST_LOSS_DB, result
