"""Models out of PyTorch: ONNX for inference engines (onnxruntime), ``torch.export`` programs (.pt2) for
PyTorch-native deployment, and onnxruntime's int8 quantization. Every export is checked against the
model it came from before anyone relies on it.

The batch axis of every input and output is dynamic, so one file serves any batch size; a model may name
more dynamic axes (a sequence's length). Integer inputs (token ids) stay integers. onnx,
onnxscript and onnxruntime are the optional ``deploy`` extra; ``.pt2`` needs only torch.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from prunekit.errors import BadInput, PrunekitError
from prunekit.files import atomic_write

FORMATS = {"onnx": ".onnx", "pt2": ".pt2"}
# How far an export may drift from PyTorch, per output. fp32 kernels differ only in summation order:
# max |exported − torch| ≤ 1e-5 × max |torch|. Dynamic int8 rounds weights per output channel and each
# activation batch to 8 bits, and a few outputs can move by a third of the range (a small pruned field's
# raw density), so int8 is bounded in RMS: ‖exported − torch‖ ≤ 0.25 ‖torch‖, which only catches a broken
# conversion. What int8 costs is measured by evaluating it (PSNR, accuracy); a changed file is caught by
# its SHA-256, recorded at export.
TOLERANCE = {"fp32": 1e-5, "int8": 0.25}
INSTALL = 'onnxruntime is not installed; pip install -e ".[deploy]" (or: pip install onnx onnxscript onnxruntime)'


class ExportError(PrunekitError):
    """An export that could not be written, or whose outputs are not the model's."""


def _as_tuple(inputs) -> tuple[torch.Tensor, ...]:
    return tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)


def require_onnxruntime():
    try:
        import onnxruntime
    except ImportError:
        raise BadInput(INSTALL) from None
    return onnxruntime


Axes = tuple[dict[int, str], ...]  # per input: axis → name of a dynamic size (equal names: one size)


def _cpu(inputs) -> tuple[torch.Tensor, ...]:
    """Inputs on the CPU, floating ones in fp32, integer ones (token ids) as they are."""
    return tuple(t.detach().cpu().float() if t.is_floating_point() else t.detach().cpu() for t in _as_tuple(inputs))


def _axes(inputs: tuple, axes: Axes | None) -> Axes:
    return tuple(axes) if axes is not None else tuple({0: "batch"} for _ in inputs)


def export(model: nn.Module, example_inputs, path: Path | str, *, check: bool = True, axes: Axes | None = None) -> dict:
    """Write ``model`` to ``path`` (its suffix, .onnx or .pt2, says the format) with dynamic axes, and
    (``check``) verify the file against the model; returns the verification record.

    ``example_inputs`` is a tensor or tuple of tensors, batch first, with at least two rows (a batch of one
    would be specialised to one). ``axes`` names each input's dynamic axes, e.g. ``({0: "batch", 1:
    "sequence"},)`` for token ids; default: the batch axis alone. The model is exported on the CPU in fp32
    and left unchanged."""
    path = Path(path)
    fmt = next((f for f, suffix in FORMATS.items() if path.suffix == suffix), None)
    if fmt is None:
        raise BadInput(f"export to {path}: the name must end in {' or '.join(FORMATS.values())}")
    inputs = _cpu(example_inputs)
    if any(t.ndim == 0 or t.shape[0] < 2 for t in inputs):
        raise BadInput("export needs example inputs with a batch axis of at least two rows")
    axes = _axes(inputs, axes)
    cpu = copy.deepcopy(model).cpu().float().eval()
    dims = {name: torch.export.Dim(name, min=1) for ax in axes for name in ax.values()}
    dynamic = tuple({a: dims[name] for a, name in ax.items()} for ax in axes)
    try:
        if fmt == "onnx":
            require_onnxruntime()
            atomic_write(path, lambda tmp: _write_onnx(cpu, inputs, dynamic, tmp))
        else:
            program = torch.export.export(cpu, inputs, dynamic_shapes=dynamic)
            atomic_write(path, lambda tmp: _save_program(program, tmp))
    except PrunekitError:
        raise
    except Exception as exc:  # the exporter's own refusal: an op it cannot trace or translate
        raise ExportError(f"{type(model).__name__} cannot be exported to {fmt}: {str(exc).splitlines()[0]}") from None
    return verify(path, cpu, inputs, axes=axes) if check else {}


def _save_program(program, tmp: str) -> None:
    with open(tmp, "wb") as f:  # a file object: torch.export.save expects a name ending in .pt2
        torch.export.save(program, f)


def _write_onnx(model: nn.Module, inputs: tuple, dynamic: tuple, tmp: Path) -> None:
    names = [f"input{i}" for i in range(len(inputs))]
    with warnings.catch_warnings(), _quiet("torch.onnx", "onnxscript"):
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            inputs,
            str(tmp),
            dynamo=True,
            dynamic_shapes=dynamic,
            input_names=names,
            external_data=False,
            verbose=False,
        )


class _quiet:
    """Silence loggers (the ONNX exporter reports every translation step at WARNING)."""

    def __init__(self, *names: str) -> None:
        self.loggers = [logging.getLogger(n) for n in names]

    def __enter__(self) -> None:
        self.levels = [lg.level for lg in self.loggers]
        for lg in self.loggers:
            lg.setLevel(logging.ERROR)

    def __exit__(self, *exc) -> None:
        for lg, level in zip(self.loggers, self.levels):
            lg.setLevel(level)


def quantize_int8(onnx_path: Path | str, out: Path | str) -> Path:
    """onnxruntime's dynamic int8 quantization of an exported model: int8 weights per output channel,
    activations quantized per batch at run time, so matrix products run in int8 kernels."""
    require_onnxruntime()
    from onnxruntime.quantization import QuantType, quantize_dynamic

    out = Path(out)
    try:
        with _quiet("root"):  # its advice to pre-process comes as a root-logger warning on every call
            atomic_write(
                out,
                lambda tmp: quantize_dynamic(str(onnx_path), str(tmp), per_channel=True, weight_type=QuantType.QInt8),
            )
    except Exception as exc:
        # onnxruntime writes a shape-inferred copy to a temporary folder first; a full disk there surfaces
        # as a corrupt protobuf, so the space is probed to name the real cause
        cause = _no_room(Path(onnx_path).stat().st_size, out.parent, Path(tempfile.gettempdir()))
        raise ExportError(f"int8 quantization of {onnx_path} failed: {cause or str(exc).splitlines()[0]}") from None
    return out


def _no_room(size: int, *folders: Path) -> str | None:
    """Why a file of ``size`` bytes cannot be written in one of ``folders`` (disk full, file too large),
    or None when each takes it."""
    for folder in folders:
        try:
            with tempfile.TemporaryFile(dir=folder) as probe:
                probe.write(b"\0" * size)
                probe.flush()
        except OSError as exc:
            return f"cannot write {size:,} bytes in {folder}: {exc.strerror or exc}"
    return None


class OnnxModule(nn.Module):
    """An ONNX file run by onnxruntime behind the ``nn.Module`` call a target already makes: tensors in,
    tensors out (on the inputs' device), so a target evaluates an engine's model as it does its own."""

    def __init__(self, path: Path | str, threads: int | None = None) -> None:
        super().__init__()
        ort = require_onnxruntime()
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or torch.get_num_threads()  # the same cores torch is given
        options.log_severity_level = 3
        options.enable_cpu_mem_arena = False  # an arena keeps the largest batch's buffers for good
        try:
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise ExportError(f"onnxruntime cannot load {path}: {str(exc).splitlines()[0]}") from None
        self.names = [i.name for i in self.session.get_inputs()]
        self.path = Path(path)

    # Rows per engine call: a NeRF image arrives as millions of points at once, and the engine holds
    # every intermediate of a call (int8 adds int32 copies), so large batches run in slices.
    rows = 65_536

    def forward(self, *inputs: torch.Tensor):
        if len(inputs) != len(self.names):
            raise ExportError(f"{self.path} takes {len(self.names)} inputs, got {len(inputs)}")
        arrays = [t.numpy() for t in _cpu(inputs)]
        parts = [
            self.session.run(None, {n: a[s : s + self.rows] for n, a in zip(self.names, arrays)})
            for s in range(0, max(len(arrays[0]), 1), self.rows)
        ]
        outputs = [torch.from_numpy(np.concatenate(o)).to(inputs[0].device) for o in zip(*parts)]
        return outputs[0] if len(outputs) == 1 else tuple(outputs)


def load_exported(path: Path | str) -> nn.Module:
    """The exported model at ``path`` as a callable module: onnxruntime for .onnx, torch for .pt2."""
    path = Path(path)
    if not path.is_file():
        raise BadInput(f"no exported model at {path}")
    if path.suffix == ".onnx":
        return OnnxModule(path)
    if path.suffix == ".pt2":
        try:
            return torch.export.load(str(path)).module()
        except Exception as exc:
            raise ExportError(f"cannot load {path}: {str(exc).splitlines()[0]}") from None
    raise BadInput(f"{path}: not an exported model (.onnx or .pt2)")


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def random_like(inputs: tuple[torch.Tensor, ...], seed: int = 0, axes: Axes | None = None) -> tuple[torch.Tensor, ...]:
    """Inputs the export never saw: a batch of another size (2n + 1 rows) and every other dynamic axis
    shorter (n // 2 + 1: a sequence may not grow past the model's context), each float column drawn around
    the example's mean with its spread and integers within the example's range, so the check covers the
    dynamic axes and the model's working range."""
    gen = torch.Generator().manual_seed(seed)
    drawn = []
    for t, ax in zip(inputs, _axes(inputs, axes)):
        shape = [2 * n + 1 if a == 0 else n // 2 + 1 if a in ax else n for a, n in enumerate(t.shape)]
        if not t.is_floating_point():
            drawn.append(torch.randint(int(t.min()), int(t.max()) + 1, shape, generator=gen, dtype=t.dtype))
            continue
        part = t[(slice(None), *(slice(0, n) for n in shape[1:]))]
        mean, std = part.mean(0), part.std(0).clamp_min(1e-3)
        drawn.append(mean + std * torch.randn(shape, generator=gen))
    return tuple(drawn)


def _outputs(result) -> list[torch.Tensor]:
    return [result] if isinstance(result, torch.Tensor) else list(result)


def verify(
    path: Path | str, model: nn.Module, example_inputs, precision: str = "fp32", axes: Axes | None = None
) -> dict:
    """Check the export at ``path`` against ``model`` on the example inputs and on random ones: every
    output within ``TOLERANCE[precision]`` of the model's (see there), else :class:`ExportError` naming
    the output and the error. Returns the worst error and the tolerance."""
    tolerance = TOLERANCE[precision]
    exported = load_exported(path)
    cpu = copy.deepcopy(model).cpu().float().eval()
    example = _cpu(example_inputs)
    worst = 0.0
    for inputs in (example, random_like(example, axes=axes)):
        with torch.no_grad():
            want, got = _outputs(cpu(*inputs)), _outputs(exported(*inputs))
        if len(want) != len(got):
            raise ExportError(f"{path} gives {len(got)} outputs, the model {len(want)}")
        for i, (w, g) in enumerate(zip(want, got)):
            if w.shape != g.shape:
                raise ExportError(f"{path}: output {i} has shape {list(g.shape)}, the model's {list(w.shape)}")
            diff = g.float() - w
            if precision == "fp32":
                error = float(diff.abs().max() / w.abs().max().clamp_min(1e-12))
            else:
                error = float(diff.pow(2).mean().sqrt() / w.pow(2).mean().sqrt().clamp_min(1e-12))
            if not np.isfinite(error) or error > tolerance:
                raise ExportError(
                    f"{path} does not reproduce the model: output {i} differs by {error:.2e} of its scale "
                    f"({precision} tolerance {tolerance:g})"
                )
            worst = max(worst, error)
    return {"relative_error": worst, "tolerance": tolerance, "precision": precision}


def check_format(fmt: str, int8: bool = False) -> None:
    """Refuse an export format prunekit does not write, int8 of anything but ONNX, and ONNX without its
    extra, before any model is loaded."""
    if fmt not in FORMATS:
        raise BadInput(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if int8 and fmt != "onnx":
        raise BadInput("--int8 quantizes ONNX exports; use it with --format onnx")
    if fmt == "onnx":
        require_onnxruntime()


def export_models(
    task,
    models: dict[str, nn.Module],
    folder: Path,
    fmt: str = "onnx",
    int8: bool = False,
    described: Path | None = None,
) -> dict[str, dict]:
    """Export each of a run's models (``task.example_inputs`` traces it) into ``folder`` as NAME.onnx or
    NAME.pt2, with NAME.int8.onnx (``int8``) and NAME.json beside: the checkpoint's description (widths,
    plan, config) from ``described``/NAME.json plus what was exported and how well it matched."""
    from prunekit.files import read_json, write_json

    check_format(fmt, int8)
    folder.mkdir(parents=True, exist_ok=True)
    records = {}
    for name, model in models.items():
        weights = described / f"{name}.safetensors" if described else None
        inputs, axes = _as_tuple(task.example_inputs(name)), task.dynamic_axes(name)
        path = folder / f"{name}{FORMATS[fmt]}"
        shapes = [[None if a in ax else n for a, n in enumerate(t.shape)] for t, ax in zip(inputs, _axes(inputs, axes))]
        record = {"file": path.name, "format": fmt, "inputs": shapes}
        if weights is not None and weights.is_file():  # ties the export to the checkpoint it came from
            record["checkpoint"] = {"file": weights.name, "sha256": sha256(weights)}
        record["verified"] = export(model, inputs, path, axes=axes)
        record["sha256"] = sha256(path)
        if int8:
            q = quantize_int8(path, folder / f"{name}.int8.onnx")
            verified = verify(q, model, inputs, "int8", axes)
            record["int8"] = {"file": q.name, "verified": verified, "sha256": sha256(q)}
        description = read_json(described / f"{name}.json", "model description") if described else {}
        write_json(folder / f"{name}.json", {**description, "export": record})
        records[name] = record
    return records


INT8_OPS = {"DynamicQuantizeLinear", "MatMulInteger", "QLinearMatMul", "ConvInteger", "QLinearConv"}


def _quantized_ops(path: Path) -> set[str]:
    """The int8 operators an ONNX file's graph holds (onnxruntime's dynamic quantization adds them)."""
    import onnx

    return {node.op_type for node in onnx.load(str(path), load_external_data=False).graph.node} & INT8_OPS


def engine_models(
    folder: Path, models: dict[str, nn.Module], task, int8: bool = False, checkpoints: Path | None = None
) -> dict:
    """The exports in ``folder`` of ``models`` (NAME.onnx, or NAME.int8.onnx), each checked first against
    the SHA-256 recorded at export, then against the checkpoint it was exported from (``checkpoints``/
    NAME.safetensors: an export of an earlier run in the same folder is refused, whatever its outputs),
    then against its model's outputs, so a file changed since it was exported is refused rather than
    evaluated."""
    from prunekit.files import read_json

    engines = {}
    for name, model in models.items():
        path = folder / f"{name}{'.int8' if int8 else ''}.onnx"
        if not path.is_file():
            raise BadInput(
                f"no {path.name} in {folder}: run `prunekit export RUN_DIR{' --int8' if int8 else ''}` (both stages)"
            )
        described = read_json(folder / f"{name}.json", "export description")
        record = (described.get("export") if isinstance(described, dict) else None) or {}
        if isinstance(record, dict) and int8:
            record = record.get("int8") or {}
        if not isinstance(record, dict) or record.get("sha256") != sha256(path):
            raise ExportError(f"{path} is not the file `prunekit export` wrote (its SHA-256 differs); export again")
        if checkpoints is not None:
            weights = checkpoints / f"{name}.safetensors"
            source = (described.get("export") or {}).get("checkpoint") or {}
            if source.get("sha256") != sha256(weights):
                raise ExportError(
                    f"{path} was exported from another checkpoint than {weights} (a run replaced since, or an "
                    "older export); run `prunekit export` again"
                )
        precision = "int8" if int8 else "fp32"
        if int8 and not _quantized_ops(path):  # what the file claims against what it holds
            raise ExportError(f"{path} holds no int8 operator: not an int8 quantization; export again with --int8")
        verify(path, model, task.example_inputs(name), precision, task.dynamic_axes(name))
        engines[name] = OnnxModule(path)
    return engines
