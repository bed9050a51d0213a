"""``sapnet-train``: train or fine-tune SAPNet on one CPU, one GPU, or many GPUs with torchrun.

    sapnet-train --config config/train.yaml data.train=pairs/train data.val=pairs/val
    torchrun --nproc_per_node 4 -m sapnet_ros.training --config config/train.yaml
    sapnet-train --resume runs/sapnet/checkpoints/last.pt

Each rank trains on its share of the patches (DistributedSampler); rank 0
alone logs, validates, checkpoints and exports. A run resumed from a
checkpoint continues exactly where it stopped, mid-epoch included.
"""

from __future__ import annotations

import argparse
import copy
import itertools
import logging
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.optim import Adam
from torch.optim.lr_scheduler import MultiStepLR
from torch.utils.data import DataLoader, DistributedSampler
from tqdm import tqdm

from sapnet_ros.cli.arguments import configure_logging
from sapnet_ros.commands import DeferredInterrupts, command, deferred_interrupts
from sapnet_ros.errors import ConfigError, SapnetError, TrainingError
from sapnet_ros.io.atomic import output_folder, stale_temporaries
from sapnet_ros.model.network import Architecture, SAPNet
from sapnet_ros.model.weights import Weights, load_model
from sapnet_ros.training import distributed
from sapnet_ros.training.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from sapnet_ros.training.config import TrainConfig, load_config, read_yaml, save_config, to_dict
from sapnet_ros.training.data import PairDataset, PatchDataset, load_pairs
from sapnet_ros.training.handoff import WEIGHTS_NAME, export_run
from sapnet_ros.training.losses import TrainingLoss
from sapnet_ros.training.monitor import Monitor, quality_text
from sapnet_ros.training.validation import input_quality, validate_model

LOG = logging.getLogger("sapnet_ros.training")


class FinalEstimate(nn.Module):
    """SAPNet's last stage, unclamped, as ``forward``: what the losses see and what DDP must wrap."""

    def __init__(self, model: SAPNet) -> None:
        super().__init__()
        self.model = model

    def forward(self, rainy: torch.Tensor) -> torch.Tensor:
        return self.model.stage_estimates(rainy)[-1]


class ResumableSampler(DistributedSampler[int]):
    """A DistributedSampler that can start part-way through an epoch (``skip`` samples in)."""

    skip = 0

    def __iter__(self) -> Iterator[int]:
        return itertools.islice(super().__iter__(), self.skip, None)

    def __len__(self) -> int:
        return super().__len__() - self.skip


@dataclass
class TrainResult:
    """What ``train`` returns on every rank (``best`` and ``exported`` only on rank 0, which validates)."""

    model: SAPNet
    steps: int
    best: dict[str, Any] | None
    exported: list[Path] = field(default_factory=list)


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast type for ``precision`` here, or None for fp32 (with a warning when falling back)."""
    if precision == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        LOG.warning("runtime.precision=bf16: this GPU lacks bf16; training in fp32")
        return None
    if precision == "fp16" and device.type != "cuda":
        LOG.warning("runtime.precision=fp16 needs CUDA (bf16 works on CPUs); training in fp32")
        return None
    return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)


ModuleT = TypeVar("ModuleT", bound=nn.Module)


def place(module: ModuleT, device: torch.device, memory_format: torch.memory_format) -> ModuleT:
    """Move ``module`` to ``device`` with its 4-D weights in ``memory_format`` (e.g. channels_last)."""
    return module.to(device, memory_format=memory_format)  # type: ignore[call-overload]


def initial_model(init: str, stages: int) -> tuple[SAPNet, Weights | None]:
    """SAPNet from scratch (seeded), from the shipped weights, or from a weights file."""
    if init == "scratch":
        return SAPNet(stages=stages), None
    return load_model(None if init == "shipped" else Path(init), stages=stages)


class Trainer:
    """One rank's share of a training run."""

    def __init__(self, config: TrainConfig, ranks: distributed.Ranks, device: torch.device) -> None:
        self.config, self.ranks, self.device = config, ranks, device
        runtime, data, optim = config.runtime, config.data, config.optim
        torch.manual_seed(runtime.seed)
        if runtime.threads:
            torch.set_num_threads(runtime.threads)
        torch.backends.cudnn.benchmark = device.type == "cuda"
        self.dtype = autocast_dtype(runtime.precision, device)
        self.memory_format = torch.channels_last if runtime.channels_last else torch.contiguous_format
        if data.train is None:
            raise ConfigError("data.train is not set: give a paired folder (sapnet-make-pairs writes one)")
        self.dataset = PatchDataset(
            load_pairs(data.train, data.patch_size), data.patch_size, data.crops_per_image, data.flip, runtime.seed
        )
        self.val_set = PairDataset(load_pairs(data.val)) if data.val else None
        self.sampler = ResumableSampler(self.dataset, ranks.world_size, ranks.rank, shuffle=True, seed=runtime.seed)
        self.steps_per_epoch = len(self.sampler) // optim.batch_size
        if self.steps_per_epoch == 0:
            raise ConfigError(
                f"{len(self.dataset)} patches per epoch over {ranks.world_size} rank(s) do not fill one batch "
                f"of optim.batch_size={optim.batch_size}; add pairs or raise data.crops_per_image"
            )
        self.model, self.base_weights = initial_model(config.model.init, config.model.stages)
        place(self.model, device, self.memory_format).train()
        estimate = FinalEstimate(self.model)
        self.network: nn.Module = (
            DistributedDataParallel(estimate, device_ids=[device.index] if device.type == "cuda" else None)
            if ranks.enabled
            else estimate
        )
        self.optimizer = Adam(self.model.parameters(), lr=optim.lr)
        self.scheduler = MultiStepLR(self.optimizer, milestones=optim.milestones, gamma=optim.gamma)
        self.scaler = torch.amp.GradScaler(device.type, enabled=self.dtype == torch.float16)
        self.criterion = place(TrainingLoss(config.loss), device, self.memory_format)
        self.epoch = self.step = self.step_in_epoch = 0
        self.best: dict[str, Any] | None = None
        self.checkpoints = config.log.run_dir / "checkpoints"
        self.monitor = Monitor(config.log.run_dir, config.log.tensorboard) if ranks.is_main else None
        self.interrupts = DeferredInterrupts()  # replaced by the live one while ``fit`` runs

    def _stop_requested(self) -> bool:
        """Whether SIGINT/SIGTERM arrived on any rank (all ranks stop after the same step)."""
        flag = torch.tensor(float(self.interrupts.requested), device=self.device)
        return bool(distributed.mean_across(flag, self.ranks) > 0)

    def restore(self, state: dict[str, Any], source: Path) -> None:
        """Continue from a checkpoint: weights, optimizer, schedule, scaler, position and RNG states.

        Raises:
            TrainingError: its weights do not fit.
        """
        try:
            self.model.load_state_dict(state["model"])
        except RuntimeError as err:
            raise TrainingError(f"{source}: weights do not fit this model: {str(err).splitlines()[0]}") from err
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        self.epoch, self.step, self.step_in_epoch = state["epoch"], state["step"], state["step_in_epoch"]
        self.best = state["best"]
        set_rng_state(state["rng"])
        if state["world_size"] != self.ranks.world_size and self.step_in_epoch:
            LOG.warning(
                "checkpoint is from %d rank(s), now %d: the rest of epoch %d sees other patches",
                state["world_size"],
                self.ranks.world_size,
                self.epoch + 1,
            )
        LOG.info("resumed from %s at epoch %d, step %d", source, self.epoch + 1, self.step)

    def fit(self) -> TrainResult:
        """Train until ``optim.epochs`` or ``optim.max_steps``, then hand the best weights off."""
        if self.ranks.is_main:
            save_config(self.config, self.checkpoints / "config.yaml")
            LOG.info(
                "training on %s x%d (%s), %d patches/epoch, %d steps/epoch per rank, losses %s",
                self.device,
                self.ranks.world_size,
                self.config.runtime.precision,
                len(self.dataset),
                self.steps_per_epoch,
                self.criterion.weights,
            )
        with deferred_interrupts() as self.interrupts:
            if self.step == 0 and self.val_set is not None:
                self.validate()  # the starting point: what training has to beat
            while self.epoch < self.config.optim.epochs and not self._out_of_steps():
                if self.run_epoch():
                    self.scheduler.step()
                    self.epoch, self.step_in_epoch = self.epoch + 1, 0
                    if self.val_set is not None:
                        self.validate()
                self.save()
                if self._stop_requested():
                    LOG.warning(
                        "interrupted: saved %s at epoch %d, step %d; continue with --resume",
                        self.checkpoints / "last.pt",
                        self.epoch + 1,
                        self.step,
                    )
                    self.interrupts.raise_if_requested()
                    raise KeyboardInterrupt("another rank")
        exported = self.hand_off() if self.ranks.is_main else []
        distributed.barrier(self.ranks)
        if self.monitor is not None:
            self.monitor.close()
        return TrainResult(self.model, self.step, self.best, exported)

    def _out_of_steps(self) -> bool:
        return bool(self.config.optim.max_steps) and self.step >= self.config.optim.max_steps

    def run_epoch(self) -> bool:
        """Train the rest of the current epoch; False if ``max_steps`` stopped it early."""
        batch_size = self.config.optim.batch_size
        self.dataset.epoch = self.epoch
        self.sampler.set_epoch(self.epoch)
        self.sampler.skip = self.step_in_epoch * batch_size
        loader = DataLoader(
            self.dataset,
            batch_size,
            sampler=self.sampler,
            num_workers=self.config.data.workers,
            drop_last=True,
            pin_memory=self.device.type == "cuda",
        )
        show = self.ranks.is_main and self.config.log.progress
        progress = tqdm(
            total=self.steps_per_epoch,
            initial=self.step_in_epoch,
            disable=not show,
            unit="step",
            desc=f"epoch {self.epoch + 1}/{self.config.optim.epochs}",
            file=sys.stderr,
        )
        started, images = time.perf_counter(), 0
        for rainy, clean in loader:
            if self.step_in_epoch >= self.steps_per_epoch:
                break  # a resume with fewer ranks can leave more samples than steps
            loss, terms = self.train_step(rainy, clean)
            self.step += 1
            self.step_in_epoch += 1
            images += rainy.shape[0] * self.ranks.world_size
            rate = images / (time.perf_counter() - started)
            progress.update()
            progress.set_postfix(loss=f"{loss:.4f}", img_s=f"{rate:.1f}")
            if self.monitor is not None and self.step % self.config.log.every_steps == 0:
                values = {"lr": self.optimizer.param_groups[0]["lr"], "loss": loss, **terms, "images_per_s": rate}
                self.monitor.log_train(self.step, self.epoch + 1, values)
            if self._out_of_steps() or self._stop_requested():
                break
            if self.step % self.config.log.checkpoint_every == 0 and self.step_in_epoch < self.steps_per_epoch:
                self.save()
        progress.close()
        return self.step_in_epoch >= self.steps_per_epoch

    def train_step(self, rainy: torch.Tensor, clean: torch.Tensor) -> tuple[float, dict[str, float]]:
        """One optimizer step; returns the loss (mean over ranks) and this rank's unweighted terms."""
        rainy = rainy.to(self.device, non_blocking=True, memory_format=self.memory_format)
        clean = clean.to(self.device, non_blocking=True, memory_format=self.memory_format)
        self.optimizer.zero_grad(set_to_none=True)
        with torch.autocast(self.device.type, dtype=self.dtype, enabled=self.dtype is not None):
            estimate = self.network(rainy)  # (B, 3, P, P), unclamped
            loss, terms = self.criterion(estimate, clean, rainy, self.epoch)
        mean_loss = distributed.mean_across(loss.detach(), self.ranks)
        values = {name: float(value.detach()) for name, value in terms.items()}
        if not torch.isfinite(mean_loss):
            last = self.checkpoints / "last.pt"
            kept = f"the last good checkpoint is {last}" if last.is_file() else "no checkpoint was written yet"
            shown = ", ".join(f"{name}={value:.4g}" for name, value in values.items())
            raise TrainingError(
                f"loss is {float(mean_loss)} at epoch {self.epoch + 1}, step {self.step + 1} ({shown}); stopped "
                f"without updating the weights; {kept} (resume it with a lower optim.lr or runtime.precision=fp32)"
            )
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        return float(mean_loss), values

    def validate(self) -> None:
        """Rank 0 derains the validation set, logs it, saves samples and keeps the best weights."""
        if self.monitor is not None and self.val_set is not None:
            quality, samples = validate_model(self.model, self.val_set, self.device, self.config.log.samples)
            if self.step == 0:
                baseline = input_quality(self.val_set)
                LOG.info("validation input (rainy vs clean): %s", quality_text(baseline))
            LOG.info("validation after epoch %d: %s", self.epoch, quality_text(quality))
            self.monitor.log_val(self.step, self.epoch, quality)
            self.monitor.save_samples(self.step, self.epoch, samples)
            metric = self.config.log.best_metric
            value = getattr(quality, metric)
            if self.best is None or value > self.best["value"]:
                self.best = {
                    "metric": metric,
                    "value": value,
                    "epoch": self.epoch,
                    "step": self.step,
                    "metrics": quality.as_dict(),
                }
                best = {"model": self.model.state_dict(), "best": self.best, "config": to_dict(self.config)}
                save_checkpoint(self.checkpoints / "best.pt", best)
                LOG.info("new best %s %.4f at epoch %d", metric, value, self.epoch)
        self.model.train()
        distributed.barrier(self.ranks)

    def save(self) -> None:
        """Rank 0 writes ``last.pt`` atomically (with the resolved config beside it)."""
        if not self.ranks.is_main:
            return
        for name in ("last.pt", "best.pt", "config.yaml"):
            for leftover in stale_temporaries(self.checkpoints / name):
                LOG.warning("removing %s, left by a run killed while it saved", leftover)
                leftover.unlink()
        state = {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "epoch": self.epoch,
            "step": self.step,
            "step_in_epoch": self.step_in_epoch,
            "best": self.best,
            "rng": rng_state(),
            "config": to_dict(self.config),
            "world_size": self.ranks.world_size,
        }
        save_checkpoint(self.checkpoints / "last.pt", state)

    def hand_off(self) -> list[Path]:
        """Export the best weights (the last ones without validation) as safetensors and ONNX."""
        if self.best is not None:
            state = load_checkpoint(self.checkpoints / "best.pt")["model"]
            LOG.info(
                "handing off the best weights: epoch %d, %s %.4f",
                self.best["epoch"],
                self.best["metric"],
                self.best["value"],
            )
            metrics = {**self.best["metrics"], "epoch": self.best["epoch"]}
        else:
            state = self.model.state_dict()
            LOG.info("handing off the last weights (no validation set to pick the best)")
            metrics = {}
        return export_run(
            self.config.log.run_dir / "export",
            state,
            Architecture(stages=self.config.model.stages),
            to_dict(self.config),
            metrics,
            self.base_weights,
            self.config.export.onnx,
        )


RESUMABLE = ("model", "optimizer", "scheduler", "scaler", "epoch", "step", "step_in_epoch", "best", "rng", "config")


def check_resumable(state: dict[str, Any], source: Path) -> None:
    """Raise TrainingError naming what a checkpoint lacks for a resume (``best.pt`` holds weights only)."""
    missing = [key for key in RESUMABLE if key not in state]
    if missing:
        raise TrainingError(
            f"{source}: cannot resume from it: it lacks {', '.join(missing)} (a best.pt keeps the best "
            f"weights only); resume from last.pt beside it, or fine-tune from the exported weights with "
            f"model.init=RUN/export/{WEIGHTS_NAME}"
        )


def train(config: TrainConfig, resume: dict[str, Any] | None = None, resume_path: Path | None = None) -> TrainResult:
    """Run (or continue, from the checkpoint dict ``resume``) one training job on this rank."""
    if resume is not None:
        check_resumable(resume, resume_path or Path("checkpoint"))
    ranks = distributed.from_environment()
    device = distributed.choose_device(config.runtime.device, ranks)
    threads = torch.get_num_threads()
    try:
        with distributed.process_group(ranks, device):
            trainer = Trainer(config, ranks, device)
            if resume is not None:
                trainer.restore(resume, resume_path or Path("checkpoint"))
            return trainer.fit()
    finally:
        torch.set_num_threads(threads)  # runtime.threads is for this run, not for the caller


def _changed(before: dict[str, Any], after: dict[str, Any], prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two nested config dicts."""
    changes = []
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        if isinstance(old, dict) and isinstance(new, dict):
            changes += _changed(old, new, f"{prefix}{key}.")
        elif old != new:
            changes.append(f"{prefix}{key}: {old!r} -> {new!r}")
    return changes


@command("sapnet-train")
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="sapnet-train",
        description="Train or fine-tune SAPNet on paired rainy/clean images (see config/train.yaml).",
        epilog="examples:\n"
        "  sapnet-train --config config/train.yaml data.train=pairs/train data.val=pairs/val\n"
        "  sapnet-train --config config/train.yaml model.init=shipped optim.lr=1e-4 optim.epochs=10\n"
        "  torchrun --nproc_per_node 4 -m sapnet_ros.training --config config/train.yaml\n"
        "  sapnet-train --resume runs/sapnet/checkpoints/last.pt",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "overrides", nargs="*", metavar="SECTION.KEY=VALUE", help="configuration overrides (YAML values)"
    )
    parser.add_argument("--config", type=Path, help="YAML configuration (default: the built-in paper defaults)")
    parser.add_argument("--resume", type=Path, help="continue from this checkpoint (its config unless --config)")
    parser.add_argument("--vgg-weights", type=Path, help="torchvision VGG16 state dict (contrastive and LPIPS losses)")
    parser.add_argument("--lpips-weights", type=Path, help="LPIPS v0.1 VGG heads (lpips/weights/v0.1/vgg.pth)")
    parser.add_argument("--seg-weights", type=Path, help="torchvision LR-ASPP MobileNetV3-Large (UBS loss)")
    parser.add_argument("--verbose", "-v", action="store_true", help="debug logging")
    args = parser.parse_intermixed_args(argv)  # overrides before and after options
    configure_logging(args.verbose)
    if not distributed.from_environment().is_main:
        logging.getLogger().setLevel(logging.WARNING)  # one rank speaks for the job
    try:
        state = load_checkpoint(args.resume) if args.resume else None
        if state is not None:
            check_resumable(state, args.resume)
        values = read_yaml(args.config) if args.config else copy.deepcopy(state["config"]) if state else {}
        for option in ("vgg_weights", "lpips_weights", "seg_weights"):
            if getattr(args, option) is not None:
                values.setdefault("loss", {})[option] = str(getattr(args, option))
        config = load_config(values, args.overrides)
        if state is not None:
            for change in _changed(state["config"], to_dict(config)):
                LOG.warning("configuration differs from the checkpoint's: %s", change)
        with output_folder(config.log.run_dir):  # checked before any data is read or step taken
            result = train(config, state, args.resume)
    except TrainingError as err:
        LOG.error("%s", err)
        return 1
    except SapnetError as err:
        parser.exit(2, f"sapnet-train: error: {err}\n")
    if result.exported:
        print(f"sapnet-train: {result.steps} steps; exported {', '.join(map(str, result.exported))}")
    return 0
