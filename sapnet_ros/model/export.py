"""ONNX export of SAPNet with provenance metadata; ``sapnet-export``.

The exported graph has dynamic batch, height and width, every recurrent
stage unrolled (no Loop/If nodes), and only operators that TensorRT's ONNX
parser supports, so the same file feeds ONNX Runtime and the engine builder.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
from collections.abc import Mapping
from pathlib import Path

import onnx
import torch

from sapnet_ros import __version__, resources
from sapnet_ros.commands import command
from sapnet_ros.errors import WeightsError
from sapnet_ros.io.atomic import atomic_path
from sapnet_ros.model.artifacts import cached_onnx_path, exported_onnx, file_sha256
from sapnet_ros.model.weights import Weights, load_model

LOG = logging.getLogger(__name__)

INPUT_NAME = "rainy"
OUTPUT_NAME = "derained"
OPSET = 18
# Operators this graph may contain: all parsed natively by TensorRT 10.
TENSORRT_SAFE_OPS = frozenset(
    {
        "Add", "Clip", "Concat", "Constant", "ConstantOfShape", "Conv", "Gather",
        "GlobalAveragePool", "Mul", "ReduceMean", "Relu", "Shape", "Sigmoid",
        "Slice", "Sub", "Tanh", "Unsqueeze",
    }
)  # fmt: skip


def metadata_for(weights: Weights, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The key/value pairs stored in the ONNX file (and engine sidecars)."""
    metadata = {
        "sapnet_ros_version": __version__,
        "weights_sha256": weights.sha256,
        "weights_file": weights.path.name,
        "weights_source": weights.metadata.get("source", "unknown"),
        "weights_licence": weights.metadata.get("licence", "unknown"),
        **weights.architecture.to_metadata(),
        "input_layout": "NCHW",
        "input_color": "RGB",
        "input_range": "[0, 1]",
        "input_dtype": "float32",
    }
    metadata.update(extra or {})
    return metadata


def unsupported_ops(model: onnx.ModelProto) -> set[str]:
    """Operator types in ``model`` outside TENSORRT_SAFE_OPS."""
    return {node.op_type for node in model.graph.node} - TENSORRT_SAFE_OPS


def export_onnx(
    output: Path,
    weights_path: Path | None = None,
    opset: int = OPSET,
    extra_metadata: Mapping[str, str] | None = None,
) -> Path:
    """Export SAPNet with ``weights_path`` to ``output`` (written atomically).

    Raises:
        WeightsError: the weights do not load.
        ValueError: the graph contains operators TensorRT cannot parse.
    """
    model, weights = load_model(weights_path)
    dims = {0: torch.export.Dim("batch"), 2: torch.export.Dim("height"), 3: torch.export.Dim("width")}
    proto = to_onnx(model, torch.rand(1, 3, 64, 64), INPUT_NAME, OUTPUT_NAME, dims, opset)
    onnx.checker.check_model(proto, full_check=True)
    unsupported = unsupported_ops(proto)
    if unsupported:
        raise ValueError(f"exported graph has operators TensorRT may not parse: {sorted(unsupported)}")
    proto.doc_string = "SAPNet deraining (arXiv 2111.08892); input float32 NCHW RGB [0, 1]"
    save_onnx(proto, output, metadata_for(weights, extra_metadata))
    LOG.info("exported %s (weights sha256 %s, opset %d)", output, weights.sha256[:12], opset)
    return output


def to_onnx(
    model: torch.nn.Module,
    example: torch.Tensor,
    input_name: str,
    output_name: str,
    dims: Mapping[int, torch.export.Dim],
    opset: int = OPSET,
) -> onnx.ModelProto:
    """``model`` through the dynamo exporter, with one input whose axes ``dims`` are dynamic."""
    with tempfile.TemporaryDirectory() as scratch:
        program = torch.onnx.export(
            model,
            (example,),
            input_names=[input_name],
            output_names=[output_name],
            opset_version=opset,
            dynamo=True,
            external_data=False,
            dynamic_shapes={input_name: dict(dims)},
            artifacts_dir=scratch,
        )
    assert program is not None
    return program.model_proto


def save_onnx(proto: onnx.ModelProto, output: Path, metadata: Mapping[str, str]) -> None:
    """Write ``proto`` with ``metadata`` as its only metadata properties, atomically (temporary name, then rename)."""
    del proto.metadata_props[:]
    for key, value in metadata.items():
        proto.metadata_props.add(key=key, value=value)
    output.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(output) as temporary:
        onnx.save(proto, str(temporary))


def onnx_for_weights(weights_path: Path | None = None) -> Path:
    """An ONNX file exported from ``weights_path``: a shipped one if it matches, else a cached export."""
    found = exported_onnx(weights_path)
    if found is not None:
        return found
    path = weights_path or resources.default_weights()
    cached = cached_onnx_path(file_sha256(path))
    LOG.warning("no ONNX model for weights %s yet: exporting to %s (once)", path, cached)
    return export_onnx(cached, path)


@command("sapnet-export")
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="sapnet-export",
        description="Export SAPNet to ONNX (dynamic batch, height, width) for ONNX Runtime and TensorRT.",
        epilog="example: sapnet-export --output models/sapnet.onnx",
    )
    parser.add_argument("--output", type=Path, default=resources.default_onnx(), help="default: %(default)s")
    parser.add_argument("--weights", type=Path, default=None, help="weights file (default: the shipped ones)")
    parser.add_argument("--opset", type=int, default=OPSET, help="ONNX opset (default: %(default)s)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        written = export_onnx(args.output, args.weights, args.opset)
    except (WeightsError, ValueError) as err:
        parser.exit(2, f"sapnet-export: error: {err}\n")
    print(f"wrote {written}")
    return 0
