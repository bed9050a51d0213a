"""sapnet-distill: warm starts from the teacher, deterministic batches, a tiny run that learns, resume, hand-off."""

import shutil
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from sapnet_ros.model.network import Architecture, SAPNet
from sapnet_ros.model.weights import load_model, read_weights
from sapnet_ros.training import distill
from sapnet_ros.training.distill import DistillConfig, Distiller, distill_loss, sample_batch, warm_start

TINY = DistillConfig(
    stages=1, channels=4, steps=12, batch_size=2, patch_size=24, lr=2e-3, image_side=40, variants=1,
    val_every=6, onnx=False,
)  # fmt: skip


def test_truncated_student_is_the_teacher_with_fewer_stages() -> None:
    weights = read_weights()
    student = SAPNet.build(Architecture(stages=2))
    student.load_state_dict(warm_start(weights.state_dict, weights.architecture, Architecture(stages=2)))
    batch = torch.rand(1, 3, 20, 24)
    with torch.inference_mode():
        assert torch.equal(student(batch), load_model(stages=2)[0](batch))


def test_pruned_student_keeps_the_most_important_channels() -> None:
    weights = read_weights()
    pruned = warm_start(weights.state_dict, weights.architecture, Architecture(stages=2, channels=16))
    SAPNet(2, 16).load_state_dict(pruned)  # strict: every key, every shape
    kept = [
        c
        for c in range(32)
        if any(torch.equal(pruned["conv0.0.bias"][i], weights.state_dict["conv0.0.bias"][c]) for i in range(16))
    ]
    assert len(kept) == 16
    assert torch.equal(
        pruned["conv_i.0.weight"][:, 16:], weights.state_dict["conv_i.0.weight"][kept][:, [32 + c for c in kept]]
    )
    with pytest.raises(ValueError, match="cannot warm-start"):
        warm_start(weights.state_dict, weights.architecture, Architecture(channels=16, separable=True))


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory, monkeypatch_module: pytest.MonkeyPatch) -> Distiller:
    monkeypatch_module.setattr(distill, "TRAIN_PHOTOS", ("chelsea", "camera", "coins"))
    config = replace(TINY, run_dir=str(tmp_path_factory.mktemp("distill")))
    distiller = Distiller(config)
    distiller.fit()
    return distiller


@pytest.fixture(scope="module")
def monkeypatch_module() -> pytest.MonkeyPatch:
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def test_batches_depend_on_seed_and_step_alone(tiny_run: Distiller) -> None:
    first = sample_batch(tiny_run.cache, 5, 0, 2, 24)
    again = sample_batch(tiny_run.cache, 5, 0, 2, 24)
    other = sample_batch(tiny_run.cache, 6, 0, 2, 24)
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    assert not torch.equal(first[0], other[0])
    assert first[0].shape == (2, 3, 24, 24) and bool(first[3].all())  # synthesized pairs carry ground truth


def test_tiny_run_reduces_the_distillation_loss(tiny_run: Distiller) -> None:
    fresh = Distiller(replace(tiny_run.config, steps=0))  # the same warm start, untrained
    rainy, teacher, clean, has_clean = sample_batch(tiny_run.cache, 10_000, 1, 8, 24)  # a batch never trained on
    with torch.no_grad():
        before = distill_loss(fresh.student.stage_estimates(rainy)[-1], teacher, clean, has_clean, 0.5)
        after = distill_loss(tiny_run.student.stage_estimates(rainy)[-1], teacher, clean, has_clean, 0.5)
    assert float(after) < 0.8 * float(before)


def test_hand_off_records_the_architecture_and_the_run(tiny_run: Distiller) -> None:
    exported = read_weights(Path(tiny_run.config.run_dir) / "export" / "sapnet.safetensors")
    assert exported.architecture == Architecture(stages=1, channels=4)
    assert '"program": "sapnet-distill"' in exported.metadata["training_config"]
    assert exported.metadata["source"].startswith("sapnet-distill run")
    assert [entry["step"] for entry in tiny_run.history] == [0, 6, 12]


def test_resume_continues_exactly(tiny_run: Distiller, tmp_path: Path) -> None:
    shutil.copy(Path(tiny_run.config.run_dir) / distill.CACHE_NAME, tmp_path / distill.CACHE_NAME)
    config = replace(tiny_run.config, run_dir=str(tmp_path))
    straight = Distiller(config)
    for _ in range(3):
        straight.train_step()
    straight.save()
    for _ in range(3):
        straight.train_step()
    resumed = Distiller(config, distill.load_checkpoint(tmp_path / "checkpoints" / "last.pt"))
    assert resumed.step == 3
    for _ in range(3):
        resumed.train_step()
    for key, value in straight.student.state_dict().items():
        assert torch.equal(value, resumed.student.state_dict()[key]), key


def test_command_line_names_what_differs_from_the_defaults() -> None:
    config = DistillConfig(run_dir="r", channels=16, steps=1400, lr=1e-3, unlabelled=["frames"], onnx=False)
    expected = "sapnet-distill --run-dir r --channels 16 --steps 1400 --lr 0.001 --unlabelled frames --no-onnx"
    assert distill.command_line(config) == expected


def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as ended:
        distill.main(["--run-dir", str(tmp_path), "--ship", "sapnet-s", "--models-dir", str(tmp_path / "models")])
    assert ended.value.code == 2 and "checkpoint not found" in capsys.readouterr().err
    assert not (tmp_path / "models").exists()
    with pytest.raises(SystemExit) as ended:
        distill.main(["--run-dir", str(tmp_path), "--stages", "0"])
    assert ended.value.code == 2 and "stages must be >= 1" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())  # nothing half-written
