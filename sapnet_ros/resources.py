"""Where the shipped weights, ONNX model and sample images live.

The same code runs from a source checkout (``pip install -e .``), from a
wheel (``data_files`` land in ``<prefix>/share/sapnet_ros``) and from a colcon
workspace (``AMENT_PREFIX_PATH`` lists the install prefixes), so files are looked up
in that order and the first hit wins.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

PACKAGE = "sapnet_ros"
DEFAULT_WEIGHTS = "sapnet_rain100h.safetensors"
DEFAULT_ONNX = "sapnet.onnx"
SAMPLES_DIR = Path(__file__).resolve().parent / "data"
DEMO_BAG = "demo_rain"
# The speed ladder, slowest and best first: each rung ships weights, an fp32 ONNX model and an int8 one
# (models/README.md says how each was made and what it costs and keeps).
DEFAULT_MODEL = "sapnet"
MODEL_NAMES = ("sapnet", "sapnet-s", "sapnet-xs", "sapnet-xxs")


@dataclass(frozen=True)
class ModelFiles:
    """The shipped files of one rung of the speed ladder."""

    name: str
    weights: Path
    onnx: Path
    int8: Path


def _share_directories() -> list[Path]:
    candidates = [Path(__file__).resolve().parent.parent, Path(sys.prefix) / "share" / PACKAGE]
    if os.environ.get("AMENT_PREFIX_PATH"):  # a sourced ROS 2 workspace
        candidates += [Path(prefix) / "share" / PACKAGE for prefix in os.environ["AMENT_PREFIX_PATH"].split(os.pathsep)]
    return candidates


def _find(relative: str) -> Path:
    """The first existing ``<share>/<relative>``, else where a source checkout would have it."""
    for share in _share_directories():
        if (share / relative).is_file():
            return share / relative
    return _share_directories()[0] / relative


def models_dir() -> Path:
    """The first ``models/`` folder that holds the shipped weights."""
    return _find(f"models/{DEFAULT_WEIGHTS}").parent


def model_files(name: str = DEFAULT_MODEL) -> ModelFiles:
    """The shipped weights, fp32 ONNX and int8 ONNX files of the rung ``name`` (see ``MODEL_NAMES``).

    Raises:
        ValueError: ``name`` is not a shipped model.
    """
    if name not in MODEL_NAMES:
        raise ValueError(f"unknown model {name!r}; choose one of: {', '.join(MODEL_NAMES)}")
    if name == DEFAULT_MODEL:  # the full model's files keep their historical names
        return ModelFiles(name, default_weights(), default_onnx(), models_dir() / "sapnet_int8.onnx")
    folder = models_dir()
    return ModelFiles(name, folder / f"{name}.safetensors", folder / f"{name}.onnx", folder / f"{name}_int8.onnx")


def config_file(name: str = "derain.yaml") -> Path:
    """A shipped ``config/`` file, e.g. the node's parameters ``derain.yaml``."""
    return _find(f"config/{name}")


def default_weights() -> Path:
    return models_dir() / DEFAULT_WEIGHTS


def default_onnx() -> Path:
    return models_dir() / DEFAULT_ONNX


def demo_bag() -> Path:
    """The shipped rosbag2 (mcap) of a short rainy camera sequence with camera_info."""
    return SAMPLES_DIR / DEMO_BAG


def sample_images() -> list[Path]:
    """The rainy sample photos that ship inside the package (JPEG, RGB)."""
    return sorted(SAMPLES_DIR.glob("*.jpg"))


def cache_dir() -> Path:
    """Per-user cache for exported models and engines (``$XDG_CACHE_HOME/sapnet_ros``)."""
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "sapnet_ros"
