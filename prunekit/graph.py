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


# Operations that combine several features of their input into each output feature: a neuron that passes
# one of them on its way to a consumer does not land in one column of it, so it cannot be removed alone.
_MIXING_OPS = ("Attention", "LayerNorm", "GroupNorm", "Softmax", "Bmm", "MmBackward", "Matmul", "Baddbmm", "Conv")


def prunable_names(prunable, model: nn.Module) -> set[str] | None:
    """``prunable`` (modules or their names) as names, each checked to be an ``nn.Linear`` of ``model``."""
    if prunable is None:
        return None
    by_module = {m: n for n, m in model.named_modules()}
    modules = dict(model.named_modules())
    names = set()
    for item in [prunable] if isinstance(prunable, (str, nn.Module)) else prunable:
        name = item if isinstance(item, str) else by_module.get(item)
        if name is None:
            raise BadInput(f"prunable: {type(item).__name__} {item!r} is not a module of this model")
        if not isinstance(modules.get(name), nn.Linear):
            kind = "no such module" if name not in modules else f"a {type(modules[name]).__name__}, not nn.Linear"
            raise BadInput(f"prunable: {name!r} is {kind}; prunekit prunes the output neurons of nn.Linear layers")
        names.add(name)
    if not names:
        raise BadInput("prunable is empty: name at least one layer to prune (or pass None for every layer)")
    return names


class ModelGraph:
    """The prunable layers of one model, in forward order, and the surgery that removes neurons.

    ``prunable`` (modules or names; None: every layer the graph can prune) says which layers may lose
    neurons, as Torch-Pruning's ``ignored_layers`` says the opposite. A layer named there that cannot be
    pruned as asked (a head, a fused projection split into attention heads, one coupled by a residual sum
    to layers not named) is refused with the reason, before anything is scored.
    """

    def __init__(self, model: nn.Module, example_inputs, prunable=None) -> None:
        self.model = model
        wanted = prunable_names(prunable, model)
        self.dg = build_dependency_graph(model, example_inputs)
        names = {m: n for n, m in model.named_modules()}
        linears = [m for m in model.modules() if isinstance(m, nn.Linear) and m in self.dg.module2node]
        if not linears:
            raise BadInput(f"{type(model).__name__} has no nn.Linear layer that its forward pass uses")
        if wanted is not None:
            unused = sorted(wanted - {names[m] for m in linears})
            if unused:
                raise BadInput(
                    f"prunable: {', '.join(unused)} is not called as a module in the forward pass (unused, or its "
                    "weights read by a fused function such as nn.MultiheadAttention's): its neurons cannot be traced"
                )
        heads = {m for m in linears if self._reaches_output(m)}
        self.heads = [names[m] for m in linears if m in heads]
        self.layers: dict[str, PrunableLayer] = {}
        self.fixed: dict[str, str] = {}  # layers left unpruned, and why
        claimed: set[nn.Module] = set()
        for m in linears:
            if m in claimed or (wanted is not None and names[m] not in wanted):
                continue
            layer, why = self._layer(m, names, heads)
            if layer is not None and wanted is not None:
                others = [x.name for x in layer.members if x.name not in wanted]
                if others:
                    layer, why = (
                        None,
                        f"its outputs are summed with those of {', '.join(others)} (a residual "
                        "stream), which must lose the same neurons: name them all as prunable, or none",
                    )
            if layer is None:
                if wanted is not None:
                    raise BadInput(f"cannot prune {names[m]}: {why}")
                self.fixed[names[m]] = why
                continue
            claimed.update(x.module for x in layer.members)
            self.layers[names[m]] = layer

    def _layer(self, m: nn.Linear, names: dict, heads: set) -> tuple[PrunableLayer | None, str]:
        """The prunable group rooted at ``m``, or None and the reason it cannot be pruned."""
        if m in heads:
            return None, "its outputs are model outputs (a head)"
        mixing = self._mixing_op(m)
        if mixing:
            return None, (
                f"its neurons pass through {mixing} before the next linear layer, which mixes them (a fused "
                "projection split into attention heads, a normalisation), so one cannot be removed alone"
            )
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
        if any(x.module in heads for x in members):
            return None, "it is coupled to a model output"
        if not consumers:
            return None, "no linear layer reads its outputs"
        for c in consumers:
            if int(c.columns.max()) >= c.module.in_features:
                inputs = c.module.in_features
                return None, f"its {m.out_features} neurons do not map onto the {inputs} inputs of {c.name}"
        unread = torch.stack([c.columns < 0 for c in consumers]).all(0)
        if unread.any():
            # read through an operation the graph cannot follow (slicing, indexing): leave it whole
            return None, f"neurons {unread.nonzero().flatten().tolist()[:5]} reach no traced consumer"
        return PrunableLayer(names[m], members, consumers, group), ""

    def _mixing_op(self, module: nn.Module) -> str | None:
        """The first operation between ``module`` and the linear layers that read it that mixes features."""
        stack, seen = list(self.dg.module2node[module].outputs), set()
        while stack:
            node = stack.pop()
            if node in seen or isinstance(node.module, nn.Linear):
                continue
            seen.add(node)
            op = node.grad_fn.name() if node.grad_fn is not None else ""
            # a linear layer on batched sequences runs as view → (add)mm → view: that product is the
            # consumer's own, not an operation between the layers
            own = "mm" in op.lower() and node.outputs and all(isinstance(o.module, nn.Linear) for o in node.outputs)
            if not own and any(key in op for key in _MIXING_OPS):
                return op.removesuffix("0").removesuffix("Backward")
            stack.extend(node.outputs)
        return None

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
