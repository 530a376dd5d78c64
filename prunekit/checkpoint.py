"""Pruned models on disk: safetensors weights plus a JSON description (no pickle), loaded safely.

``save`` stores the weights (whatever their pruned shapes) and how to build the dense architecture
(an ``nn.Module`` class and its keyword arguments). ``load`` builds that architecture on the meta
device (no memory), checks it against the description and the file's own header, resizes every
parameter to the stored shape and only then allocates and fills it, so a pruned model reloads in one
call with no ``load_state_dict`` size mismatch.

A description is data from anywhere, so ``load`` never imports a module it names. It builds only
``torch.nn`` layers and classes that installed prunekit plug-ins register (``register_models``); any
other class must be passed as ``cls=`` or allowed with ``trust=True`` (``--trust`` on the command line).
"""

from __future__ import annotations

import importlib
import math
from dataclasses import asdict, is_dataclass
from pathlib import Path

import torch
from torch import nn

from prunekit.errors import CheckpointError, PrunekitError
from prunekit.files import load_tensors, read_json, save_tensors, write_json
from prunekit.plans import Plan

FORMAT = "prunekit.model/1"


def class_path(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def _torch_nn_class(path: str) -> type[nn.Module] | None:
    """A class of ``torch.nn`` (already imported) named by ``path``, without importing anything."""
    module_name, _, qualname = path.partition(":")
    obj = getattr(nn, qualname, None) if module_name.startswith("torch.nn.") else None
    if isinstance(obj, type) and issubclass(obj, nn.Module) and class_path(obj) == path:
        return obj
    return None


def resolve_class(path: str, trust: bool = False) -> type[nn.Module]:
    """The ``nn.Module`` class a description names: a torch.nn layer or a registered model class, or, with
    ``trust``, whatever installed module it names (importing that module runs its code)."""
    from prunekit import plugins

    if not isinstance(path, str) or ":" not in path:
        raise CheckpointError(f"the description names no model class ({path!r})")
    cls = _torch_nn_class(path) or plugins.registry().models.get(path)
    if cls is not None:
        return cls
    if not trust:
        raise CheckpointError(
            f"{path} is neither a torch.nn layer nor a model class a prunekit plug-in registers; "
            "pass cls= in Python or --trust on the command line to import it (that runs its module's code)"
        )
    module_name, _, qualname = path.partition(":")
    try:
        obj = importlib.import_module(module_name)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError, ValueError) as exc:
        raise CheckpointError(f"cannot import the model class {path!r}: {exc}") from None
    if not (isinstance(obj, type) and issubclass(obj, nn.Module)):
        raise CheckpointError(f"{path!r} is not an nn.Module class; refusing to call it")
    return obj


def model_config(model: nn.Module) -> dict:
    """The keyword arguments that rebuild ``model``'s dense architecture: its ``config`` attribute
    (a dict or a dataclass), or none."""
    config = getattr(model, "config", None)
    if config is None:
        return {}
    return asdict(config) if is_dataclass(config) else dict(config)


def sidecar(path: Path) -> Path:
    return path.with_suffix(".json")


def weights_path(path: Path | str) -> Path:
    """``path`` with the .safetensors suffix the weights are stored under."""
    path = Path(path)
    if path.suffix == ".safetensors":
        return path
    if path.suffix == ".json":
        return path.with_suffix(".safetensors")
    return path.with_name(path.name + ".safetensors")


def save(
    model: nn.Module,
    path: Path | str,
    config: dict | None = None,
    extra: dict | None = None,
    quantize: str | None = None,
) -> Path:
    """Write ``path`` (safetensors weights) and ``path.json`` (architecture, plan, extra), atomically.

    ``quantize`` ("int8", "fp16", "bf16") stores the weights compactly; :func:`load` expands them.
    Defaults to the mode of a model made by :func:`prunekit.quantize.quantized_copy`."""
    from prunekit.quantize import compress

    quantize = quantize or getattr(model, "prunekit_quantization", None)
    path = weights_path(path)
    if not path.parent.is_dir():
        raise CheckpointError(f"cannot save to {path}: {path.parent} is not a directory")
    plan = getattr(model, "prunekit_plan", None)
    description = {
        "format": FORMAT,
        "class": class_path(type(model)),
        "config": model_config(model) if config is None else config,
        "shapes": {k: list(v.shape) for k, v in model.state_dict().items()},
        "plan": plan.to_dict() if plan is not None else None,
        "extra": extra or {},
    }
    tensors = model.state_dict()
    if quantize is not None:
        tensors, names = compress(tensors, quantize)
        description["quantization"] = {"mode": quantize, "tensors": names}
    save_tensors(path, tensors, metadata={"format": FORMAT})
    write_json(sidecar(path), description)
    return path


def read_description(path: Path | str) -> dict:
    """The JSON description of a saved model, checked for form only: nothing is imported or built."""
    path = weights_path(path)
    description = read_json(sidecar(path), "model description")
    if not isinstance(description, dict) or description.get("format") != FORMAT:
        raise CheckpointError(f"{sidecar(path)} is not a prunekit model description ({FORMAT})")
    shapes = description.get("shapes")
    if not isinstance(shapes, dict) or not all(
        isinstance(s, list) and all(isinstance(n, int) and n >= 0 for n in s) for s in shapes.values()
    ):
        raise CheckpointError(f"{sidecar(path)}: 'shapes' must map tensor names to lists of sizes")
    if not isinstance(description.get("config") or {}, dict):
        raise CheckpointError(f"{sidecar(path)}: 'config' must be an object")
    problem = _unbounded(description.get("config") or {})
    if problem:
        raise CheckpointError(f"{sidecar(path)}: the config asks for more than any model here builds: {problem}")
    return description


# What a description may ask for: a config is a few numbers and short lists, never a whole architecture
# spelled out neuron by neuron (which would take minutes to build before its shapes could be refused).
MAX_DEPTH, MAX_ITEMS, MAX_NUMBER = 16, 4096, 2**24


def _unbounded(value, depth: int = 0) -> str | None:
    """Why ``value`` (a description's config) is out of bounds, or None."""
    if depth > MAX_DEPTH:
        return f"nested more than {MAX_DEPTH} deep"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"the number {value!r} exceeds {MAX_NUMBER:,}" if abs(value) > MAX_NUMBER else None
    items = list(value.values()) if isinstance(value, dict) else value if isinstance(value, list) else []
    if len(items) > MAX_ITEMS:
        return f"a list of {len(items):,} entries (at most {MAX_ITEMS:,})"
    return next((p for p in (_unbounded(v, depth + 1) for v in items) if p), None)


def _resize(model: nn.Module, name: str, shape: torch.Size) -> None:
    """Give parameter or buffer ``name`` the stored shape, and keep the module's size attributes true."""
    owner_name, _, attr = name.rpartition(".")
    owner = model.get_submodule(owner_name)
    old = getattr(owner, attr)
    new = torch.empty(shape, dtype=old.dtype, device=old.device)
    if isinstance(old, nn.Parameter):
        setattr(owner, attr, nn.Parameter(new, requires_grad=old.requires_grad))
    else:
        owner.register_buffer(attr, new)
    if isinstance(owner, nn.Linear) and attr == "weight":
        owner.out_features, owner.in_features = shape
    elif isinstance(owner, nn.LayerNorm) and attr == "weight":
        owner.normalized_shape = tuple(shape)


def _header_shapes(path: Path) -> dict[str, list[int]]:
    """Tensor shapes from the safetensors header, read without loading any tensor."""
    from safetensors import SafetensorError, safe_open

    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        with safe_open(str(path), framework="pt") as f:
            return {k: list(f.get_slice(k).get_shape()) for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"checkpoint {path} is truncated or corrupt: {exc}") from None


def _check_file(path: Path, shapes: dict[str, list[int]]) -> None:
    """Every tensor the description lists is in the file with that shape (int8 files add scales)."""
    header = _header_shapes(path)
    for name, shape in shapes.items():
        if header.get(name) != shape:
            raise CheckpointError(
                f"{path}: tensor {name} is {header.get(name)} in the file, {shape} in its description"
            )


def _build_on_meta(model_cls: type[nn.Module], config: dict, where: Path) -> nn.Module:
    try:
        with torch.device("meta"):
            return model_cls(**config)
    except TypeError as exc:
        raise CheckpointError(f"cannot build {model_cls.__name__} from the stored config: {exc}") from None
    except Exception as exc:  # the class's own code rejected the config
        raise CheckpointError(f"{where}: building {model_cls.__name__} failed: {type(exc).__name__}: {exc}") from None


def _plan(description: dict, path: Path) -> Plan | None:
    if description.get("plan") is None:
        return None
    try:
        return Plan.from_dict(description["plan"])
    except CheckpointError as exc:
        raise CheckpointError(f"{sidecar(path)}: {exc}") from None


def mismatches(built: dict[str, list[int]], stored: dict[str, list[int]], plan: Plan | None) -> list[str]:
    """Where the stored tensor shapes are not what the description's config builds, pruned by its plan.

    Without a plan every shape must be the built one. With one, a pruned layer's built width must be the
    plan's dense width, and a dimension may only shrink, by at most the neurons the plan drops in all:
    a config that builds far larger layers than the file holds (``fourier: 1e9``) is refused before
    anything is allocated, not when the first forward pass asks for gigabytes."""
    problems = []
    for name in sorted(set(built) ^ set(stored)):
        problems.append(f"tensor {name} is {'built but not stored' if name in built else 'stored but not built'}")
    dropped = 0 if plan is None else sum(lp.width - len(lp.kept) for lp in plan.layers.values())
    for name in sorted(set(built) & set(stored)):
        b, s = built[name], stored[name]
        if len(b) != len(s) or any(x > y for x, y in zip(s, b)):
            problems.append(f"tensor {name} is stored as {s}, larger than the model's {b}")
        elif any(y - x > dropped for x, y in zip(s, b)):
            why = "no plan explains it" if plan is None else f"more than the plan's {dropped} dropped neurons"
            problems.append(f"tensor {name} is stored as {s} where the config builds {b}: {why}")
    for lp in plan.layers.values() if plan else ():
        for member in lp.members:
            b = built.get(f"{member}.weight")
            if b is not None and b[0] != lp.width:
                problems.append(f"layer {member} is built {b[0]} wide, the plan pruned it from {lp.width}")
    return problems


def load(path: Path | str, cls: type[nn.Module] | None = None, trust: bool = False) -> nn.Module:
    """Rebuild a model written by :func:`save`. ``cls`` overrides the recorded class; ``trust`` allows
    importing a class that no plug-in registers (see the module docstring)."""
    path = weights_path(path)
    description = read_description(path)
    quantization = description.get("quantization")
    shapes = description["shapes"]  # int8 files add a scale per quantized tensor, shapes unchanged
    model_cls = cls or resolve_class(description.get("class"), trust)
    _check_file(path, shapes)
    model = _build_on_meta(model_cls, description.get("config") or {}, path)
    state = model.state_dict()
    plan = _plan(description, path)
    problems = mismatches({k: list(v.shape) for k, v in state.items()}, shapes, plan)
    if problems:
        raise CheckpointError(f"{path} does not match {model_cls.__name__}'s config: {problems[0]}")
    for name, shape in shapes.items():
        if shape != list(state[name].shape):
            _resize(model, name, torch.Size(shape))
    persistent = set(model.state_dict())
    if any(name not in persistent for name, _ in model.named_buffers()):
        # buffers that __init__ computes and the file does not hold: build for real so they are right
        real = model_cls(**(description.get("config") or {}))
        for name, shape in shapes.items():
            if list(real.state_dict()[name].shape) != shape:
                _resize(real, name, torch.Size(shape))
        model = real
    else:
        model = model.to_empty(device="cpu")
    tensors = load_tensors(path)
    if quantization is not None:
        from prunekit.quantize import check_mode, expand

        try:
            check_mode(quantization["mode"])
            tensors = expand(tensors, list(quantization["tensors"]), quantization["mode"])
        except (KeyError, TypeError, PrunekitError) as exc:
            raise CheckpointError(f"{sidecar(path)}: bad quantization record: {exc}") from None
    for name, tensor in tensors.items():
        if list(tensor.shape) != shapes.get(name):
            raise CheckpointError(
                f"{path}: tensor {name} has shape {list(tensor.shape)}, its description says {shapes.get(name)}"
            )
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            bad = "NaN" if torch.isnan(tensor).any() else "Inf"
            raise CheckpointError(f"{path}: tensor {name} holds {bad}; the file is damaged or training diverged")
    try:
        model.load_state_dict(tensors)
    except RuntimeError as exc:
        raise CheckpointError(f"{path}: {str(exc).splitlines()[0]}") from None
    if plan is not None:
        model.prunekit_plan = plan
        plan.check_shapes(model)
    if quantization is not None:
        model.prunekit_quantization = quantization["mode"]
    return model


def summary(path: Path | str) -> dict:
    """What a saved model is, from its description and the weights file (nothing imported or built): class,
    parameters, layer widths, plan, and a check that the shapes are the config's and every value finite."""
    description = read_description(path)
    shapes = description["shapes"]
    _check_file(weights_path(path), shapes)
    plan = description.get("plan")
    return {
        "check": _check_summary(description, Path(weights_path(path))),
        "class": description.get("class"),
        "config": description.get("config") or {},
        "params": sum(math.prod(s) for s in shapes.values()),
        "widths": {  # module name (as in named_modules) → output width, for every 2-D weight
            k.rpartition(".")[0]: s[0] for k, s in shapes.items() if k.rpartition(".")[2] == "weight" and len(s) == 2
        },
        "plan": None if not isinstance(plan, dict) else plan.get("info"),
        "quantization": (description.get("quantization") or {}).get("mode"),
    }


def _check_summary(description: dict, path: Path) -> list[str] | str:
    """``summary``'s check of the stored shapes against what the config builds (on the meta device): "ok",
    the mismatches, or why it was not checked (a class that only ``--trust`` would import)."""
    from prunekit import plugins

    name = description.get("class")
    cls = _torch_nn_class(name) if isinstance(name, str) else None
    cls = cls or plugins.registry().models.get(name)
    if cls is None:
        return f"not checked: {name} is not a class prunekit builds without importing it (load with --trust)"
    try:
        built = _build_on_meta(cls, description.get("config") or {}, path).state_dict()
        built_shapes = {k: list(v.shape) for k, v in built.items()}
        problems = mismatches(built_shapes, description["shapes"], _plan(description, path))
    except CheckpointError as exc:
        return [str(exc)]
    return problems or _non_finite(path) or _mislabelled(description, path) or "ok"


def _mislabelled(description: dict, path: Path) -> list[str]:
    """A quantization record over tensors stored otherwise (fp32 under "int8")."""
    from prunekit.quantize import STORED, mislabelled

    record = description.get("quantization") or {}
    if record.get("mode") not in STORED:
        return []
    wrong = mislabelled(load_tensors(path), list(record.get("tensors") or []), record["mode"])
    return [f"quantization {w}" for w in wrong]


def _non_finite(path: Path) -> list[str]:
    """The stored tensors that hold NaN or Inf (read one at a time: a damaged file says so, not "ok")."""
    from safetensors import safe_open

    found = []
    with safe_open(str(path), framework="pt") as f:
        for name in f.keys():
            t = f.get_tensor(name)
            if t.is_floating_point() and not torch.isfinite(t).all():
                found.append(f"tensor {name} holds {'NaN' if torch.isnan(t).any() else 'Inf'}")
    return found
