"""Runs many bags at once: in this process, in local worker processes, or as tasks on a Ray cluster.

Each bag is one ``evaluate_bag`` call, so a fleet of recordings spreads
naturally: worker processes (spawned, as PyTorch and ONNX Runtime threads do
not survive ``fork``) on one machine, or Ray tasks across a cluster whose
nodes have sapnet_ros installed and see the bags and the output folder at the
same paths. A bag that cannot be evaluated is reported and the others go on.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import queue
import shutil
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from contextlib import suppress
from dataclasses import dataclass, replace
from typing import Any

import torch
from tqdm import tqdm

from sapnet_ros.commands import quiet_worker, stop_workers
from sapnet_ros.errors import SapnetError
from sapnet_ros.evaluation.records import BagResult
from sapnet_ros.evaluation.run import BagJob, EvalOptions, evaluate_bag
from sapnet_ros.io.atomic import staging_folder

LOG = logging.getLogger(__name__)
RAY_CPUS_PER_BAG = 2  # CPUs (and inference threads) a Ray task asks for when --threads is not given


@dataclass(frozen=True)
class BagFailure:
    """A bag that could not be evaluated at all, and why."""

    name: str
    source: str
    error: str


Outcome = BagResult | BagFailure


def _evaluate(job: BagJob, options: EvalOptions, progress: Callable[[int], object] | None) -> Outcome:
    try:
        return evaluate_bag(job, options, progress)
    except SapnetError as err:
        return BagFailure(job.name, str(job.source), str(err))


def _evaluate_in_worker(job: BagJob, options: EvalOptions, frames: Any) -> Outcome:
    """Worker-process entry: set up logging and threads, report finished frames on the ``frames`` queue."""
    logging.basicConfig(level=logging.INFO, format=f"%(levelname)s [{job.name}] %(name)s: %(message)s")
    torch.set_num_threads(max(1, options.derain.options.threads))  # for the metrics; inference has its own
    return _evaluate(job, options, frames.put)


def run_here(jobs: Sequence[BagJob], options: EvalOptions, bar: tqdm) -> list[Outcome]:
    """Evaluate the bags one after another in this process."""
    return [_evaluate(job, options, bar.update) for job in jobs]


def run_processes(jobs: Sequence[BagJob], options: EvalOptions, workers: int, bar: tqdm) -> list[Outcome]:
    """Evaluate the bags in ``workers`` spawned processes, splitting the CPU threads between them."""
    if not options.derain.options.threads:
        threads = max(1, (os.cpu_count() or 1) // workers)
        options = replace(
            options, derain=replace(options.derain, options=replace(options.derain.options, threads=threads))
        )
    context = multiprocessing.get_context("spawn")
    manager = context.Manager()
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=quiet_worker)
    try:
        frames = manager.Queue()
        futures: dict[Future[Outcome], int] = {
            pool.submit(_evaluate_in_worker, job, options, frames): i for i, job in enumerate(jobs)
        }
        outcomes: list[Outcome | None] = [None] * len(jobs)
        pending = set(futures)
        while pending:
            done, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
            _drain(frames, bar)
            for future in done:
                outcomes[futures[future]] = _outcome(future, jobs[futures[future]])
        _drain(frames, bar)
    except KeyboardInterrupt:
        _stop_workers(pool, jobs)
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        manager.shutdown()
    return [outcome for outcome in outcomes if outcome is not None]


def _stop_workers(pool: ProcessPoolExecutor, jobs: Sequence[BagJob]) -> None:
    """End the workers now and remove the unfinished bags they were writing."""
    stop_workers()
    pool.shutdown(wait=False, cancel_futures=True)
    for job in jobs:
        shutil.rmtree(staging_folder(job.output_bag, job.owner_pid).parent, ignore_errors=True)
        with suppress(OSError):  # bags/, if nothing else is in it
            job.output_bag.parent.rmdir()


def _outcome(future: Future[Outcome], job: BagJob) -> Outcome:
    """The future's result; a worker that crashed or hit a bug fails its bag, not the whole run."""
    error = future.exception()
    if error is None:
        return future.result()
    LOG.error("%s: worker failed", job.source, exc_info=error)
    return BagFailure(job.name, str(job.source), f"worker failed: {type(error).__name__}: {error}")


def _drain(frames: Any, bar: tqdm) -> None:
    while True:
        try:
            bar.update(frames.get_nowait())
        except queue.Empty:
            return


def run_ray(jobs: Sequence[BagJob], options: EvalOptions, address: str, bar: tqdm) -> list[Outcome]:
    """Evaluate each bag as a Ray task on the cluster at ``address`` ("auto", "ray://host:10001", or "local").

    A task asks for ``--threads`` CPUs (default RAY_CPUS_PER_BAG) and one GPU
    when ``--device`` is CUDA; the progress bar advances as bags finish.
    """
    import ray

    threads = options.derain.options.threads or RAY_CPUS_PER_BAG
    options = replace(options, derain=replace(options.derain, options=replace(options.derain.options, threads=threads)))
    gpus = 1 if options.derain.options.device.startswith("cuda") else 0
    ray.init(address=address, logging_level=logging.WARNING)
    try:
        task = ray.remote(num_cpus=threads, num_gpus=gpus)(_evaluate)
        refs = {task.remote(job, options, None): i for i, job in enumerate(jobs)}
        outcomes: list[Outcome | None] = [None] * len(jobs)
        pending = list(refs)
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            index = refs[done[0]]
            try:
                outcome = ray.get(done[0])
            except ray.exceptions.RayError as err:  # the task died (node lost, out of memory, import error)
                outcome = BagFailure(jobs[index].name, str(jobs[index].source), f"Ray task failed: {err}")
            outcomes[index] = outcome
            bar.update(outcome.frames_read if isinstance(outcome, BagResult) else 0)
    finally:
        ray.shutdown()
    return [outcome for outcome in outcomes if outcome is not None]


def run_jobs(
    jobs: Sequence[BagJob],
    options: EvalOptions,
    frames_total: int,
    workers: int = 1,
    ray_address: str | None = None,
    progress: bool = True,
) -> list[Outcome]:
    """Evaluate every bag: on Ray if ``ray_address`` is given, else in ``workers`` processes (1 = here).

    Returns:
        One BagResult or BagFailure per job, in the jobs' order.
    """
    with tqdm(total=frames_total, unit="frame", disable=not progress, file=sys.stderr, dynamic_ncols=True) as bar:
        if ray_address:
            return run_ray(jobs, options, ray_address, bar)
        if workers > 1 and len(jobs) > 1:
            return run_processes(jobs, options, min(workers, len(jobs)), bar)
        return run_here(jobs, options, bar)
