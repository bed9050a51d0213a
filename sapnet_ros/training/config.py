"""The typed training configuration: defaults, YAML loading, ``a.b=value`` overrides, validation.

Defaults are the paper's (Zheng et al., WACV 2022, and the official training
script): 6 stages, Adam at 1e-3 decayed by 0.2 at epochs 30, 50 and 80,
100 epochs, 100x100 patches, batch 12. Every key is checked against these
dataclasses: an unknown key or a value of the wrong type is a ``ConfigError``
naming it, never silently ignored. The resolved configuration is saved
beside every checkpoint and in the exported weights' metadata.
"""

from __future__ import annotations

import dataclasses
import types
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Union, get_args, get_origin, get_type_hints

import yaml

from sapnet_ros.errors import ConfigError
from sapnet_ros.io.atomic import write_atomic
from sapnet_ros.metrics import QUALITY_FIELDS

PRECISIONS = ("fp32", "bf16", "fp16")
LOSS_TERMS = ("ssim", "contrastive", "lpips", "ubs")  # the LossTerm fields of LossConfig


@dataclass
class ModelConfig:
    """The network and where its first weights come from.

    Attributes:
        stages: recurrent stages (6 in the paper and the shipped weights).
        init: ``scratch`` (random, as in the paper), ``shipped`` (fine-tune the
            weights in ``models/``) or a weights file (.safetensors or official .pth).
    """

    stages: int = 6
    init: str = "scratch"


@dataclass
class DataConfig:
    """Paired folders (see ``training.data``) and how patches are cut from them.

    Attributes:
        train: training pairs folder (required).
        val: validation pairs folder, derained whole; None skips validation.
        patch_size: side of the random square crops.
        crops_per_image: crops per training pair and epoch; 15 matches the
            official stride-80 tiling of a 481x321 RainTrainH image.
        flip: random horizontal flips (never vertical: rain falls down).
        workers: DataLoader worker processes per rank.
    """

    train: Path | None = None
    val: Path | None = None
    patch_size: int = 100
    crops_per_image: int = 15
    flip: bool = True
    workers: int = 2


@dataclass
class OptimConfig:
    """Adam with multi-step decay, as in the paper.

    Attributes:
        max_steps: stop after this many optimizer steps in all (0: run every epoch).
    """

    lr: float = 1e-3
    milestones: list[int] = field(default_factory=lambda: [30, 50, 80])
    gamma: float = 0.2
    epochs: int = 100
    batch_size: int = 12
    max_steps: int = 0


@dataclass
class LossTerm:
    """One term of the training loss: its weight and the (0-based) epoch it starts at."""

    weight: float = 1.0
    start_epoch: int = 0


@dataclass
class LossConfig:
    """The paper's loss with the official script's weights (see ``training.losses``).

    Attributes:
        ssim: negative SSIM of the final estimate.
        contrastive: VGG16 perceptual contrastive loss (needs ``vgg_weights``).
        lpips: LPIPS-VGG distance to the clean image (needs ``vgg_weights`` and ``lpips_weights``).
        ubs: unsupervised background segmentation loss (needs ``seg_weights``);
            the official script starts it after epoch 50.
        contrastive_layers: weights of relu1_2, relu2_2, relu3_3, relu4_3.
        focal_gamma: focusing parameter of the UBS focal loss.
        vgg_weights: torchvision VGG16 state dict (e.g. ``vgg16-397923af.pth``).
        lpips_weights: LPIPS v0.1 VGG linear heads (``lpips/weights/v0.1/vgg.pth``).
        seg_weights: torchvision LR-ASPP MobileNetV3-Large state dict
            (``lraspp_mobilenet_v3_large-d234d4ea.pth``).
    """

    ssim: LossTerm = field(default_factory=LossTerm)
    contrastive: LossTerm = field(default_factory=LossTerm)
    lpips: LossTerm = field(default_factory=LossTerm)
    ubs: LossTerm = field(default_factory=lambda: LossTerm(weight=0.1, start_epoch=51))
    contrastive_layers: list[float] = field(default_factory=lambda: [1 / 32, 1 / 16, 1 / 8, 1 / 4])
    focal_gamma: float = 2.0
    vgg_weights: Path | None = None
    lpips_weights: Path | None = None
    seg_weights: Path | None = None


@dataclass
class RuntimeConfig:
    """Where and how the arithmetic runs.

    Attributes:
        device: ``auto`` (CUDA when present), ``cpu``, ``cuda`` or ``cuda:N``;
            under torchrun each rank takes ``cuda:LOCAL_RANK``.
        precision: ``fp32``, or ``bf16``/``fp16`` autocast mixed precision.
        channels_last: NHWC memory format for the network and its inputs.
        threads: intra-op CPU threads; 0 leaves the library default.
        seed: seeds initialization, shuffling and crops.
    """

    device: str = "auto"
    precision: str = "fp32"
    channels_last: bool = True
    threads: int = 0
    seed: int = 0


@dataclass
class LogConfig:
    """Where results go and how often.

    Attributes:
        run_dir: checkpoints, logs, samples and exports of this run.
        every_steps: training-loss log interval (CSV, TensorBoard).
        checkpoint_every: steps between checkpoints (also one per epoch).
        best_metric: validation metric that picks the best checkpoint.
        samples: validation images saved as rainy | derained | clean.
        tensorboard: also log to TensorBoard (needs the ``tensorboard`` package).
        progress: show a progress bar.
    """

    run_dir: Path = Path("runs/sapnet")
    every_steps: int = 10
    checkpoint_every: int = 500
    best_metric: str = "psnr_y"
    samples: int = 4
    tensorboard: bool = True
    progress: bool = True


@dataclass
class ExportConfig:
    """The hand-off of the best weights at the end of training.

    Attributes:
        onnx: also export ONNX (about 35 s on a CPU) next to the safetensors file.
    """

    onnx: bool = True


@dataclass
class TrainConfig:
    """Everything ``sapnet-train`` needs; see ``config/train.yaml``."""

    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
    log: LogConfig = field(default_factory=LogConfig)
    export: ExportConfig = field(default_factory=ExportConfig)


def _coerce(value: Any, kind: Any, name: str) -> Any:
    """Check ``value`` against the annotation ``kind``; converts only str -> Path and int or numeric str -> float."""
    origin = get_origin(kind)
    if origin in (Union, types.UnionType):
        options = get_args(kind)
        if value is None and type(None) in options:
            return None
        return _coerce(value, next(option for option in options if option is not type(None)), name)
    if dataclasses.is_dataclass(kind):
        if not isinstance(value, dict):
            raise ConfigError(f"{name}: expected a mapping of {_field_names(kind)}, got {value!r}")
        return _build(kind, value, name)
    if origin is list:
        (item,) = get_args(kind)
        if not isinstance(value, list):
            raise ConfigError(f"{name}: expected a list, got {value!r}")
        return [_coerce(entry, item, f"{name}[{index}]") for index, entry in enumerate(value)]
    if kind is Path and isinstance(value, (str, Path)):
        return Path(value).expanduser()
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if kind is float and isinstance(value, str) and _is_number(value):
        return float(value)  # YAML 1.1 reads 1e-4 (no dot) as a string
    if isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
        return value
    raise ConfigError(f"{name}: expected {getattr(kind, '__name__', kind)}, got {value!r}")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _field_names(cls: Any) -> str:
    return ", ".join(f.name for f in dataclasses.fields(cls))


def _build(cls: Any, values: dict[str, Any], prefix: str = "") -> Any:
    """Instantiate dataclass ``cls`` from ``values``, rejecting unknown keys."""
    hints = get_type_hints(cls)
    unknown = sorted(set(values) - set(hints))
    if unknown:
        where = f" in {prefix}" if prefix else ""
        plural = "s" if len(unknown) > 1 else ""
        raise ConfigError(f"unknown key{plural} {', '.join(unknown)}{where}; allowed: {_field_names(cls)}")
    kwargs = {key: _coerce(value, hints[key], f"{prefix}.{key}" if prefix else key) for key, value in values.items()}
    return cls(**kwargs)


def validate(config: TrainConfig) -> TrainConfig:
    """Raise ConfigError for values outside their range; return ``config``."""
    checks = {
        "model.stages": config.model.stages >= 1,
        "data.patch_size": config.data.patch_size >= 16,
        "data.crops_per_image": config.data.crops_per_image >= 1,
        "data.workers": config.data.workers >= 0,
        "optim.lr": config.optim.lr > 0,
        "optim.gamma": 0 < config.optim.gamma <= 1,
        "optim.epochs": config.optim.epochs >= 1,
        "optim.batch_size": config.optim.batch_size >= 1,
        "optim.max_steps": config.optim.max_steps >= 0,
        "optim.milestones": config.optim.milestones == sorted(config.optim.milestones),
        "loss.contrastive_layers": len(config.loss.contrastive_layers) == 4,
        "runtime.precision": config.runtime.precision in PRECISIONS,
        "runtime.threads": config.runtime.threads >= 0,
        "log.every_steps": config.log.every_steps >= 1,
        "log.checkpoint_every": config.log.checkpoint_every >= 1,
        "log.best_metric": config.log.best_metric in QUALITY_FIELDS,
        "log.samples": config.log.samples >= 0,
    }
    for term in LOSS_TERMS:
        loss_term = getattr(config.loss, term)
        checks[f"loss.{term}"] = loss_term.weight >= 0 and loss_term.start_epoch >= 0
    bad = [name for name, ok in checks.items() if not ok]
    if bad:
        shown = ", ".join(f"{name}={_lookup(config, name)!r}" for name in bad)
        raise ConfigError(f"invalid configuration values: {shown} (see config/train.yaml for the allowed ranges)")
    device = config.runtime.device
    if device not in ("auto", "cpu", "cuda") and not (device.startswith("cuda:") and device[5:].isdigit()):
        raise ConfigError(f"runtime.device: {device!r} is not one of auto, cpu, cuda, cuda:N")
    return config


def _lookup(config: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        config = getattr(config, part)
    return config


def apply_overrides(values: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Set ``section.key=value`` pairs (values parsed as YAML) in a nested dict, in place."""
    for override in overrides:
        key, sep, raw = override.partition("=")
        if not sep or not key:
            raise ConfigError(f"override {override!r}: expected section.key=value, e.g. optim.lr=1e-4")
        *parents, leaf = key.strip().split(".")
        node = values
        for part in parents:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"override {override!r}: {part} is not a section")
            node = child
        node[leaf] = yaml.safe_load(raw)
    return values


def read_yaml(path: Path) -> dict[str, Any]:
    """The mapping in a YAML file; an empty file is an empty mapping."""
    try:
        loaded = yaml.safe_load(path.read_text())
    except OSError as err:
        raise ConfigError(f"{path}: cannot read ({err.strerror})") from err
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({str(err).splitlines()[0]})") from err
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(loaded).__name__}")
    return loaded


def load_config(values: dict[str, Any] | None = None, overrides: list[str] | None = None) -> TrainConfig:
    """Build a validated TrainConfig from nested ``values`` (e.g. a YAML file) and ``overrides``.

    Raises:
        ConfigError: unknown key, wrong type or value out of range.
    """
    merged = apply_overrides(dict(values or {}), overrides or [])
    return validate(_build(TrainConfig, merged))


def to_dict(config: TrainConfig) -> dict[str, Any]:
    """Plain YAML/JSON-ready values (paths as strings)."""

    def plain(value: Any) -> Any:
        if isinstance(value, Path):
            return str(value)
        if isinstance(value, dict):
            return {key: plain(item) for key, item in value.items()}
        if isinstance(value, list):
            return [plain(item) for item in value]
        return value

    result: dict[str, Any] = plain(asdict(config))
    return result


def save_config(config: TrainConfig, path: Path) -> Path:
    """Write the resolved configuration as YAML, atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, yaml.safe_dump(to_dict(config), sort_keys=False).encode())
    return path
