import random
from pathlib import Path

import numpy as np
import pytest
import torch

from sapnet_ros.errors import TrainingError
from sapnet_ros.training.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state


def test_round_trip_is_atomic_and_safe_to_load(tmp_path: Path) -> None:
    path = save_checkpoint(tmp_path / "ck" / "last.pt", {"step": 7, "weights": torch.arange(3)})
    assert [p.name for p in path.parent.iterdir()] == ["last.pt"]  # no temporary file left
    state = load_checkpoint(path)
    assert state["step"] == 7 and torch.equal(state["weights"], torch.arange(3))


def test_generator_states_restore_exactly() -> None:
    state = rng_state()
    drawn = (random.random(), np.random.rand(), torch.rand(2))
    set_rng_state(state)
    again = (random.random(), np.random.rand(), torch.rand(2))
    assert drawn[:2] == again[:2] and torch.equal(drawn[2], again[2])


def test_bad_checkpoints_are_named(tmp_path: Path) -> None:
    with pytest.raises(TrainingError, match="checkpoint not found"):
        load_checkpoint(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a zip")
    with pytest.raises(TrainingError, match="not a readable checkpoint"):
        load_checkpoint(tmp_path / "junk.pt")
    torch.save({"conv.weight": torch.zeros(1)}, tmp_path / "weights.pt")
    with pytest.raises(TrainingError, match="not a sapnet_ros training checkpoint"):
        load_checkpoint(tmp_path / "weights.pt")
