import csv
import itertools
import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from sapnet_ros.errors import ConfigError
from sapnet_ros.io.images import read_image
from sapnet_ros.model.network import SAPNet
from sapnet_ros.model.weights import read_weights
from sapnet_ros.training.checkpoint import load_checkpoint
from sapnet_ros.training.config import save_config, to_dict
from sapnet_ros.training.losses import TrainingLoss
from sapnet_ros.training.train import TrainResult, main, train

from .training_helpers import tiny_config

WORKER = Path(__file__).parent / "ddp_worker.py"


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open() as stream:
        return list(csv.DictReader(stream))


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory, train_pairs: Path, val_pairs: Path) -> TrainResult:
    """4 epochs from scratch on whole 48x48 images (no flips, so every epoch sees the same pixels)."""
    run_dir = tmp_path_factory.mktemp("run")
    config = tiny_config(
        run_dir, train_pairs, f"data.val={val_pairs}", "data.patch_size=48", "data.flip=false",
        "optim.epochs=4", "log.samples=2", "log.tensorboard=true",
    )  # fmt: skip
    return train(config)


def test_short_run_lowers_loss_and_raises_validation_psnr(finished_run: TrainResult) -> None:
    run_dir = finished_run.exported[0].parent.parent
    losses = [(int(row["epoch"]), float(row["loss"])) for row in _rows(run_dir / "train.csv")]
    by_epoch = {epoch: np.mean([loss for e, loss in losses if e == epoch]) for epoch, _ in losses}
    assert len(losses) == finished_run.steps == 8
    assert by_epoch[4] < by_epoch[1]
    validation = _rows(run_dir / "val.csv")
    assert [int(row["epoch"]) for row in validation] == [0, 1, 2, 3, 4]
    start, end = float(validation[0]["psnr_rgb"]), float(validation[-1]["psnr_rgb"])
    assert end > start + 0.5, (start, end)
    assert finished_run.best is not None and finished_run.best["epoch"] > 0


def test_run_leaves_logs_samples_and_checkpoints(finished_run: TrainResult) -> None:
    run_dir = finished_run.exported[0].parent.parent
    assert sorted(p.name for p in (run_dir / "samples" / "epoch_004").iterdir()) == ["img0.png", "img1.png"]
    assert read_image(run_dir / "samples" / "epoch_004" / "img0.png").shape == (48, 3 * 48, 3)
    assert list((run_dir / "tensorboard").glob("events.out.tfevents.*"))
    assert {p.name for p in (run_dir / "checkpoints").iterdir()} == {"last.pt", "best.pt", "config.yaml"}
    last = load_checkpoint(run_dir / "checkpoints" / "last.pt")
    assert (last["epoch"], last["step"], last["step_in_epoch"]) == (4, 8, 0)
    assert {"model", "optimizer", "scheduler", "scaler", "rng", "config"} <= last.keys()


def test_hand_off_carries_config_and_metrics(finished_run: TrainResult) -> None:
    (exported,) = finished_run.exported
    weights = read_weights(exported)  # strict SAPNet check
    assert weights.stages == 1
    config = json.loads(weights.metadata["training_config"])
    metrics = json.loads(weights.metadata["training_metrics"])
    assert config["model"]["stages"] == 1 and config["optim"]["epochs"] == 4
    assert finished_run.best is not None
    assert metrics["psnr_y"] == pytest.approx(finished_run.best["metrics"]["psnr_y"])
    assert weights.metadata["base_weights_sha256"].startswith("none")
    best = load_checkpoint(exported.parent.parent / "checkpoints" / "best.pt")["model"]
    assert all(torch.equal(best[key], value) for key, value in weights.state_dict.items())


def test_resumed_run_matches_uninterrupted(tmp_path: Path, train_pairs: Path) -> None:
    common = ("optim.batch_size=2", "optim.epochs=2", "optim.milestones=[1]")
    full = train(tiny_config(tmp_path / "full", train_pairs, *common))
    interrupted = train(tiny_config(tmp_path / "resumed", train_pairs, *common, "optim.max_steps=3"))
    last = tmp_path / "resumed" / "checkpoints" / "last.pt"
    state = load_checkpoint(last)
    assert (interrupted.steps, state["epoch"], state["step_in_epoch"]) == (3, 0, 3)  # mid-epoch
    assert main(["--resume", str(last), "optim.max_steps=0"]) == 0  # the checkpoint's config, one override
    resumed = read_weights(tmp_path / "resumed" / "export" / "sapnet.safetensors").state_dict
    assert full.steps == 8
    for key, value in full.model.state_dict().items():
        assert torch.equal(value, resumed[key]), key


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(
    tmp_path: Path, train_pairs: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    original = TrainingLoss.forward
    calls = itertools.count(1)

    def poisoned(self: TrainingLoss, *args: Any) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        total, terms = original(self, *args)
        return (total * float("nan"), terms) if next(calls) == 3 else (total, terms)

    monkeypatch.setattr(TrainingLoss, "forward", poisoned)
    config = tiny_config(tmp_path, train_pairs, "optim.batch_size=2", "log.checkpoint_every=2")
    save_config(config, tmp_path / "config.yaml")
    with caplog.at_level(logging.ERROR):
        assert main(["--config", str(tmp_path / "config.yaml")]) == 1
    (message,) = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert "loss is nan at epoch 1, step 3" in message
    assert f"the last good checkpoint is {tmp_path / 'checkpoints' / 'last.pt'}" in message
    assert load_checkpoint(tmp_path / "checkpoints" / "last.pt")["step"] == 2
    assert not (tmp_path / "export").exists()


def test_mixed_precision_on_cpu(tmp_path: Path, train_pairs: Path, caplog: pytest.LogCaptureFixture) -> None:
    torch.manual_seed(0)
    initial = SAPNet(stages=1).state_dict()
    result = train(tiny_config(tmp_path / "bf16", train_pairs, "runtime.precision=bf16", "optim.max_steps=2"))
    trained = result.model.state_dict()
    assert result.steps == 2 and all(torch.isfinite(v).all() for v in trained.values())
    assert not torch.equal(initial["conv.0.weight"], trained["conv.0.weight"])
    assert trained["conv0.0.weight"].dtype == torch.float32  # autocast keeps fp32 master weights
    with caplog.at_level(logging.WARNING):
        train(tiny_config(tmp_path / "fp16", train_pairs, "runtime.precision=fp16", "optim.max_steps=1"))
    assert "fp16 needs CUDA" in caplog.text


def test_too_little_data_for_a_batch(tmp_path: Path, train_pairs: Path) -> None:
    with pytest.raises(ConfigError, match=r"8 patches per epoch over 1 rank\(s\) do not fill one batch"):
        train(tiny_config(tmp_path, train_pairs, "optim.batch_size=9"))


def test_two_process_torchrun_ends_with_identical_weights(tmp_path: Path, train_pairs: Path) -> None:
    config = tiny_config(tmp_path / "run", train_pairs, "optim.batch_size=2", "optim.epochs=1")
    save_config(config, tmp_path / "config.yaml")
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               str(WORKER), str(tmp_path / "config.yaml"), str(tmp_path)]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    rank0, rank1 = torch.load(tmp_path / "rank0.pt"), torch.load(tmp_path / "rank1.pt")
    torch.manual_seed(0)
    initial = SAPNet(stages=1).state_dict()
    assert all(torch.equal(rank0[key], rank1[key]) for key in rank0)
    assert not torch.equal(rank0["conv.0.weight"], initial["conv.0.weight"])
    last = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")  # written by rank 0 alone
    assert (last["world_size"], last["step"]) == (2, 2)  # 8 patches / 2 ranks / batch 2
    assert last["config"] == to_dict(config)


def test_a_checkpoint_temporary_left_by_a_kill_is_removed_and_resume_works(tmp_path: Path, train_pairs: Path) -> None:
    """SIGKILL during torch.save leaves ``.last.pt.PID.tmp`` (often 0 bytes); it must not stay or trip a resume."""
    config = tiny_config(tmp_path / "run", train_pairs, "optim.max_steps=2")
    train(config)
    last = tmp_path / "run" / "checkpoints" / "last.pt"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    leftover = last.with_name(f".last.pt.{int(dead.stdout)}.tmp")
    leftover.write_bytes(b"")
    assert main(["--resume", str(last), "optim.max_steps=3"]) == 0
    assert not leftover.exists()
    assert load_checkpoint(last)["step"] == 3
