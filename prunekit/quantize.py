"""Weight quantization after pruning: int8 (per-output-channel, symmetric), fp16 or bf16.

int8 is weight-only, per output channel, symmetric with scale = max|w| / 127 (the scheme of torchao's
int8 weight-only quantization). It is written here in a few lines rather than taken from
``torch.ao.quantization``: the quantized-tensor functions there are deprecated as of torch 2.13, and
absmax/127 makes quantization idempotent (re-quantizing a dequantized model gives the same bytes), so
what is saved is exactly what was evaluated. What is stored is compact (int8 values + one fp32 scale
per output channel, or 16-bit floats) in safetensors; what runs is the dequantized fp32 model, so every
target, device and the pruned shapes keep working unchanged. Biases stay fp32 under int8.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from prunekit.errors import BadInput

MODES = ("int8", "fp16", "bf16")
_FLOAT16 = {"fp16": torch.float16, "bf16": torch.bfloat16}
SCALE_SUFFIX = ".__int8_scale"


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise BadInput(f"--quantize must be one of {', '.join(MODES)}, got {mode!r}")
    return mode


def _int8(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    w = weight.detach().float().cpu()
    scale = (w.abs().amax(dim=1) / 127.0).clamp_min(1e-12)
    q = torch.clamp(torch.round(w / scale[:, None]), -127, 127).to(torch.int8)
    return q, scale


def compress(state: dict[str, torch.Tensor], mode: str) -> tuple[dict[str, torch.Tensor], list[str]]:
    """The tensors to store, and the names that were quantized."""
    check_mode(mode)
    out, names = {}, []
    for name, t in state.items():
        if not t.is_floating_point():
            out[name] = t
        elif mode == "int8" and t.ndim == 2:
            out[name], out[name + SCALE_SUFFIX] = _int8(t)
            names.append(name)
        elif mode in _FLOAT16:
            out[name] = t.detach().to(_FLOAT16[mode])
            names.append(name)
        else:
            out[name] = t
    return out, names


STORED = {"int8": torch.int8, "fp16": torch.float16, "bf16": torch.bfloat16}


def mislabelled(tensors: dict[str, torch.Tensor], names: list[str], mode: str) -> list[str]:
    """The tensors a ``mode`` record lists that the file does not hold in ``mode`` (fp32 under an int8
    record): what a file claims, checked against what it holds."""
    wanted = STORED[mode]
    return [f"{n} is {tensors[n].dtype}, not {mode}" for n in names if n in tensors and tensors[n].dtype != wanted]


def expand(tensors: dict[str, torch.Tensor], names: list[str], mode: str | None = None) -> dict[str, torch.Tensor]:
    """fp32 tensors back from what :func:`compress` stored (``mode``: refuse a record the tensors belie)."""
    wrong = mislabelled(tensors, names, mode) if mode is not None else []
    if wrong:
        raise BadInput(f"the quantization record says {mode}, but {wrong[0]}")
    out = {}
    for name, t in tensors.items():
        if name.endswith(SCALE_SUFFIX):
            continue
        if name in names and t.dtype == torch.int8:
            scale = tensors.get(name + SCALE_SUFFIX)
            if scale is None or scale.shape != t.shape[:1]:
                raise BadInput(f"int8 tensor {name} has no matching scale")
            out[name] = t.float() * scale[:, None]
        elif name in names:
            out[name] = t.float()
        else:
            out[name] = t
    return out


def quantized_copy(model: nn.Module, mode: str) -> nn.Module:
    """A copy of ``model`` whose weights are exactly what a quantized checkpoint reloads to."""
    state = model.state_dict()
    stored, names = compress(state, mode)
    q = copy.deepcopy(model)
    q.load_state_dict({k: v.to(state[k].device) for k, v in expand(stored, names).items()})
    q.prunekit_quantization = mode
    return q
