"""Opening ONNX files and ONNX Runtime sessions: one place for telemetry and for translating load errors.

Every ``InferenceSession`` of the package (backends, rain estimator, int8
fidelity, detectors) is made by ``inference_session``, and every ONNX file
header is read by ``read_onnx``, so a truncated, random or empty file is one
project error naming the file instead of a protobuf or ONNX Runtime traceback.

Telemetry: ONNX Runtime starts it when it is imported, so the package root
(``sapnet_ros/__init__.py``) sets ``ORT_DISABLE_TELEMETRY`` before that;
``inference_session`` also switches the events off for a process that
imported onnxruntime before sapnet_ros. ``SAPNET_ORT_TELEMETRY=1`` leaves
ONNX Runtime's default (on) alone (docs/privacy.md).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sapnet_ros import TELEMETRY_SWITCH
from sapnet_ros.errors import SapnetError, WeightsError

if TYPE_CHECKING:  # imported where used: a PyTorch-only install reads weights without either (model/artifacts.py)
    import onnx
    import onnxruntime as ort


def telemetry_allowed() -> bool:
    """Whether the user asked for ONNX Runtime's telemetry (``SAPNET_ORT_TELEMETRY=1``)."""
    return os.environ.get(TELEMETRY_SWITCH) == "1"


def read_onnx(path: Path, error: type[SapnetError] = WeightsError) -> onnx.ModelProto:
    """An ONNX file's graph and metadata, without external weights.

    Raises:
        error: missing, unreadable, not ONNX, or a model without a graph.
    """
    import onnx
    from google.protobuf.message import DecodeError

    try:
        model = onnx.load(str(path), load_external_data=False)
    except (OSError, DecodeError, ValueError) as err:
        detail = getattr(err, "strerror", None) or str(err).splitlines()[0]
        raise error(f"{path}: not a readable ONNX model ({detail})") from err
    if not model.graph.node:
        raise error(f"{path}: not a readable ONNX model (it holds no graph)")
    return model


def inference_session(
    path: Path,
    settings: ort.SessionOptions | None = None,
    providers: Sequence[Any] = ("CPUExecutionProvider",),
    error: type[SapnetError] = WeightsError,
) -> ort.InferenceSession:
    """An ONNX Runtime session for ``path``, with telemetry off unless the user asked for it.

    Raises:
        error: ONNX Runtime cannot load the file (the message is its first line).
    """
    import onnxruntime as ort

    if not telemetry_allowed():
        ort.disable_telemetry_events()
    try:
        return ort.InferenceSession(str(path), settings, providers=list(providers))
    except Exception as err:  # onnxruntime's pybind exceptions (Fail, InvalidGraph, ...) share no base but Exception
        raise error(f"{path}: not a readable ONNX model ({str(err).strip().splitlines()[0]})") from err
