"""A resumable, seeded training loop shared by every target.

The target supplies ``loss_at(step)``, which must draw its batch from ``step`` alone (seeded), so a run
that is killed and resumed from a checkpoint sees the same batches as one that never stopped. State
(model weights, Adam moments, step) goes to one safetensors file plus JSON, written atomically; a
non-finite loss stops training with the last good checkpoint kept.
"""

from __future__ import annotations

import json
import math
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from prunekit.errors import CheckpointError, StopSignal, TrainingDiverged
from prunekit.files import load_tensors, save_tensors
from prunekit.progress import progress_bar
from prunekit.runtime import average_gradients, is_main, mean_over_processes


@dataclass
class TrainStats:
    iters: int
    seconds_per_iter: float
    final_loss: float
    resumed_from: int = 0


# XOR-ed into a step's seed so that each retraining phase draws its own batches; the high bits keep
# them apart from the dense phase's seeds. (torch seeds its CPU generator with the low 32 bits only.)
_STREAM_SALT = {"dense": 0, "finetune": 0x5BD1E995, "scratch": 0x37A3D32A}


WARMUP_STEPS = 3  # steps left out of the timing: allocations and kernel selection happen there


def batch_seed(seed: int, step: int, phase: str = "dense") -> int:
    """The seed of one training step's batch, from (seed, phase, step) alone, so resumed runs replay it."""
    return ((seed * 1_000_003 + step) ^ _STREAM_SALT[phase]) & 0xFFFFFFFF


def cosine(lr: float, iters: int, final: float = 0.1) -> Callable[[int], float]:
    """A learning rate falling from ``lr`` to ``final`` × ``lr`` along half a cosine over ``iters`` steps."""
    return lambda step: lr * (final + (1 - final) * 0.5 * (1 + math.cos(math.pi * min(step, iters) / iters)))


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _save_state(path: Path, models: dict[str, nn.Module], opt: torch.optim.Optimizer, step: int) -> None:
    if not is_main():  # every process holds the same state; one writes it
        return
    tensors = {f"model.{n}.{k}": v for n, m in models.items() for k, v in m.state_dict().items()}
    state = opt.state_dict()
    for i, s in state["state"].items():
        for k, v in s.items():
            tensors[f"opt.{i}.{k}"] = v if torch.is_tensor(v) else torch.tensor(v)
    groups = [{k: v for k, v in g.items() if k != "params"} for g in state["param_groups"]]
    save_tensors(path, tensors, metadata={"step": str(step), "param_groups": json.dumps(groups)})


def _load_state(path: Path, models: dict[str, nn.Module], opt: torch.optim.Optimizer) -> int:
    from safetensors import safe_open

    tensors = load_tensors(path)
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
    try:
        step = int(meta["step"])
        groups = json.loads(meta["param_groups"])
        for n, m in models.items():
            prefix = f"model.{n}."
            m.load_state_dict({k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)})
        state: dict[int, dict] = {}
        for k, v in tensors.items():
            if k.startswith("opt."):
                _, i, key = k.split(".", 2)
                state.setdefault(int(i), {})[key] = v
        current = opt.state_dict()
        for g, saved in zip(current["param_groups"], groups):
            g.update(saved)
        opt.load_state_dict({"state": state, "param_groups": current["param_groups"]})
    except (KeyError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"training checkpoint {path} does not match this run: {exc}") from None
    return step


class _StopRequest:
    """The first Ctrl-C or SIGTERM lets the current step finish (then a checkpoint is saved and the run
    stops), so a checkpoint never holds a half-done step; a second one stops at once."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)
    signum: int | None = None

    @property
    def requested(self) -> bool:
        return self.signum is not None

    def __enter__(self) -> _StopRequest:
        self._previous = {}
        if threading.current_thread() is threading.main_thread():
            self._previous = {sig: signal.signal(sig, self._handle) for sig in self.SIGNALS}
        return self

    def _handle(self, signum, frame) -> None:
        if self.requested:
            raise StopSignal(signum)
        self.signum = signum

    def __exit__(self, *exc) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)


def train(
    models: dict[str, nn.Module],
    loss_at: Callable[[int], torch.Tensor],
    iters: int,
    lr_at: Callable[[int], float],
    state_path: Path | None = None,
    resume: bool = False,
    checkpoint_every: int = 500,
    label: str = "training",
    warmup: int = WARMUP_STEPS,
    weight_decay: float = 0.0,
    betas: tuple[float, float] = (0.9, 0.999),
    clip: float | None = None,
) -> TrainStats:
    """Adam on every parameter of ``models`` for ``iters`` steps. Seconds per step exclude ``warmup`` steps.

    ``weight_decay`` > 0 makes it AdamW, decaying matrices only (as nanoGPT does: not biases, norms);
    ``clip`` caps the gradients' global norm."""
    params = [p for m in models.values() for p in m.parameters()]
    device = params[0].device
    if weight_decay > 0:
        groups = [
            {"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
            {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
        ]
        opt = torch.optim.AdamW(groups, lr=lr_at(0), betas=betas)
    else:
        opt = torch.optim.Adam(params, lr=lr_at(0), betas=betas)
    start = 0
    if resume and state_path is not None and state_path.exists():
        start = _load_state(state_path, models, opt)
    for m in models.values():
        m.train()
    loss_value, timed_from, t0 = math.nan, None, time.perf_counter()
    step = start
    try:
        with progress_bar(label, total=iters, completed=start) as advance, _StopRequest() as stop:
            for step in range(start, iters):
                if stop.requested:
                    raise StopSignal(stop.signum)
                if step == start + min(warmup, max(0, iters - start - 1)):
                    _synchronize(device)
                    timed_from, t0 = step, time.perf_counter()
                for g in opt.param_groups:
                    g["lr"] = lr_at(step)
                loss = loss_at(step)
                loss_value = mean_over_processes(float(loss.detach()))
                if not math.isfinite(loss_value):
                    kept = f"; the last good checkpoint is {state_path}" if state_path and state_path.exists() else ""
                    raise TrainingDiverged(f"{label}: loss became {loss_value} at step {step}{kept}")
                opt.zero_grad(set_to_none=True)
                loss.backward()
                average_gradients(params)  # several processes (torchrun): each held a share of the batch
                if clip is not None:
                    torch.nn.utils.clip_grad_norm_(params, clip)
                opt.step()
                if state_path is not None and (step + 1) % checkpoint_every == 0 and step + 1 < iters:
                    _save_state(state_path, models, opt, step + 1)
                advance(loss=loss_value)
            step = iters
    except KeyboardInterrupt:
        if state_path is not None:
            _save_state(state_path, models, opt, step)
        raise
    _synchronize(device)
    n_timed = iters - timed_from if timed_from is not None else 0
    sec = (time.perf_counter() - t0) / n_timed if n_timed > 0 else math.nan
    if state_path is not None:
        _save_state(state_path, models, opt, iters)
    for m in models.values():
        m.eval()
    return TrainStats(iters, sec, loss_value, start)
