"""Files on disk: atomic writes, and pruned models as safetensors plus a JSON description (no pickle).

``save`` stores the weights (whatever their pruned shapes) and how to build the dense architecture
(an importable ``nn.Module`` class and its keyword arguments). ``load`` builds the dense model, resizes
every parameter to the stored shape and fills it, so a pruned model reloads in one call with no
``load_state_dict`` size mismatch. Only code that is already installed is ever imported, and only an
``nn.Module`` subclass is ever called.
"""

from __future__ import annotations

import importlib
import json
import os
import tempfile
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from prunekit.errors import CheckpointError, PrunekitError

FORMAT = "prunekit.model/1"


def atomic_write(path: Path | str, write) -> None:
    """Call ``write(tmp_path)`` on a temporary file beside ``path``, then rename it into place."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text(path: Path | str, text: str) -> None:
    atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def write_json(path: Path | str, data) -> None:
    write_text(path, json.dumps(data, indent=2, allow_nan=False) + "\n")


def read_json(path: Path | str, what: str = "file"):
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"{what} not found: {path}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{what} {path} is not valid JSON: {exc}") from None


def save_tensors(path: Path | str, tensors: dict[str, torch.Tensor], metadata: dict | None = None) -> None:
    clean = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    atomic_write(path, lambda tmp: save_file(clean, tmp, metadata=metadata))


def load_tensors(path: Path | str) -> dict[str, torch.Tensor]:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"checkpoint {path} is truncated or corrupt: {exc}") from None


def _class_path(model: nn.Module) -> str:
    cls = type(model)
    return f"{cls.__module__}:{cls.__qualname__}"


def _import_class(path: str) -> type[nn.Module]:
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
    if hasattr(config, "__dataclass_fields__"):
        from dataclasses import asdict

        return asdict(config)
    return dict(config)


def sidecar(path: Path) -> Path:
    return path.with_suffix(".json")


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
    path = Path(path)
    if path.suffix != ".safetensors":
        path = path.with_suffix(path.suffix + ".safetensors") if path.suffix else path.with_suffix(".safetensors")
    if not path.parent.is_dir():
        raise CheckpointError(f"cannot save to {path}: {path.parent} is not a directory")
    plan = getattr(model, "prunekit_plan", None)
    description = {
        "format": FORMAT,
        "class": _class_path(model),
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


def load(path: Path | str, cls: type[nn.Module] | None = None) -> nn.Module:
    """Rebuild a model written by :func:`save`. ``cls`` overrides the recorded class."""
    from prunekit.plan import Plan

    path = Path(path)
    if path.suffix != ".safetensors" and path.with_suffix(".safetensors").exists():
        path = path.with_suffix(".safetensors")
    description = read_json(sidecar(path), "model description")
    if not isinstance(description, dict) or description.get("format") != FORMAT:
        raise CheckpointError(f"{sidecar(path)} is not a prunekit model description ({FORMAT})")
    tensors = load_tensors(path)
    quantization = description.get("quantization")
    if quantization is not None:
        from prunekit.quantize import check_mode, expand

        try:
            check_mode(quantization["mode"])
            tensors = expand(tensors, list(quantization["tensors"]))
        except (KeyError, TypeError, PrunekitError) as exc:
            raise CheckpointError(f"{sidecar(path)}: bad quantization record: {exc}") from None
    model_cls = cls or _import_class(str(description.get("class", "")))
    config = description.get("config") or {}
    if not isinstance(config, dict):
        raise CheckpointError(f"{sidecar(path)}: 'config' must be an object")
    try:
        model = model_cls(**config)
    except TypeError as exc:
        raise CheckpointError(f"cannot build {model_cls.__name__} from the stored config: {exc}") from None
    state = model.state_dict()
    if set(state) != set(tensors):
        missing, unexpected = sorted(set(state) - set(tensors)), sorted(set(tensors) - set(state))
        raise CheckpointError(
            f"{path} does not match {model_cls.__name__}: missing {missing[:3]}, unexpected {unexpected[:3]}"
        )
    shapes = description.get("shapes", {})
    for name, tensor in tensors.items():
        if list(tensor.shape) != shapes.get(name):
            raise CheckpointError(
                f"{path}: tensor {name} has shape {list(tensor.shape)}, its description says {shapes.get(name)}"
            )
        if tensor.shape != state[name].shape:
            _resize(model, name, tensor.shape)
    model.load_state_dict(tensors)
    if description.get("plan") is not None:
        model.prunekit_plan = Plan.from_dict(description["plan"])
        model.prunekit_plan.check_shapes(model)
    if quantization is not None:
        model.prunekit_quantization = quantization["mode"]
    return model
