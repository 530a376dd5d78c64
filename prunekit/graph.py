"""Prunable layers of a model and their consumers, read off torch-pruning's dependency graph.

A *prunable layer* is a group of ``nn.Linear`` layers whose output neurons must be removed together
(one layer, or several coupled by a residual sum), seen from its root layer. Its *consumers* are the
``nn.Linear`` layers that read those neurons, each with the column that every neuron lands in, offsets of
concatenations included. Layers whose output reaches a model output (heads) are never prunable.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch_pruning as tp
from torch import nn
from torch.overrides import TorchFunctionMode
from torch_pruning.ops import OPTYPE

from prunekit.errors import BadInput

_CAT_FUNCS = {torch.cat, torch.concat, torch.concatenate}


class _CatRecorder(TorchFunctionMode):
    """Makes every input of ``torch.cat`` visible to autograd while the graph is traced, and records the
    widths it concatenates.

    torch-pruning follows ``grad_fn`` links, so an input without one (an encoding computed in plain code
    from a plain tensor, or a model input itself) vanishes from the concatenation, and indices are then
    mapped at the wrong offsets without any error. Adding a zero that requires grad gives that input a
    node; the recorded widths then fix the offsets.
    """

    def __init__(self) -> None:
        super().__init__()
        self.anchor = torch.zeros((), requires_grad=True)
        self.widths: dict[object, list[int]] = {}

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = dict(kwargs or {})
        if func not in _CAT_FUNCS:
            return func(*args, **kwargs)
        tensors = list(args[0] if args else kwargs.pop("tensors"))
        dim = args[1] if len(args) > 1 else kwargs.pop("dim", 0)
        tensors = [
            t if t.grad_fn is not None or not t.is_floating_point() else t + self.anchor.to(t.device) for t in tensors
        ]
        out = func(tensors, dim, **kwargs)
        if out.grad_fn is not None:
            self.widths[out.grad_fn] = [t.shape[dim] for t in tensors]
        return out


def _as_tuple(example_inputs) -> tuple:
    return tuple(example_inputs) if isinstance(example_inputs, (tuple, list)) else (example_inputs,)


class _ExactConcatGraph(tp.DependencyGraph):
    """A dependency graph that takes concatenation widths from a trace instead of inferring them."""

    def __init__(self, widths: dict[object, list[int]]) -> None:
        super().__init__()
        self._cat_widths = widths

    def _build_dependency(self, module2node):  # runs after tracing, before offsets are computed
        for node in module2node.values():
            if node.type == OPTYPE.CONCAT and node.grad_fn in self._cat_widths:
                widths = self._cat_widths[node.grad_fn]
                if len(widths) != len(node.inputs):
                    raise BadInput(f"cannot trace a concatenation of {len(widths)} inputs")
                node.module.concat_sizes = list(widths)
            elif node.type == OPTYPE.SPLIT:
                _order_split_outputs(node)
        return super()._build_dependency(module2node)


def _order_split_outputs(node) -> None:
    """Put a split's (or chunk's) outputs in the order of the parts they are.

    torch-pruning gives the i-th part's offset to the i-th output it met while tracing, which is the
    order the forward pass used them in, not the order of the parts: ``a, b = h.chunk(2)`` followed by
    ``f(b) + g(a)`` maps every neuron to the wrong consumer. Each output's autograd node records which
    part it read (``output_nr``); sorting by it makes the offsets right.
    """
    parts = []
    for out in node.outputs:
        nrs = [nr for fn, nr in getattr(out.grad_fn, "next_functions", ()) if fn is node.grad_fn]
        if len(nrs) != 1:
            raise BadInput("cannot trace a split whose part feeds one operation twice")
        parts.append((nrs[0], out))
    sizes = getattr(node.grad_fn, "_saved_split_sizes", None)
    if sizes is None:  # chunk / equal split: parts of _saved_split_size along _saved_dim
        dim = node.grad_fn._saved_dim
        dim = dim - 2**64 if dim >= 2**63 else dim  # stored unsigned: -1 reads as 2**64 - 1
        size, total = node.grad_fn._saved_split_size, node.grad_fn._saved_self_sym_sizes[dim]
        sizes = [size] * -(-total // size)
    if sorted(nr for nr, _ in parts) != list(range(len(sizes))):
        raise BadInput(f"a split into {len(sizes)} parts uses only parts {sorted(nr for nr, _ in parts)}")
    node.outputs = [out for _, out in sorted(parts, key=lambda p: p[0])]


def build_dependency_graph(model: nn.Module, example_inputs) -> tp.DependencyGraph:
    """torch-pruning's dependency graph of ``model`` with concatenation offsets made exact."""
    inputs = tuple(
        x.detach().clone().requires_grad_(True) if torch.is_tensor(x) and x.is_floating_point() else x
        for x in _as_tuple(example_inputs)
    )
    recorder = _CatRecorder()
    dg = _ExactConcatGraph(recorder.widths)
    was_training = model.training
    try:
        with torch.enable_grad(), recorder:
            dg.build_dependency(model, example_inputs=inputs, forward_fn=lambda m, xs: m(*xs), verbose=False)
    finally:
        model.train(was_training)
    return dg


@dataclass
class Consumer:
    """A layer that reads a prunable layer's neurons: neuron ``i`` lands in ``module.weight[:, columns[i]]``."""

    name: str
    module: nn.Linear
    columns: torch.Tensor


@dataclass
class Member:
    """A layer whose outputs are the group's neurons: neuron ``i`` is ``module.weight[rows[i]]``."""

    name: str
    module: nn.Linear
    rows: torch.Tensor


@dataclass
class PrunableLayer:
    """One prunable group of neurons, named after its root layer. What a scorer sees."""

    name: str
    members: list[Member]
    consumers: list[Consumer]
    group: tp.Group | None = None  # torch-pruning's dependency group of these neurons (its importances read it)

    @property
    def width(self) -> int:
        return len(self.members[0].rows)

    @property
    def module(self) -> nn.Linear:
        return self.members[0].module

    def incoming(self) -> torch.Tensor:
        """Incoming weights, one row per neuron (coupled layers side by side), bias excluded."""
        return torch.cat([m.module.weight.detach()[m.rows] for m in self.members], dim=1)

    def outgoing(self) -> torch.Tensor:
        """Outgoing weights, one column per neuron: every consumer's columns stacked by rows. A consumer
        that does not read a neuron (the parts of a split go to different layers) gives NaN there, so
        averages are taken with ``nanmean`` over the weights that exist."""
        blocks = []
        for c in self.consumers:
            w = c.module.weight.detach()[:, c.columns.clamp_min(0)]
            blocks.append(torch.where(c.columns[None, :] >= 0, w, torch.full_like(w, math.nan)))
        return torch.cat(blocks, dim=0)


def _index(item, width: int) -> torch.Tensor:
    """Positions in a layer of root neurons 0..width-1, from a group item's (idxs, root_idxs)."""
    roots = torch.as_tensor(item.root_idxs, dtype=torch.long)
    if len(set(item.root_idxs)) != len(roots):
        raise BadInput("a neuron reaches the same layer twice; prunekit cannot prune that layer")
    idx = torch.full((width,), -1, dtype=torch.long)
    idx[roots] = torch.as_tensor(item.idxs, dtype=torch.long)
    return idx


class ModelGraph:
    """The prunable layers of one model, in forward order, and the surgery that removes neurons."""

    def __init__(self, model: nn.Module, example_inputs) -> None:
        self.model = model
        self.dg = build_dependency_graph(model, example_inputs)
        names = {m: n for n, m in model.named_modules()}
        linears = [m for m in model.modules() if isinstance(m, nn.Linear) and m in self.dg.module2node]
        if not linears:
            raise BadInput(f"{type(model).__name__} has no nn.Linear layer that its forward pass uses")
        heads = {m for m in linears if self._reaches_output(m)}
        self.heads = [names[m] for m in linears if m in heads]
        self.layers: dict[str, PrunableLayer] = {}
        self.fixed: dict[str, str] = {}  # layers left unpruned, and why
        claimed: set[nn.Module] = set()
        for m in linears:
            if m in heads or m in claimed:
                continue
            group = self.dg.get_pruning_group(m, tp.prune_linear_out_channels, list(range(m.out_features)))
            members, consumers = [], []
            for item in group.items:
                target = item.dep.target.module
                if not isinstance(target, nn.Linear):
                    continue
                if self.dg.is_out_channel_pruning_fn(item.dep.handler):
                    members.append(Member(names[target], target, _index(item, m.out_features)))
                else:
                    consumers.append(Consumer(names[target], target, _index(item, m.out_features)))
            if any(x.module in heads for x in members) or not consumers:
                continue  # coupled to an output: its width is fixed
            unread = torch.stack([c.columns < 0 for c in consumers]).all(0)
            if unread.any():
                # read through an operation the graph cannot follow (slicing, indexing): leave it whole
                self.fixed[names[m]] = f"neurons {unread.nonzero().flatten().tolist()[:5]} reach no traced consumer"
                continue
            claimed.update(x.module for x in members)
            self.layers[names[m]] = PrunableLayer(names[m], members, consumers, group)

    def _reaches_output(self, module: nn.Module) -> bool:
        """True if the module's output is, or reaches without passing another linear layer, a model output."""
        stack, seen = list(self.dg.module2node[module].outputs), set()
        if not stack:
            return True
        while stack:
            node = stack.pop()
            if node in seen:
                continue
            seen.add(node)
            if node.type == OPTYPE.OUTPUT:
                return True
            if not isinstance(node.module, nn.Linear):
                stack.extend(node.outputs)
        return False

    def remove(self, name: str, drop: Sequence[int]) -> None:
        """Remove neurons ``drop`` (root indices) of layer ``name`` and their columns in every consumer."""
        if len(drop):
            root = self.layers[name].module
            self.dg.get_pruning_group(root, tp.prune_linear_out_channels, sorted(int(i) for i in drop)).prune()
