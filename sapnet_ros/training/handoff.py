"""The end of a run: the chosen weights as safetensors, ONNX and (with TensorRT) an engine, for ``derain_node``.

Both files are written by the same code as the shipped ones
(``weights.save_weights`` and ``export.export_onnx``) and carry the training
configuration and validation metrics in their metadata, next to the
provenance and licence of the weights the run started from.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import torch

from sapnet_ros.backends import BackendOptions, unavailable_reason
from sapnet_ros.backends.engine_build import build_engine
from sapnet_ros.model.export import export_onnx
from sapnet_ros.model.network import Architecture
from sapnet_ros.model.weights import FORMAT_VERSION, Weights, save_weights

LOG = logging.getLogger(__name__)

WEIGHTS_NAME = "sapnet.safetensors"
ONNX_NAME = "sapnet.onnx"
ENGINE_PRECISION = "fp16"  # the production path: TensorRT fp16 on the GPU the run trained on


def training_metadata(config: dict[str, Any], metrics: dict[str, Any]) -> dict[str, str]:
    """The training record shared by the weights file and the ONNX model (JSON strings)."""
    return {"training_config": json.dumps(config, sort_keys=True), "training_metrics": json.dumps(metrics)}


def export_run(
    output_dir: Path,
    state_dict: dict[str, torch.Tensor],
    architecture: Architecture,
    config: dict[str, Any],
    metrics: dict[str, Any],
    base: Weights | None,
    onnx: bool = True,
    source: str | None = None,
) -> list[Path]:
    """Write ``sapnet.safetensors`` (and ``sapnet.onnx``) into ``output_dir``.

    Args:
        output_dir: where the files go (created if needed).
        state_dict: the SAPNet weights to hand off.
        architecture: the network they belong to (recorded in the metadata).
        config: the resolved training configuration (``config.to_dict``).
        metrics: validation metrics of these weights (empty without validation).
        base: the weights training started from; None for a run from scratch.
        onnx: also export ONNX (about 35 s on a CPU), and build an fp16 TensorRT
            engine from it where TensorRT and a GPU are present.
        source: the run's description (default: ``sapnet-train run <run_dir>``).

    Returns:
        The files written.
    """
    record = training_metadata(config, metrics)
    metadata = {
        "format": "sapnet_ros-weights",
        "format_version": FORMAT_VERSION,
        **architecture.to_metadata(),
        "source": source or f"sapnet-train run {config['log']['run_dir']}",
        "base_weights_sha256": base.sha256 if base else "none (trained from scratch)",
        "licence": base.metadata.get("licence", "unknown") if base else "set by whoever trained it",
        **record,
    }
    written = [save_weights(state_dict, output_dir / WEIGHTS_NAME, metadata)]
    LOG.info("hand-off: wrote %s", written[0])
    if onnx:
        written.append(export_onnx(output_dir / ONNX_NAME, written[0], extra_metadata=record))
        LOG.info("hand-off: wrote %s", written[1])
        reason = unavailable_reason("tensorrt", BackendOptions(device="cuda"))
        if reason is None:
            written.append(build_engine(written[1], output_dir, ENGINE_PRECISION))
            LOG.info("hand-off: wrote %s", written[2])
        else:
            LOG.info("hand-off: no TensorRT engine (%s); build one on the target with sapnet-build-engine", reason)
    return written
