"""Where the shipped weights, ONNX model and sample images live.

The same code runs from a source checkout (``pip install -e .``), from a
wheel (``data_files`` land in ``<prefix>/share/sapnet_ros``) and from a colcon
workspace (``AMENT_PREFIX_PATH`` lists the install prefixes), so files are looked up
in that order and the first hit wins.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

PACKAGE = "sapnet_ros"
DEFAULT_WEIGHTS = "sapnet_rain100h.safetensors"
DEFAULT_ONNX = "sapnet.onnx"
SAMPLES_DIR = Path(__file__).resolve().parent / "data"
DEMO_BAG = "demo_rain"


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
