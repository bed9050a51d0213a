"""Ctrl-C on the real tools, as subprocesses: one line, exit code 130, outputs complete or absent, reruns work."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import tiny_rgb
from training.training_helpers import tiny_config

from sapnet_ros.evaluation.cli import plan_jobs
from sapnet_ros.io.atomic import staging_folder
from sapnet_ros.io.bags import BagWriter, header, image_message
from sapnet_ros.training.checkpoint import load_checkpoint
from sapnet_ros.training.config import save_config
from sapnet_ros.training.train import main as train_main

ROOT = Path(__file__).resolve().parents[2]


def _start(module: str, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", module, *args]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _interrupt_when(
    process: subprocess.Popen[str], ready: Callable[[], bool], signum: int = signal.SIGINT, timeout_s: float = 240
) -> str:
    """Send ``signum`` once ``ready()`` holds; return stderr after checking the exit code is 130."""
    deadline = time.monotonic() + timeout_s
    while not ready():
        assert process.poll() is None, f"ended before it could be interrupted: {process.communicate()}"
        assert time.monotonic() < deadline, "never got far enough to interrupt"
        time.sleep(0.05)
    process.send_signal(signum)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert "Traceback" not in err
    return err


@pytest.fixture
def frames(tmp_path: Path) -> Path:
    """16 frames of 128x96: a second or more of deraining, long enough to interrupt after the first."""
    inputs = tmp_path / "in"
    inputs.mkdir()
    for i in range(16):
        assert cv2.imwrite(str(inputs / f"frame{i:02d}.png"), tiny_rgb(96, 128, seed=i))
    return inputs


def test_sigint_on_sapnet_derain_leaves_complete_files_and_no_temporaries(frames: Path, tmp_path: Path) -> None:
    inputs, output = frames, tmp_path / "out"
    process = _start("sapnet_ros.cli.derain", str(inputs), "-o", str(output), "--backend", "torch")
    err = _interrupt_when(process, lambda: output.is_dir() and any(output.glob("*.png")))
    assert err.splitlines()[-1] == "sapnet-derain: interrupted"
    written = sorted(output.iterdir())
    assert written and len(written) < 16
    for path in written:  # no .frameNN.png.PID.tmp, and every file is whole
        assert not path.name.startswith(".")
        image = cv2.imread(str(path))
        assert image is not None and image.shape == (96, 128, 3)
    rerun = _start("sapnet_ros.cli.derain", str(inputs), "-o", str(output), "--backend", "torch")
    assert rerun.wait(timeout=300) == 0
    assert len(list(output.glob("*.png"))) == 16


def _drive(path: Path, frames: int = 12) -> Path:
    with BagWriter(path) as writer:
        for i in range(frames):
            writer.write("/cam/image", image_message(tiny_rgb(64, 80, seed=i), "rgb8", header(i * 10**8, "cam")))
    return path


def test_sigint_on_sapnet_eval_bag_leaves_no_bag_and_a_rerun_works(tmp_path: Path) -> None:
    bag, output = _drive(tmp_path / "drive"), tmp_path / "eval"
    args = (str(bag), "--image-topic", "/cam/image", "-o", str(output), "--backend", "torch", "--detector", "none")
    process = _start("sapnet_ros.evaluation.cli", *args, "--no-progress")
    err = _interrupt_when(process, lambda: any((output / "bags").glob(".drive.*.partial/drive/*.mcap")))
    assert err.splitlines()[-1] == "sapnet-eval-bag: interrupted"
    assert not (output / "bags").exists()  # no bag that looks complete, no staging folder
    assert not (output / "metrics.json").exists()
    rerun = _start("sapnet_ros.evaluation.cli", *args, "--no-progress")
    out, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, err
    assert "sapnet-eval-bag: drive: 12/12 frames" in out
    assert [p.name for p in (output / "bags").iterdir()] == ["drive"]


def test_a_killed_runs_unfinished_bag_is_replaced_by_the_rerun(tmp_path: Path) -> None:
    bag, output = _drive(tmp_path / "drive", frames=1), tmp_path / "eval"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    leftover = staging_folder(output / "bags" / "drive", int(dead.stdout))
    leftover.mkdir(parents=True)
    (leftover / "drive.mcap").write_bytes(b"half a bag")  # what a SIGKILL mid-run leaves
    (job,) = plan_jobs([bag], output)
    assert not leftover.parent.exists()
    assert job.output_bag == output / "bags" / "drive" and job.owner_pid == os.getpid()


def test_sigint_on_sapnet_train_in_its_first_epoch_saves_a_resumable_last_pt(tmp_path: Path, train_pairs: Path) -> None:
    run_dir = tmp_path / "run"
    save_config(tiny_config(run_dir, train_pairs, "data.crops_per_image=100"), tmp_path / "train.yaml")  # 200 steps
    process = _start("sapnet_ros.training", "--config", str(tmp_path / "train.yaml"))
    train_log = run_dir / "train.csv"
    err = _interrupt_when(process, lambda: train_log.is_file() and len(train_log.read_text().splitlines()) > 3)
    assert err.splitlines()[-1] == "sapnet-train: interrupted by SIGINT"
    last = run_dir / "checkpoints" / "last.pt"
    state = load_checkpoint(last)
    assert state["epoch"] == 0 and 3 <= state["step"] == state["step_in_epoch"] < 200  # inside the first epoch
    assert [p.name for p in last.parent.iterdir() if p.name.startswith(".")] == []
    stopped_at = state["step"]
    assert train_main(["--resume", str(last), f"optim.max_steps={stopped_at + 2}"]) == 0
    resumed = load_checkpoint(last)
    assert resumed["step"] == stopped_at + 2
    key = next(iter(state["model"]))
    assert not np.array_equal(resumed["model"][key], state["model"][key])  # it trained on


def test_sigterm_is_an_interrupt_too(frames: Path, tmp_path: Path) -> None:
    """``kill`` (a service manager stopping the tool) takes the same path as Ctrl-C."""
    output = tmp_path / "out"
    process = _start("sapnet_ros.cli.derain", str(frames), "-o", str(output), "--backend", "torch")
    err = _interrupt_when(process, lambda: output.is_dir() and any(output.glob("*.png")), signal.SIGTERM)
    assert err.splitlines()[-1] == "sapnet-derain: interrupted by SIGTERM"
    assert not [p for p in output.iterdir() if p.name.startswith(".")]
