"""The model files made for a weights file (ONNX export, int8 models), found by its hash; no PyTorch.

The runtime (``derain_node``, ``sapnet-derain`` with ONNX Runtime or TensorRT)
only has to *find* the shipped or cached model files for the weights it was
given and read their metadata; making them (export, quantization) needs
PyTorch and lives in ``export.py`` and ``quantize.py``. Keeping the lookup
here lets a lean install (no PyTorch, scikit-image, matplotlib) run the node.
The int8 quality gate is here for the same reason: ``--precision auto`` reads
it from the model's metadata at start-up. ``onnx`` is imported where metadata
is read, so that the PyTorch backend (which hashes weights through here) runs
where only PyTorch is installed (``scripts/gpu_check.sh`` on a bare system).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING

from sapnet_ros import resources
from sapnet_ros.errors import WeightsError
from sapnet_ros.model.sessions import read_onnx

if TYPE_CHECKING:
    import onnx

DEFAULT_INT8 = "sapnet_int8.onnx"  # uint8 activations: ONNX Runtime on the CPU
DEFAULT_INT8_SYMMETRIC = "sapnet_int8_symmetric.onnx"  # int8 activations, zero points 0: TensorRT
# The quality gate for --precision auto (measured by sapnet-quantize, stored in the model).
MAX_GT_LOSS_DB = 0.1  # mean loss against ground truth, on the photos and on every evaluation set
MAX_WORST_LOSS_DB = 0.3  # the worst frame's loss against ground truth, on every evaluation set
MIN_PSNR_VS_FP32_DB = 35.0


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def metadata_of(model: onnx.ModelProto) -> dict[str, str]:
    """The metadata properties of a loaded ONNX model."""
    return {prop.key: prop.value for prop in model.metadata_props}


def read_metadata(path: Path) -> dict[str, str]:
    """The metadata properties of an ONNX file, without loading its weights (WeightsError if unreadable)."""
    return metadata_of(read_onnx(path))


def weights_sha256(weights_path: Path | None = None) -> str:
    """The sha256 of ``weights_path`` (None: the shipped weights); WeightsError if it does not exist."""
    path = weights_path or resources.default_weights()
    if not path.is_file():
        raise WeightsError(f"{path}: weights file not found")
    return file_sha256(path)


def cached_onnx_path(sha256: str) -> Path:
    """Where ``export.onnx_for_weights`` caches the export of weights with this hash."""
    return resources.cache_dir() / f"sapnet-{sha256[:16]}.onnx"


def exported_onnx(weights_path: Path | None = None) -> Path | None:
    """The ONNX export of ``weights_path`` if one exists, else None.

    Looked for: the shipped ones (every rung of the speed ladder), then the one beside the weights with their
    stem (``sapnet-train``'s hand-off writes ``sapnet.onnx`` next to
    ``sapnet.safetensors``), then a cached one; each must name the weights'
    sha256 in its metadata.
    """
    sha256 = weights_sha256(weights_path)
    beside = [weights_path.with_suffix(".onnx")] if weights_path is not None else []
    shipped = [resources.model_files(name).onnx for name in resources.MODEL_NAMES]  # every rung of the ladder
    for candidate in (*shipped, *beside):
        if candidate.is_file() and read_metadata(candidate).get("weights_sha256") == sha256:
            return candidate
    cached = cached_onnx_path(sha256)
    return cached if cached.is_file() else None


def photo_quality_holds(metadata: dict[str, str]) -> bool:
    """Whether recorded figures on the evaluation photos and the sample keep the fp32 output's quality.

    The check a measured variant of any precision gets (``sapnet-bench``); an int8 file must also pass
    ``sets_hold``.
    """
    try:
        loss = float(metadata["quality_gt_loss_db"])
        fidelity = min(float(metadata["quality_psnr_vs_fp32_db"]), float(metadata["quality_sample_psnr_vs_fp32_db"]))
    except (KeyError, ValueError):
        return False
    return loss <= MAX_GT_LOSS_DB and fidelity >= MIN_PSNR_VS_FP32_DB


def sets_hold(metadata: dict[str, str]) -> bool:
    """Whether the recorded per-set figures (``quality_sets``) keep fp32's quality on every evaluation set.

    The sets hold rain generators, styles and scenes the calibration never saw (``synthesis/sets.py``);
    each must lose at most MAX_GT_LOSS_DB on average and MAX_WORST_LOSS_DB on its worst frame, RGB and
    Y. A model without per-set figures (made before they were measured) does not pass.
    """
    try:
        per_set = json.loads(metadata["quality_sets"])
        means = [float(s[key]) for s in per_set for key in ("loss_mean_rgb_db", "loss_mean_y_db")]
        worst = [float(s[key]) for s in per_set for key in ("loss_worst_rgb_db", "loss_worst_y_db")]
    except (KeyError, ValueError, TypeError):
        return False
    return bool(per_set) and max(means) <= MAX_GT_LOSS_DB and max(worst) <= MAX_WORST_LOSS_DB


def quality_holds(metadata: dict[str, str]) -> bool:
    """Whether a quantized model's recorded quality passes the gate for ``--precision auto``."""
    return photo_quality_holds(metadata) and sets_hold(metadata)


def is_symmetric(metadata: dict[str, str]) -> bool:
    """Whether an int8 model's metadata says its activations are symmetric int8 (the TensorRT flavour)."""
    return "symmetric int8 activations" in metadata.get("quantization", "")


def cached_int8_path(sha256: str, symmetric: bool) -> Path:
    """Where ``sapnet-quantize`` on demand caches the int8 model of weights with this hash."""
    return resources.cache_dir() / f"sapnet-int8{'-symmetric' if symmetric else ''}-{sha256[:16]}.onnx"


def int8_model_path(weights_path: Path | None = None, symmetric: bool = False) -> tuple[Path, dict[str, str]] | None:
    """The int8 model made for these weights: a shipped one if it matches, else a cached one, else None.

    Args:
        weights_path: the weights (None: the shipped ones).
        symmetric: the TensorRT flavour (int8 activations, zero point 0), which
            every GPU int8 path needs; the CPU flavour has uint8 activations.

    Returns:
        The model's path and the metadata read to match it (the quality gate's figures included), or None.
    """
    sha256 = weights_sha256(weights_path)
    shipped = (
        [resources.models_dir() / DEFAULT_INT8_SYMMETRIC]
        if symmetric
        else [resources.model_files(name).int8 for name in resources.MODEL_NAMES]  # every rung of the ladder
    )
    for candidate in (*shipped, cached_int8_path(sha256, symmetric)):
        if candidate.is_file():
            metadata = read_metadata(candidate)
            if metadata.get("weights_sha256") == sha256 and is_symmetric(metadata) == symmetric:
                return candidate, metadata
    return None
