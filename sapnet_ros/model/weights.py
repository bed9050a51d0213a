"""Reading, checking and converting SAPNet weights files.

Two formats are read: safetensors (the project's own, with metadata) and the
official PyTorch ``.pth`` state dict, which is opened with
``torch.load(weights_only=True)`` so that no arbitrary pickle code runs.
Loading is strict: every key of the file must be used and every shape must
match, and any problem is one ``WeightsError`` line naming the file.
"""

from __future__ import annotations

import argparse
import pickle
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from sapnet_ros import resources
from sapnet_ros.commands import command
from sapnet_ros.errors import WeightsError
from sapnet_ros.io.atomic import atomic_path
from sapnet_ros.model.artifacts import file_sha256
from sapnet_ros.model.network import Architecture, SAPNet

DATA_PARALLEL_PREFIX = "module."
FORMAT_VERSION = "1"


@dataclass(frozen=True)
class Weights:
    """A checked state dict with the metadata that travels with it."""

    path: Path
    sha256: str
    state_dict: dict[str, torch.Tensor]
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def architecture(self) -> Architecture:
        """The network these weights belong to, as recorded in the metadata (official SAPNet if absent)."""
        try:
            return Architecture.from_metadata(self.metadata)
        except ValueError as err:
            raise WeightsError(f"{self.path}: bad architecture metadata ({err})") from err

    @property
    def stages(self) -> int:
        """Recurrent stages the weights were trained with (metadata ``stages``, 6 without; checked on reading)."""
        return self.architecture.stages


MAX_STAGES = 64  # far beyond any useful count; a bigger one is a damaged or hostile file


def _check_stages(path: Path, metadata: dict[str, str]) -> None:
    text = metadata.get("stages", "6")
    if not text.isdigit() or not 1 <= int(text) <= MAX_STAGES:
        raise WeightsError(f"{path}: metadata stages={text!r} is not a whole number in [1, {MAX_STAGES}]")


def _read_pth(path: Path) -> dict[str, torch.Tensor]:
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, OSError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile, ValueError) as err:
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise WeightsError(f"{path}: not a readable PyTorch state dict ({first_line})") from err
    if not isinstance(loaded, dict) or not all(isinstance(v, torch.Tensor) for v in loaded.values()):
        raise WeightsError(f"{path}: expected a state dict of tensors, got {type(loaded).__name__}")
    return {key.removeprefix(DATA_PARALLEL_PREFIX): value for key, value in loaded.items()}


def _read_safetensors(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = dict(handle.metadata() or {})
        return load_file(str(path)), metadata
    except (SafetensorError, OSError, ValueError) as err:
        raise WeightsError(f"{path}: not a readable safetensors file ({err})") from err


def _listed(keys: list[str], shown: int = 3) -> str:
    more = ", ..." if len(keys) > shown else ""
    return f"{len(keys)} keys ({', '.join(keys[:shown])}{more})"


def check_state_dict(
    path: Path, state_dict: dict[str, torch.Tensor], model: nn.Module, network: str = "SAPNet"
) -> None:
    """Raise WeightsError unless ``state_dict`` fits ``model`` (named ``network``) key for key and shape for shape."""
    expected = model.state_dict()
    missing = sorted(expected.keys() - state_dict.keys())
    unexpected = sorted(state_dict.keys() - expected.keys())
    mismatched = [
        f"{key} {tuple(state_dict[key].shape)} != {tuple(expected[key].shape)}"
        for key in sorted(expected.keys() & state_dict.keys())
        if state_dict[key].shape != expected[key].shape
    ]
    problems = []
    if missing:
        problems.append(f"missing {_listed(missing)}")
    if unexpected:
        problems.append(f"unexpected {_listed(unexpected)}")
    if mismatched:
        problems.append(f"shape mismatch {'; '.join(mismatched[:3])}")
    if problems:
        raise WeightsError(f"{path}: does not fit {network}: {'; '.join(problems)}")


def read_state_dict(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Tensors and metadata of a ``.safetensors`` file, or of a ``.pth`` state dict (no metadata).

    Raises:
        WeightsError: missing or unreadable file.
    """
    if not path.is_file():
        raise WeightsError(f"{path}: weights file not found")
    if path.suffix == ".safetensors":
        return _read_safetensors(path)
    return _read_pth(path), {}


def save_weights(state_dict: dict[str, torch.Tensor], output: Path, metadata: dict[str, str]) -> Path:
    """Write ``state_dict`` as safetensors with ``metadata``, atomically (temporary name, then rename)."""
    output.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(output) as temporary:
        save_file({k: v.detach().cpu().contiguous() for k, v in state_dict.items()}, str(temporary), metadata=metadata)
    return output


def read_weights(path: Path | str | None = None) -> Weights:
    """Read and check a weights file (``.safetensors`` or official ``.pth``).

    Args:
        path: the file; ``None`` means the weights shipped in ``models/``.

    Raises:
        WeightsError: missing, unreadable, or not SAPNet's weights.
    """
    path = Path(path) if path is not None else resources.default_weights()
    state_dict, metadata = read_state_dict(path)
    _check_stages(path, metadata)
    weights = Weights(path=path, sha256=file_sha256(path), state_dict=state_dict, metadata=metadata)
    architecture = weights.architecture
    check_state_dict(path, state_dict, SAPNet.build(architecture), f"SAPNet {describe(architecture)}")
    return weights


def describe(architecture: Architecture) -> str:
    """``6 stages x 32 channels`` (``, separable`` where so): how errors and logs name a variant."""
    separable = ", separable" if architecture.separable else ""
    return f"{architecture.stages} stages x {architecture.channels} channels{separable}"


def load_model(path: Path | str | None = None, stages: int | None = None) -> tuple[SAPNet, Weights]:
    """Build the weights' network (architecture from their metadata) in eval mode (see ``read_weights``).

    Args:
        path: the weights file; ``None`` means the shipped ones.
        stages: run this many recurrent stages instead of the recorded count
            (the weights are shared by every stage).
    """
    weights = read_weights(path)
    architecture = weights.architecture
    model = SAPNet(stages or architecture.stages, architecture.channels, architecture.separable)
    model.load_state_dict(weights.state_dict, strict=True)
    return model.eval(), weights


def convert(source: Path, output: Path, origin: str, licence: str) -> Path:
    """Write the official checkpoint as safetensors with provenance metadata."""
    weights = read_weights(source)
    metadata = {
        "format": "sapnet_ros-weights",
        "format_version": FORMAT_VERSION,
        **weights.architecture.to_metadata(),
        "source": origin,
        "source_file": source.name,
        "source_sha256": weights.sha256,
        "licence": licence,
    }
    return save_weights(weights.state_dict, output, metadata)


@command("sapnet-convert-weights")
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="sapnet-convert-weights",
        description="Convert an official SAPNet .pth checkpoint into a checked safetensors file.",
        epilog="example: sapnet-convert-weights ../shared/models/sapnet_official_rain100h.pth "
        "--output models/sapnet_rain100h.safetensors",
    )
    parser.add_argument("source", type=Path, help="official state dict (.pth), read with weights_only=True")
    parser.add_argument("--output", type=Path, required=True, help="safetensors file to write")
    parser.add_argument(
        "--origin",
        default="ShenZheng2000/SAPNet-for-image-deraining@47215120e902b02fecd50f7e13309a8e34904bd1"
        ":logs/SAPNet/Model11/net_latest.pth",
        help="where the checkpoint came from (default: %(default)s)",
    )
    parser.add_argument("--licence", default="MIT (c) 2021 ShenZheng2000", help="default: %(default)s")
    args = parser.parse_args(argv)
    try:
        written = convert(args.source, args.output, args.origin, args.licence)
    except WeightsError as err:
        parser.exit(2, f"sapnet-convert-weights: error: {err}\n")
    print(f"wrote {written} (sha256 {file_sha256(written)})")
    return 0
