"""A decoder-only character transformer of nanoGPT's shape, whole in one file.

Pre-LayerNorm blocks: causal self-attention (one fused q, k, v projection split into heads) and a GELU
feed-forward, each added to the residual stream. The feed-forward widths are per block (``ffn``), so a
pruned model is described by the same class. The head is not tied to the token embedding (nanoGPT ties
them): a tied weight would couple the vocabulary to the embedding in every file format for 8 k parameters.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F


class SelfAttention(nn.Module):
    def __init__(self, n_embd: int, n_head: int) -> None:
        super().__init__()
        self.n_head = n_head
        self.qkv = nn.Linear(n_embd, 3 * n_embd)
        self.proj = nn.Linear(n_embd, n_embd)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, c = x.shape
        q, k, v = (z.view(b, t, self.n_head, c // self.n_head).transpose(1, 2) for z in self.qkv(x).split(c, dim=2))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.proj(y.transpose(1, 2).reshape(b, t, c))


class FeedForward(nn.Module):
    """``fc`` (up) → GELU → ``proj`` (down): the hidden units are what prunekit prunes by default."""

    def __init__(self, n_embd: int, hidden: int) -> None:
        super().__init__()
        self.fc = nn.Linear(n_embd, hidden)
        self.proj = nn.Linear(hidden, n_embd)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(F.gelu(self.fc(x)))


class Block(nn.Module):
    def __init__(self, n_embd: int, n_head: int, hidden: int) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(n_embd)
        self.attn = SelfAttention(n_embd, n_head)
        self.ln2 = nn.LayerNorm(n_embd)
        self.mlp = FeedForward(n_embd, hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class GPT(nn.Module):
    def __init__(
        self, vocab_size: int, block_size: int, n_layer: int, n_head: int, n_embd: int, ffn: list[int] | None = None
    ) -> None:
        super().__init__()
        ffn = list(ffn) if ffn is not None else [4 * n_embd] * n_layer
        self.block_size = block_size
        self.wte = nn.Embedding(vocab_size, n_embd)
        self.wpe = nn.Embedding(block_size, n_embd)
        self.blocks = nn.ModuleList(Block(n_embd, n_head, h) for h in ffn)
        self.ln_f = nn.LayerNorm(n_embd)
        self.head = nn.Linear(n_embd, vocab_size, bias=False)
        self._init(n_layer)

    def _init(self, n_layer: int) -> None:
        """nanoGPT's initialisation: N(0, 0.02), residual projections scaled by 1/sqrt(2 · layers)."""
        for name, p in self.named_parameters():
            if p.dim() == 2:
                std = 0.02 / math.sqrt(2 * n_layer) if name.endswith("proj.weight") else 0.02
                nn.init.normal_(p, 0.0, std)
            elif name.endswith(".bias"):
                nn.init.zeros_(p)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        """Logits (batch, time, vocab) for token ids (batch, time)."""
        pos = torch.arange(idx.shape[1], device=idx.device)
        x = self.wte(idx) + self.wpe(pos)
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln_f(x))

    @torch.no_grad()
    def generate(self, idx: torch.Tensor, new: int, generator: torch.Generator, temperature: float = 1.0):
        """``idx`` extended by ``new`` tokens sampled one at a time from the softmax (seeded by ``generator``)."""
        for _ in range(new):
            logits = self(idx[:, -self.block_size :])[:, -1] / temperature
            nxt = torch.multinomial(F.softmax(logits.float(), -1), 1, generator=generator)
            idx = torch.cat([idx, nxt], dim=1)
        return idx
