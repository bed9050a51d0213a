"""Fixtures of the training tests: tiny synthesized rain data sets (see training_helpers)."""

from __future__ import annotations

from pathlib import Path

import pytest

from .training_helpers import clean_crops, write_pairs


@pytest.fixture(scope="session")
def train_pairs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """8 synthesized heavy-rain pairs of 48x48 in input/ + target/."""
    return write_pairs(tmp_path_factory.mktemp("train_pairs"), clean_crops(8), seed=0)


@pytest.fixture(scope="session")
def val_pairs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """4 held-out pairs: other crops, other rain."""
    return write_pairs(tmp_path_factory.mktemp("val_pairs"), clean_crops(4, offset=8), seed=100)
