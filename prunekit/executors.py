"""Executors: who runs a sweep's work. It is one job per seed (its dense models and baseline) and one per
cell, each cell depending on its seed's job; the driver writes every result (``sweep.Recorder``). An
executor receives what it runs (:class:`Jobs`): it knows nothing of what a seed or a cell computes.
``LocalExecutor`` runs everything in this process (the default, no dependency); ``RayExecutor`` runs
every job as a Ray task.

Ray is an optional extra (``pip install -e ".[ray]"``): every job is a Ray task, scheduled on whatever
cluster ``--address`` names (a laptop, a set of machines, a Slurm allocation with Ray started on it),
retried by Ray if its worker dies. A retried cell resumes from its last checkpoint in ``--out/work``, so
``--out`` must be a file system every worker sees.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from prunekit.errors import BadInput
from prunekit.progress import console

if TYPE_CHECKING:
    from prunekit.sweep import Cell, Recorder, SweepConfig


@dataclass(frozen=True)
class Jobs:
    """What a sweep asks an executor to run: ``prepare(cfg, seed, with_cells) -> prepared`` once per seed,
    then ``cell(cfg, cell, prepared) -> row`` for each of that seed's cells (module-level functions, so
    that Ray can ship them to its workers)."""

    prepare: Callable
    cell: Callable


class LocalExecutor:
    """Everything in this process, one seed at a time: the default, with no dependency."""

    def run(self, cfg: SweepConfig, seeds: list[int], pending: list[Cell], recorder: Recorder, jobs: Jobs) -> None:
        for seed in seeds:
            prepared = jobs.prepare(cfg, seed, any(c.seed == seed for c in pending))
            recorder.seed_ready(prepared)
            for cell in (c for c in pending if c.seed == seed):
                console.log(f"cell {cell.id}")
                try:
                    row = jobs.cell(cfg, cell, prepared)
                except (KeyboardInterrupt, BadInput):
                    raise
                except Exception as exc:  # one cell's failure is recorded; the sweep goes on
                    recorder.cell_failed(cell, exc)
                    continue
                recorder.cell_done(row)


class Executor(Protocol):
    """Runs ``jobs.prepare`` for ``seeds`` and ``jobs.cell`` for ``pending`` (each after its seed), and hands
    every result or failure to ``recorder`` in the driver process."""

    def run(self, cfg: SweepConfig, seeds: list[int], pending: list[Cell], recorder: Recorder, jobs: Jobs) -> None: ...


def _worker(fn, threads: int):
    """``fn`` run in a Ray worker with torch using the task's own CPUs, as the local executor would."""

    def job(*args):
        import torch

        torch.set_num_threads(threads)
        return fn(*args)

    job.__name__ = job.__qualname__ = fn.__name__  # Ray names the worker process "ray::<this>"
    return job


class RayExecutor:
    def __init__(
        self, address: str | None = None, cpus_per_cell: float = 1, gpus_per_cell: float = 0, retries: int = 3
    ) -> None:
        try:
            import ray
        except ImportError:
            raise BadInput('--executor ray needs Ray: pip install -e ".[ray]" (or pip install "ray>=2.9")') from None
        if cpus_per_cell <= 0 or gpus_per_cell < 0:
            raise BadInput("--cpus-per-cell must be positive and --gpus-per-cell not negative")
        self.ray = ray
        self.address = address
        self.options = {"num_cpus": cpus_per_cell, "num_gpus": gpus_per_cell, "max_retries": retries}
        self.threads = max(1, int(cpus_per_cell))

    def run(self, cfg: SweepConfig, seeds: list[int], pending: list[Cell], recorder: Recorder, jobs: Jobs) -> None:
        ray = self.ray
        if not ray.is_initialized():
            # workers import prunekit and its plug-ins from the same environment; logs stay in the driver
            ray.init(address=self.address, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
        # workers may start in another directory, or on another machine: give them absolute paths
        data = cfg.options.data
        cfg = replace(cfg, out=cfg.out.resolve(), options=replace(cfg.options, data=data and Path(data).resolve()))
        seed_job = ray.remote(**self.options)(_worker(jobs.prepare, self.threads))
        cell_job = ray.remote(**self.options)(_worker(jobs.cell, self.threads))
        seed_refs = {seed: seed_job.remote(cfg, seed, any(c.seed == seed for c in pending)) for seed in seeds}
        waiting = {seed_refs[seed]: ("seed", seed) for seed in seeds}
        for cell in pending:
            waiting[cell_job.remote(cfg, cell, seed_refs[cell.seed])] = ("cell", cell)
        console.log(f"ray: {len(seeds)} dense jobs and {len(pending)} cells submitted to {self._where()}")
        while waiting:
            (ref,), _ = ray.wait(list(waiting), num_returns=1)
            kind, what = waiting.pop(ref)
            running = sum(1 for k, _ in waiting.values() if k == "cell")
            try:
                result = ray.get(ref)
            except Exception as exc:  # a RayTaskError wraps the worker's exception
                cause = getattr(exc, "cause", None) or exc
                if kind == "cell":
                    recorder.cell_failed(what, cause, running)
                else:
                    console.log(f"dense models of seed {what} failed: {str(cause).splitlines()[0]}")
                continue
            if kind == "seed":
                recorder.seed_ready(result)
            else:
                recorder.cell_done(result, running)

    def _where(self) -> str:
        return self.address or os.environ.get("RAY_ADDRESS") or "a local Ray instance"
