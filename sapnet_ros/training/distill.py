"""``sapnet-distill``: train a smaller SAPNet (a rung of the speed ladder) to imitate the shipped one.

    sapnet-distill --run-dir runs/sapnet-s --stages 2 --channels 32 --steps 2000
    sapnet-distill --run-dir runs/sapnet-s --resume            # continue where it stopped

The teacher (any SAPNet weights file, the shipped one by default) labels
every training image once; its outputs are cached in the run folder, so the
student's steps cost only the student. Training images are the project's
synthesized rain (``synthesis/rain.py``, randomized styles) over clean
scikit-image photos, which also give ground truth, plus any folders of rainy
frames without ground truth (``--unlabelled``), which only the teacher labels.
The evaluation photos and the held-out rain style (``rain.HELD_OUT``) are
never trained on.

The student starts from the teacher's weights where its shape allows: the
first stages of a shallower student (the stages share weights, so truncation
keeps them all), the most important channels of a narrower one (channel
pruning by weight magnitude). Batches are drawn from ``(seed, step)`` alone,
so a resumed run continues exactly. The end is ``sapnet-train``'s hand-off
(safetensors + fp32 ONNX) plus the int8 ONNX model.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from sapnet_ros.backends import BackendOptions
from sapnet_ros.bench.ladder import write_pairs
from sapnet_ros.cli.arguments import configure_logging
from sapnet_ros.commands import command
from sapnet_ros.derainer import open_derainer
from sapnet_ros.errors import SapnetError, TrainingError
from sapnet_ros.evaluation.paired import evaluate_pairs
from sapnet_ros.frames import to_network
from sapnet_ros.io.images import collect_images, read_image, write_png
from sapnet_ros.metrics import Quality, mean_quality
from sapnet_ros.model.export import export_onnx
from sapnet_ros.model.network import Architecture, SAPNet
from sapnet_ros.model.quantize import make_int8
from sapnet_ros.model.weights import FORMAT_VERSION, describe, load_model, read_weights, save_weights
from sapnet_ros.settings import DerainSettings
from sapnet_ros.synthesis.photos import load_photo
from sapnet_ros.synthesis.rain import EVALUATION_PHOTOS, RainStyle, add_rain
from sapnet_ros.training.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from sapnet_ros.training.data import PairDataset, load_pairs
from sapnet_ros.training.handoff import export_run
from sapnet_ros.training.monitor import quality_text
from sapnet_ros.training.validation import validate_model

LOG = logging.getLogger("sapnet_ros.training.distill")

# scikit-image photos available without download; EVALUATION_PHOTOS are never trained or validated on.
TRAIN_PHOTOS = (
    "chelsea", "camera", "brick", "grass", "gravel", "coins", "moon", "hubble_deep_field",
    "immunohistochemistry", "stereo_motorcycle", "retina", "cell", "page", "text", "colorwheel",
)  # fmt: skip
VALIDATION_PHOTOS = ("rocket", "clock")
CACHE_NAME = "teacher_cache.pt"
EVALUATION_SIZE = (120, 160)  # (height, width) of the small paired set a shipped rung's quality is recorded on
INT8_NAME = "sapnet_int8.onnx"

assert not set(TRAIN_PHOTOS + VALIDATION_PHOTOS) & set(EVALUATION_PHOTOS)


@dataclass
class DistillConfig:
    """Everything that defines a distillation run (stored in its checkpoints and exported metadata)."""

    run_dir: str = "runs/distill"
    teacher: str = "shipped"
    stages: int = 2
    channels: int = 32
    separable: bool = False
    steps: int = 2000
    batch_size: int = 4
    patch_size: int = 96
    lr: float = 5e-4
    gt_weight: float = 0.5
    seed: int = 0
    image_side: int = 256
    variants: int = 3
    unlabelled: list[str] = field(default_factory=list)
    val_every: int = 200
    checkpoint_minutes: float = 5.0
    threads: int = 1
    onnx: bool = True

    @property
    def architecture(self) -> Architecture:
        return Architecture(self.stages, self.channels, self.separable)


def training_style(rng: np.random.Generator) -> RainStyle:
    """A random rain between the synthesizer's light and heavy presets, leaning right (never ``rain.HELD_OUT``)."""
    short = int(rng.integers(6, 20))
    return RainStyle(
        density=float(rng.uniform(0.003, 0.012)),
        length=(short, short + int(rng.integers(8, 25))),
        angle=float(rng.uniform(-5.0, 15.0)),
        width=1,
        blur=float(rng.uniform(0.4, 1.0)),
        brightness=float(rng.uniform(0.5, 0.9)),
        haze=float(rng.uniform(0.0, 0.15)),
        layers=int(rng.integers(2, 4)),
    )


def fit_side(image: np.ndarray, side: int) -> np.ndarray:
    """``image`` shrunk (never enlarged) so that its longer side is at most ``side``."""
    import cv2

    scale = side / max(image.shape[:2])
    if scale >= 1:
        return image
    size = (round(image.shape[1] * scale), round(image.shape[0] * scale))
    return np.ascontiguousarray(cv2.resize(image, size, interpolation=cv2.INTER_AREA))


def synthesized_pairs(
    photos: tuple[str, ...], side: int, variants: int, seed: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(rainy, clean) uint8 RGB pairs: every photo with ``variants`` random training rains."""
    rng = np.random.default_rng(seed)
    pairs = []
    for photo in photos:
        clean = fit_side(load_photo(photo), side)
        for _ in range(variants):
            pairs.append((add_rain(clean, training_style(rng), seed=int(rng.integers(1 << 30))), clean))
    return pairs


@torch.no_grad()
def label(teacher: SAPNet, rainy: np.ndarray) -> torch.Tensor:
    """The teacher's output for a uint8 RGB image: float16 (3, H, W) RGB [0, 1]."""
    tensor = torch.from_numpy(to_network(rainy, "rgb"))[None]
    return teacher(tensor)[0].half()


def build_cache(config: DistillConfig, teacher: SAPNet, path: Path) -> dict[str, list[torch.Tensor]]:
    """Training images with the teacher's labels, computed once and kept in ``path``.

    Returns:
        ``rainy`` uint8 (3, H, W) RGB tensors, ``teacher`` float16 (3, H, W),
        and ``clean`` uint8 (3, H, W) or an empty tensor where there is no ground truth.
    """
    if path.is_file():
        cache: dict[str, list[torch.Tensor]] = torch.load(path, weights_only=True)
        return cache
    pairs: list[tuple[np.ndarray, np.ndarray | None]] = list(
        synthesized_pairs(TRAIN_PHOTOS, config.image_side, config.variants, config.seed)
    )
    for folder in config.unlabelled:
        for image_path in collect_images([Path(folder)]):
            bgr = read_image(image_path)
            pairs.append((fit_side(np.ascontiguousarray(bgr[..., 2::-1]), config.image_side), None))
    cache = {"rainy": [], "teacher": [], "clean": []}
    for rainy, clean in tqdm(pairs, desc="teacher labels", unit="image", file=sys.stderr):
        cache["rainy"].append(torch.from_numpy(rainy).permute(2, 0, 1).contiguous())
        cache["teacher"].append(label(teacher, rainy))
        cache["clean"].append(
            torch.from_numpy(clean).permute(2, 0, 1).contiguous() if clean is not None else torch.empty(0)
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(path, cache)
    return cache


def write_validation_set(folder: Path, side: int, seed: int) -> Path:
    """Synthesized pairs of the validation photos as ``input/`` + ``target/`` PNGs (what ``load_pairs`` reads)."""
    if not (folder / "target").is_dir():
        (folder / "input").mkdir(parents=True, exist_ok=True)
        (folder / "target").mkdir(parents=True, exist_ok=True)
        for index, (rainy, clean) in enumerate(synthesized_pairs(VALIDATION_PHOTOS, side, 2, seed + 1)):
            write_png(folder / "input" / f"{index}.png", np.ascontiguousarray(rainy[..., ::-1]))
            write_png(folder / "target" / f"{index}.png", np.ascontiguousarray(clean[..., ::-1]))
    return folder


def channel_importance(state: dict[str, torch.Tensor], channels: int) -> torch.Tensor:
    """How much each of the shared ``channels`` feature channels carries: summed |weights| in and out.

    Every convolution's output filters and input columns on the feature width
    add their L1 norms (normalized per layer), so a channel that no layer
    writes or reads strongly ranks last.
    """
    score = torch.zeros(channels)
    for weight in state.values():
        if weight.ndim != 4:
            continue
        if weight.shape[0] == channels:
            out_norm = weight.abs().sum(dim=(1, 2, 3))
            score += out_norm / out_norm.sum()
        if weight.shape[1] % channels == 0:  # the gates read [features, hidden state]: both halves count
            for part in weight.abs().sum(dim=(0, 2, 3)).split(channels):
                score += part / part.sum()
    return score


def _strongest(norms: torch.Tensor, count: int) -> torch.Tensor:
    return torch.sort(torch.topk(norms, count).indices).values


def warm_start(teacher: dict[str, torch.Tensor], source: Architecture, target: Architecture) -> dict[str, torch.Tensor]:
    """A student state dict from the teacher's: the same weights for fewer stages, the strongest channels for fewer.

    One set of feature channels is kept throughout (the residual stream, the
    ConvLSTM states and the block interiors share indices in the teacher too);
    each channel-attention bottleneck keeps its strongest units.

    Raises:
        ValueError: the student is wider than the teacher or differs in its
            kind of residual convolution (start it from scratch instead).
    """
    if target.channels > source.channels or target.separable != source.separable:
        raise ValueError(f"cannot warm-start {describe(target)} from {describe(source)}")
    keep = _strongest(channel_importance(teacher, source.channels), target.channels)
    both = torch.cat((keep, keep + source.channels))  # gate inputs: [conv0 features, hidden state]
    state = {}
    for key, value in SAPNet.build(target).state_dict().items():
        weight = teacher[key]
        for dim, size in enumerate(value.shape):
            if weight.shape[dim] == size:
                continue
            if weight.shape[dim] == 2 * source.channels:
                index = both
            elif weight.shape[dim] == source.channels:
                index = keep
            else:  # a channel-attention bottleneck: the units its squeezing layer drives hardest
                squeeze = teacher[key.replace("conv_du.2", "conv_du.0")]
                index = _strongest(squeeze.abs().sum(dim=(1, 2, 3)), size)
            weight = weight.index_select(dim, index)
        state[key] = weight.clone()
    return state


def sample_batch(
    cache: dict[str, list[torch.Tensor]], step: int, seed: int, batch_size: int, patch: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Random crops for ``step``, drawn from ``(seed, step)`` alone (so a resumed run sees the same batches).

    Returns:
        rainy, teacher, clean float32 (B, 3, P, P) RGB [0, 1] and has_clean bool (B,)
        (``clean`` is the teacher's label where there is no ground truth).
    """
    rng = np.random.default_rng((seed, step))
    rainy, taught, clean, has_clean = [], [], [], []
    for index in rng.integers(0, len(cache["rainy"]), batch_size):
        image = cache["rainy"][index]
        size = min(patch, image.shape[1], image.shape[2])
        top = int(rng.integers(0, image.shape[1] - size + 1))
        left = int(rng.integers(0, image.shape[2] - size + 1))
        window = (slice(None), slice(top, top + size), slice(left, left + size))
        flip = bool(rng.random() < 0.5)
        crops = [image[window].float() / 255, cache["teacher"][index][window].float()]
        truth = cache["clean"][index]
        crops.append(truth[window].float() / 255 if truth.numel() else crops[1])
        if flip:
            crops = [crop.flip(-1) for crop in crops]
        rainy.append(crops[0])
        taught.append(crops[1])
        clean.append(crops[2])
        has_clean.append(bool(truth.numel()))
    return torch.stack(rainy), torch.stack(taught), torch.stack(clean), torch.tensor(has_clean)


def distill_loss(
    estimate: torch.Tensor, teacher: torch.Tensor, clean: torch.Tensor, has_clean: torch.Tensor, gt_weight: float
) -> torch.Tensor:
    """L1 to the teacher, plus ``gt_weight`` x L1 to the ground truth on the samples that have it."""
    loss = F.l1_loss(estimate, teacher)
    if gt_weight and bool(has_clean.any()):
        loss = loss + gt_weight * F.l1_loss(estimate[has_clean], clean[has_clean])
    return loss


def cosine_lr(config: DistillConfig, step: int) -> float:
    """Learning rate at ``step``: cosine decay from ``lr`` to 5 % of it."""
    progress = min(step / max(config.steps, 1), 1.0)
    return config.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress)))


class Distiller:
    """One distillation run: data and teacher labels, student, optimizer, position, best result."""

    def __init__(self, config: DistillConfig, state: dict[str, Any] | None = None) -> None:
        self.config = config
        self.run_dir = Path(config.run_dir)
        torch.manual_seed(config.seed)
        torch.set_num_threads(config.threads)
        teacher, self.teacher_weights = load_model(None if config.teacher == "shipped" else Path(config.teacher))
        self.cache = build_cache(config, teacher, self.run_dir / CACHE_NAME)
        self.val_set = PairDataset(
            load_pairs(write_validation_set(self.run_dir / "val", config.image_side, config.seed))
        )
        self.student = SAPNet.build(config.architecture)
        try:
            start = warm_start(self.teacher_weights.state_dict, self.teacher_weights.architecture, config.architecture)
            self.student.load_state_dict(start)
            LOG.info(
                "warm start: %s from the teacher (%s)",
                describe(config.architecture),
                describe(self.teacher_weights.architecture),
            )
        except ValueError as err:
            LOG.info("%s; training from scratch (seed %d)", err, config.seed)
        self.optimizer = torch.optim.Adam(self.student.parameters(), lr=config.lr)
        self.step = 0
        self.best: dict[str, Any] | None = None
        self.history: list[dict[str, Any]] = []
        if state is not None:
            self.student.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
            self.step, self.best, self.history = state["step"], state["best"], state["history"]
            set_rng_state(state["rng"])
            LOG.info("resumed at step %d", self.step)

    @property
    def checkpoints(self) -> Path:
        return self.run_dir / "checkpoints"

    def train_step(self) -> float:
        config = self.config
        rainy, teacher, clean, has_clean = sample_batch(
            self.cache, self.step, config.seed, config.batch_size, config.patch_size
        )
        for group in self.optimizer.param_groups:
            group["lr"] = cosine_lr(config, self.step)
        self.optimizer.zero_grad(set_to_none=True)
        loss = distill_loss(self.student.stage_estimates(rainy)[-1], teacher, clean, has_clean, config.gt_weight)
        if not torch.isfinite(loss):
            raise TrainingError(
                f"loss is {float(loss)} at step {self.step + 1}; resume from the last checkpoint with a lower --lr"
            )
        loss.backward()
        self.optimizer.step()
        self.step += 1
        return float(loss.detach())

    def validate(self) -> Quality:
        """Validation PSNR/SSIM; keeps the best weights in ``best.pt``."""
        quality, _ = validate_model(self.student, self.val_set, torch.device("cpu"))
        self.student.train()
        self.history.append({"step": self.step, **quality.as_dict()})
        LOG.info("step %d validation: %s", self.step, quality_text(quality))
        if self.best is None or quality.psnr_y > self.best["value"]:
            self.best = {"metric": "psnr_y", "value": quality.psnr_y, "step": self.step, "metrics": quality.as_dict()}
            save_checkpoint(self.checkpoints / "best.pt", {"model": self.student.state_dict(), "best": self.best})
        return quality

    def save(self) -> None:
        state = {
            "model": self.student.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "step": self.step,
            "best": self.best,
            "history": self.history,
            "rng": rng_state(),
            "config": asdict(self.config),
        }
        save_checkpoint(self.checkpoints / "last.pt", state)

    def fit(self) -> list[Path]:
        """Train to ``steps`` (checkpointing every few minutes), validate, hand off the best weights."""
        config = self.config
        if self.step == 0:
            self.validate()
        progress = tqdm(total=config.steps, initial=self.step, unit="step", desc="distill", file=sys.stderr)
        saved = time.monotonic()
        while self.step < config.steps:
            loss = self.train_step()
            progress.update()
            progress.set_postfix(loss=f"{loss:.4f}")
            if self.step % config.val_every == 0 or self.step == config.steps:
                self.validate()
            if time.monotonic() - saved > 60 * config.checkpoint_minutes or self.step == config.steps:
                self.save()
                saved = time.monotonic()
        progress.close()
        return self.hand_off()

    def hand_off(self) -> list[Path]:
        assert self.best is not None
        state = load_checkpoint(self.checkpoints / "best.pt")["model"]
        metrics = {**self.best["metrics"], "step": self.best["step"]}
        export = self.run_dir / "export"
        record = {**asdict(self.config), "program": "sapnet-distill", "teacher_sha256": self.teacher_weights.sha256}
        written = export_run(
            export,
            state,
            self.config.architecture,
            record,
            metrics,
            self.teacher_weights,
            self.config.onnx,
            source=f"sapnet-distill run {self.config.run_dir}",
        )
        if self.config.onnx:
            make_int8(export / INT8_NAME, written[0])
            written.append(export / INT8_NAME)
        return written


def command_line(config: DistillConfig) -> str:
    """The ``sapnet-distill`` command that runs ``config`` (recorded with shipped weights)."""
    defaults = asdict(DistillConfig())
    words = ["sapnet-distill", "--run-dir", config.run_dir]
    for key, value in asdict(config).items():
        if key in ("run_dir", "threads", "checkpoint_minutes") or value == defaults[key]:
            continue
        flag = "--" + key.replace("_", "-")
        if isinstance(value, bool):
            words.append(flag if value else "--no-" + key)
        elif isinstance(value, list):
            words += [word for item in value for word in (flag, item)]
        else:
            words += [flag, str(value)]
    return " ".join(words)


def evaluation_record(weights: Path, size: tuple[int, int] = EVALUATION_SIZE) -> dict[str, Any]:
    """What ``sapnet-evaluate --backend torch --precision fp32`` measures for ``weights`` on the ladder's small set.

    The set (``bench.ladder.write_pairs``) is the held-out evaluation photos
    with light, heavy and held-out rain; a test reproduces these figures.
    """
    with tempfile.TemporaryDirectory() as scratch:
        pairs = load_pairs(write_pairs(Path(scratch), size))
        settings = DerainSettings("torch", BackendOptions(weights=weights, precision="fp32", device="cpu"))
        with open_derainer(settings) as derainer:
            results = evaluate_pairs(derainer, pairs)
    quality = mean_quality([result.derained for result in results])
    return {
        "set": f"sapnet_ros.bench.ladder.write_pairs at {size[1]}x{size[0]}: {len(pairs)} pairs",
        "path": "sapnet-evaluate --backend torch --precision fp32 --device cpu",
        **{key: round(value, 4) for key, value in quality.as_dict().items()},
    }


def ship(run_dir: Path, name: str, models_dir: Path) -> list[Path]:
    """Put a finished run's best weights into ``models_dir`` as the rung ``name``: safetensors, ONNX and int8 ONNX.

    The weights carry their architecture, the teacher's provenance and
    licence, the command, data and seed that made them, their validation
    figures and their ``evaluation_record``.
    """
    state = load_checkpoint(run_dir / "checkpoints" / "last.pt")
    config = DistillConfig(**state["config"])
    teacher = read_weights(None if config.teacher == "shipped" else Path(config.teacher))
    best = state["best"]
    metadata = {
        "format": "sapnet_ros-weights",
        "format_version": FORMAT_VERSION,
        "model": name,
        **config.architecture.to_metadata(),
        "source": f"sapnet-distill from {teacher.path.name} (sha256 {teacher.sha256[:12]})",
        "base_weights_sha256": teacher.sha256,
        "licence": teacher.metadata.get("licence", "unknown"),
        "training_command": command_line(config),
        "training_data": f"{config.variants} random training rains (distill.training_style, seed {config.seed}) "
        f"over scikit-image photos {', '.join(TRAIN_PHOTOS)} at <= {config.image_side} px, plus "
        f"{', '.join(config.unlabelled) or 'no'} unlabelled frames; labels: the teacher's outputs",
        "training_config": json.dumps(asdict(config), sort_keys=True),
        "training_metrics": json.dumps(
            {**best["metrics"], "step": best["step"], "steps_done": state["step"], "validation": VALIDATION_PHOTOS}
        ),
        "training_history": json.dumps(state["history"]),
    }
    weights = models_dir / f"{name}.safetensors"
    save_weights(load_checkpoint(run_dir / "checkpoints" / "best.pt")["model"], weights, metadata)
    metadata["evaluation"] = json.dumps(evaluation_record(weights))
    save_weights(read_weights(weights).state_dict, weights, metadata)
    onnx = export_onnx(models_dir / f"{name}.onnx", weights)
    int8 = models_dir / f"{name}_int8.onnx"
    make_int8(int8, weights)
    return [weights, onnx, int8]


@command("sapnet-distill")
def main(argv: list[str] | None = None) -> int:
    defaults = DistillConfig()
    parser = argparse.ArgumentParser(
        prog="sapnet-distill",
        description="Distil the shipped SAPNet into a smaller, faster one (a rung of the speed ladder).",
        epilog="examples:\n"
        "  sapnet-distill --run-dir runs/sapnet-s --stages 2 --channels 32 --steps 2000\n"
        "  sapnet-distill --run-dir runs/sapnet-xs --stages 2 --channels 16 --lr 1e-3\n"
        "  sapnet-distill --run-dir runs/sapnet-s --resume",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--run-dir", required=True, help="checkpoints, teacher cache, validation set and export")
    parser.add_argument(
        "--resume", action="store_true", help="continue from RUN_DIR/checkpoints/last.pt (its settings)"
    )
    parser.add_argument("--teacher", default=defaults.teacher, help="teacher weights file (default: %(default)s)")
    parser.add_argument("--stages", type=int, default=defaults.stages, help="student stages (default: %(default)s)")
    parser.add_argument("--channels", type=int, default=defaults.channels, help="student width (default: %(default)s)")
    parser.add_argument("--separable", action="store_true", help="depthwise-separable residual convolutions")
    parser.add_argument(
        "--steps", type=int, help=f"training steps (default: {defaults.steps}; with --resume: the run's, or this)"
    )
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size, help="default: %(default)s")
    parser.add_argument("--patch-size", type=int, default=defaults.patch_size, help="default: %(default)s")
    parser.add_argument("--lr", type=float, default=defaults.lr, help="peak Adam learning rate (default: %(default)s)")
    parser.add_argument("--gt-weight", type=float, default=defaults.gt_weight, help="default: %(default)s")
    parser.add_argument("--seed", type=int, default=defaults.seed, help="default: %(default)s")
    parser.add_argument("--image-side", type=int, default=defaults.image_side, help="default: %(default)s")
    parser.add_argument(
        "--variants", type=int, default=defaults.variants, help="rains per photo (default: %(default)s)"
    )
    parser.add_argument("--unlabelled", action="append", default=[], help="folder of rainy frames (repeatable)")
    parser.add_argument("--val-every", type=int, default=defaults.val_every, help="default: %(default)s")
    parser.add_argument("--checkpoint-minutes", type=float, default=defaults.checkpoint_minutes)
    parser.add_argument("--threads", type=int, default=defaults.threads, help="default: %(default)s")
    parser.add_argument("--no-onnx", dest="onnx", action="store_false", help="hand off safetensors only")
    parser.add_argument("--ship", metavar="NAME", help="put RUN_DIR's best weights into --models-dir as rung NAME")
    parser.add_argument("--models-dir", type=Path, default=Path("models"), help="with --ship (default: %(default)s)")
    parser.add_argument("--verbose", "-v", action="store_true", help="debug logging")
    args = parser.parse_args(argv)
    configure_logging(args.verbose)
    if args.ship:
        try:
            shipped = ship(Path(args.run_dir), args.ship, args.models_dir)
        except (SapnetError, ValueError) as err:
            parser.exit(2, f"sapnet-distill: error: {err}\n")
        print(f"sapnet-distill: shipped {', '.join(map(str, shipped))}")
        return 0
    try:
        last = Path(args.run_dir) / "checkpoints" / "last.pt"
        state = load_checkpoint(last) if args.resume else None
        if state is not None:  # the run's own settings; --steps may change its length
            config = DistillConfig(**state["config"])
            config = replace(config, steps=args.steps or config.steps)
        else:
            values = {key: value for key, value in vars(args).items() if key in DistillConfig.__dataclass_fields__}
            config = DistillConfig(**{**values, "steps": args.steps or defaults.steps})
        config.architecture  # noqa: B018 - an impossible student ends here, before any data is made
        written = Distiller(config, state).fit()
    except TrainingError as err:
        LOG.error("%s", err)
        return 1
    except (SapnetError, ValueError) as err:
        parser.exit(2, f"sapnet-distill: error: {err}\n")
    print(f"sapnet-distill: exported {', '.join(map(str, written))}; {json.dumps(config.architecture.to_metadata())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
