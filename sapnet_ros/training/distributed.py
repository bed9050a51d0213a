"""One code path for one process, one GPU, or many GPUs and nodes under ``torchrun``.

``torchrun`` describes each process in ``RANK``, ``WORLD_SIZE`` and
``LOCAL_RANK``; without them the run is a single process and nothing here
talks to a process group. NCCL is used between GPUs and gloo on CPUs.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist

from sapnet_ros.errors import ConfigError

# Rank 0 validates and exports while the others wait at a barrier: allow for long validations.
GROUP_TIMEOUT = timedelta(hours=2)


@dataclass(frozen=True)
class Ranks:
    """Where this process stands in the job."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def from_environment() -> Ranks:
    """The ranks ``torchrun`` set in the environment (a single process without them)."""
    return Ranks(
        rank=int(os.environ.get("RANK", "0")),
        world_size=int(os.environ.get("WORLD_SIZE", "1")),
        local_rank=int(os.environ.get("LOCAL_RANK", "0")),
    )


def choose_device(requested: str, ranks: Ranks) -> torch.device:
    """``auto``: this rank's GPU when CUDA is present, else the CPU; ``cuda`` means this rank's GPU.

    Raises:
        ConfigError: CUDA asked for but not available.
    """
    if requested == "cpu" or (requested == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise ConfigError(f"runtime.device={requested!r} but torch.cuda.is_available() is False; use cpu or auto")
    if requested in ("auto", "cuda"):
        return torch.device("cuda", ranks.local_rank)
    return torch.device(requested)


@contextmanager
def process_group(ranks: Ranks, device: torch.device) -> Iterator[None]:
    """Join the job's process group for the duration of the block (no-op for one process)."""
    if not ranks.enabled:
        yield
        return
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo", timeout=GROUP_TIMEOUT)
    try:
        yield
    finally:
        dist.destroy_process_group()


def mean_across(value: torch.Tensor, ranks: Ranks) -> torch.Tensor:
    """The mean of a scalar over all ranks (non-finite on every rank if it is on any)."""
    if not ranks.enabled:
        return value
    total = value.detach().clone()
    dist.all_reduce(total)
    return total / ranks.world_size


def barrier(ranks: Ranks) -> None:
    if ranks.enabled:
        dist.barrier()
