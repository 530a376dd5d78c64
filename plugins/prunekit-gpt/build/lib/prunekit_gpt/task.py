"""The gpt task: train a character GPT on a corpus, evaluate it, sample from it, time generation."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from prunekit.plugin import (
    BadInput,
    Evaluation,
    Preset,
    RunOptions,
    TaskBase,
    TrainStats,
    batch_seed,
    cosine,
    iterations,
    resolve_device,
    share,
    train,
    write_text,
)
from prunekit_gpt import corpus
from prunekit_gpt.model import GPT


@dataclass(frozen=True, kw_only=True)
class GptPreset(Preset):
    n_layer: int
    n_head: int
    n_embd: int
    block_size: int
    batch: int
    lr: float  # peak learning rate of dense training (linear warm-up, then cosine to lr / 10)
    warmup: int
    finetune_lr: float  # fine-tuning: cosine from this to a tenth of it
    eval_windows: int  # windows of block_size scored per evaluation, evenly spread over the split
    sample_chars: int  # characters of the text sample in report.md


PRESETS = {
    "smoke": GptPreset(
        iters=40, retrain_iters=10, timing_steps=3, n_layer=2, n_head=2, n_embd=32, block_size=32, batch=8,
        lr=3e-3, warmup=5, finetune_lr=1e-3, eval_windows=32, sample_chars=80,
    ),
    # nanoGPT's CPU configuration of shakespeare_char (4 layers, 4 heads, 128 wide, context 64, batch 12,
    # 2,000 iterations, no dropout, lr 1e-3 → 1e-4, warm-up 100); nanoGPT reports a validation loss of 1.88
    "demo": GptPreset(
        iters=2000, retrain_iters=200, timing_steps=30, n_layer=4, n_head=4, n_embd=128, block_size=64, batch=12,
        lr=1e-3, warmup=100, finetune_lr=3e-4, eval_windows=1024, sample_chars=300,
    ),
    # the sweep's budget: the demo's model and training, fewer timed steps per cell and no text sample
    "study": GptPreset(
        iters=2000, retrain_iters=200, timing_steps=12, n_layer=4, n_head=4, n_embd=128, block_size=64, batch=12,
        lr=1e-3, warmup=100, finetune_lr=3e-4, eval_windows=1024, sample_chars=0,
    ),
}  # fmt: skip

PROMPT = "\n"  # every sample starts from a new line (a text without one: its first character), both alike
SAMPLE_SEED = 1234


class GptTask(TaskBase):
    """Next-character prediction; headline: mean cross-entropy (nats per character) on held-out text."""

    headline = "loss"
    higher_is_better = False
    timed_inference = True

    def __init__(self, options: RunOptions) -> None:
        if options.precision != "fp32":
            raise BadInput("the gpt target trains in fp32 only")
        self.p = PRESETS[options.preset]
        self.iters, self.retrain_iters = iterations(options, self.p)
        self.seed, self.distill = options.seed, options.distill
        self.finetune_schedule = options.finetune_schedule
        self.device = resolve_device(options.device)
        self.text = corpus.load(options.data, self.p.block_size)
        self.splits = {"train": self.text.train, "val": self.text.choice, "test": self.text.validation}
        g = torch.Generator().manual_seed(0)  # fixed, whatever the run's seed
        self._calibration = self._windows(self.text.train, 32, g)
        self._example = self._calibration[:4]

    def _windows(self, data: torch.Tensor, n: int, generator: torch.Generator | None = None, plus: int = 0):
        """``n`` windows of block_size (+ ``plus``) tokens: random with a generator, else evenly spread."""
        span = self.p.block_size + plus
        if generator is None:
            starts = torch.linspace(0, len(data) - span - 1, n).long()
        else:
            starts = torch.randint(0, len(data) - span, (n,), generator=generator)
        return torch.stack([data[s : s + span] for s in starts.tolist()]).to(self.device)

    def config(self, name: str) -> dict:
        p = self.p
        return {
            "vocab_size": len(self.text.chars), "block_size": p.block_size, "n_layer": p.n_layer,
            "n_head": p.n_head, "n_embd": p.n_embd, "ffn": [4 * p.n_embd] * p.n_layer,
        }  # fmt: skip

    def build(self, seed: int) -> dict[str, nn.Module]:
        torch.manual_seed(seed)
        return {"gpt": GPT(**self.config("gpt")).to(self.device)}

    def example_inputs(self, name: str) -> tuple:
        return (self._example,)

    def calibration_inputs(self, name: str) -> tuple:
        return (self._calibration,)

    def prunable(self, name: str) -> list[str]:
        """The feed-forward hidden units: each block's up-projection (its outputs are the down-projection's
        inputs). The residual stream, attention, embeddings and the head keep their widths."""
        return [f"blocks.{i}.mlp.fc" for i in range(self.p.n_layer)]

    def calibration_loss(self, name: str):
        return next_char_loss

    def dynamic_axes(self, name: str) -> tuple[dict[int, str], ...]:
        return ({0: "batch", 1: "sequence"},)

    def train(
        self, models, iters: int, state_path: Path | None, resume: bool, label: str, teacher=None, phase: str = "dense"
    ) -> TrainStats:
        """AdamW as nanoGPT trains (β2 0.99, weight decay 0.1 on matrices, gradients clipped at 1)."""
        (model,) = models.values()
        data = self.text.train

        def loss_at(step: int) -> torch.Tensor:
            g = torch.Generator().manual_seed(batch_seed(self.seed, step, phase))
            xy = self._windows(data, self.p.batch, g, plus=1)[share(self.p.batch)]
            x, y = xy[:, :-1], xy[:, 1:]
            logits = model(x)
            loss = F.cross_entropy(logits.flatten(0, 1), y.flatten())
            if teacher is None:
                return loss
            with torch.no_grad():
                soft = next(iter(teacher.values()))(x)
            kl = F.kl_div(F.log_softmax(logits, -1), F.log_softmax(soft, -1), log_target=True, reduction="none")
            return (1 - self.distill) * loss + self.distill * kl.sum(-1).mean()

        return train(
            models, loss_at, iters, self._schedule(iters, phase), state_path, resume,
            checkpoint_every=max(10, min(500, iters // 4)), label=label,
            weight_decay=0.1, betas=(0.9, 0.99), clip=1.0,
        )  # fmt: skip

    def _schedule(self, iters: int, phase: str):
        p = self.p
        if phase == "finetune" and self.finetune_schedule == "cosine":
            return cosine(p.finetune_lr, iters)
        warm = min(p.warmup, iters // 10)
        decay = cosine(p.lr, max(1, iters - warm))
        return lambda step: p.lr * (step + 1) / warm if step < warm else decay(step - warm)

    @torch.no_grad()
    def evaluate(self, models, split: str = "test") -> Evaluation:
        """Mean next-character cross-entropy over ``eval_windows`` windows spread evenly over the split:
        "test" is nanoGPT's validation split (the last 10 %), "val" the held-out end of the training text."""
        if split not in ("test", "val"):
            raise BadInput(f"the gpt target has splits test and val, not {split!r}")
        (model,) = models.values()
        model.eval()
        xy = self._windows(self.splits[split], self.p.eval_windows, plus=1)
        total = 0.0
        for chunk in xy.split(256):
            logits = model(chunk[:, :-1])
            total += float(F.cross_entropy(logits.flatten(0, 1), chunk[:, 1:].flatten(), reduction="sum"))
        loss = total / (len(xy) * self.p.block_size)
        sample = self.sample(model, self.p.sample_chars) if self.p.sample_chars else ""
        return Evaluation(
            {
                "loss": loss,
                "perplexity": math.exp(loss),
                # collapsed: no better than guessing every character of the vocabulary alike
                "collapsed": loss >= math.log(len(self.text.chars)),
            },
            sample,
        )

    def sample(self, model: GPT, chars: int) -> str:
        g = torch.Generator(device=self.device).manual_seed(SAMPLE_SEED)
        start = self.text.encode(PROMPT)
        start = (start if len(start) else self.text.train[:1])[None].to(self.device)  # a text without newlines
        return self.text.decode(model.generate(start, chars, g)[0].tolist())

    def infer(self, models) -> None:
        """Generation, the inference that a language model is used for: 4 prompts, 32 characters each."""
        (model,) = models.values()
        g = torch.Generator(device=self.device).manual_seed(SAMPLE_SEED)
        model.eval()
        model.generate(self._example[:, :8], 32, g)

    def write_visuals(self, out: Path, dense: Evaluation, pruned: Evaluation) -> list[str]:
        files = []
        for stage, evaluation in (("dense", dense), ("pruned", pruned)):
            rel = f"samples/{stage}.txt"
            (out / "samples").mkdir(exist_ok=True)
            write_text(out / rel, evaluation.outputs)
            files.append(rel)
        return files

    def preview(self, evaluation: Evaluation):
        return None


def next_char_loss(outputs: torch.Tensor, inputs: tuple) -> torch.Tensor:
    """Cross-entropy of each position's logits against the next character of the calibration text."""
    (idx,) = inputs
    return F.cross_entropy(outputs[:, :-1].flatten(0, 1), idx[:, 1:].flatten())
