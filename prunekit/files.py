"""Files written so that a crash never leaves one half-written: atomic writes, JSON, tensor files."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import math
import os
import tempfile
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from prunekit.errors import BadInput, CheckpointError, WriteError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# mkstemp creates files 0600; files are made readable as the user's umask allows, as open() would
FILE_MODE = 0o666 & ~_umask()


def atomic_write(path: Path | str, write) -> None:
    """Call ``write(tmp_path)`` on a temporary file beside ``path``, then rename it into place. A failed
    write (disk full, no permission) leaves ``path`` as it was and raises WriteError."""
    path = Path(path)
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
        write(tmp)
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    except (OSError, SafetensorError) as exc:  # safetensors reports a failed write as its own error
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        raise WriteError(f"cannot write {path}: {getattr(exc, 'strerror', None) or exc}") from None
    except BaseException:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        raise


def write_text(path: Path | str, text: str) -> None:
    atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def write_json(path: Path | str, data) -> None:
    write_text(path, json.dumps(data, indent=2, allow_nan=False) + "\n")


def read_json(path: Path | str, what: str = "file"):
    """The JSON in ``path``; a missing, unreadable or non-regular file (a FIFO would block) is one line."""
    path = Path(path)
    if path.exists() and not path.is_file():
        raise CheckpointError(f"{what} {path} is not a regular file")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"{what} not found: {path}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{what} {path} is not valid JSON: {exc}") from None
    except RecursionError:
        raise CheckpointError(f"{what} {path} is nested too deeply to be a prunekit file") from None


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


def json_safe(value):
    """JSON has no NaN or Infinity: write null instead, at any depth."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


LOCK = ".lock"  # held by the process writing a run or sweep folder; the kernel drops it with the process


@contextlib.contextmanager
def folder_lock(out: Path):
    """Hold an exclusive lock on the folder ``out`` (created if need be) while this process writes there: a
    second run or sweep into it stops at once instead of writing alongside."""
    out.mkdir(parents=True, exist_ok=True)
    handle = open(out / LOCK, "a+")  # noqa: SIM115 - held for the whole run
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise BadInput(
                f"another prunekit process is writing to --out {out}; wait for it to finish or choose another --out"
            ) from None
        yield
    finally:
        handle.close()


def data_identity(path: Path | str | None) -> str | None:
    """What a data path holds, as one digest of its files' relative names and sizes (a file: its name and
    size): two spellings of the same data agree, other data in the same place does not. Cheap: no file
    is read."""
    if path is None:
        return None
    path = Path(path)
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    h = hashlib.sha256()
    for f in files:
        h.update(f"{f.relative_to(path) if f != path else f.name}\0{f.stat().st_size}\n".encode())
    return h.hexdigest()[:16]
