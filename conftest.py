"""Fixtures and helpers shared by the core's tests (tests/), the plug-ins' (plugins/*/tests) and the examples'."""

import atexit
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent
SHARED = ROOT.parent / "shared" / "data" / "nerf_synthetic"
# the helpers every suite imports: the CLI in a subprocess (tests/cli.py), small models (tests/mlps.py), and
# the NeRF plug-in's synthetic scenes in each data format (beside its own tests)
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "plugins" / "prunekit-nerf" / "tests")]


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def _shared(path: Path, marker: str) -> Path:
    if not (path / marker).exists():
        pytest.skip(f"../shared/data/{path.relative_to(SHARED.parent)} is not present")
    return path


@pytest.fixture
def lego_official_100() -> Path:
    return _shared(SHARED / "lego_official_100", "transforms_test.json")


@pytest.fixture
def fern() -> Path:
    return _shared(SHARED.parent / "nerf_llff" / "fern", "poses_bounds.npy")


@pytest.fixture
def lego_100() -> Path:
    return _shared(SHARED / "lego_100", "transforms_train.json")


def _measurement_cache() -> Path:
    """A cache in which this machine's kernels prefer exact widths and fp32, so that ``--round-to auto``
    (the run's default) and ``--precision auto`` give the same runs on every machine the suite meets; the
    tests of ``auto`` itself write caches of their own."""
    from prunekit.measured import key

    home = Path(tempfile.mkdtemp(prefix="prunekit-test-cache-"))
    atexit.register(shutil.rmtree, home, ignore_errors=True)
    (home / "prunekit").mkdir()
    threads = torch.get_num_threads()
    keys = {}
    for n in range(1, max(threads, os.cpu_count() or 1) + 1):  # torchrun's processes run one thread each
        torch.set_num_threads(n)
        keys[key(torch.device("cpu"))] = {"round_to": {"preferred": 1}, "precision": {"preferred": "fp32"}}
    torch.set_num_threads(threads)
    (home / "prunekit" / "measured.json").write_text(json.dumps(keys))
    return home


CACHE_HOME = _measurement_cache()
os.environ["XDG_CACHE_HOME"] = str(CACHE_HOME)  # this process's own API calls too


def cli_env() -> dict:
    """The environment of a ``prunekit`` subprocess: every plug-in loads, the tests' ``fake`` target too
    (tests/ on its path holds it and its dist-info), exact widths and fp32 under ``auto``, and no
    progress bars."""
    env = dict(os.environ)
    env.pop("PRUNEKIT_LOAD_PLUGINS", None)
    env["PRUNEKIT_PROGRESS"] = "0"
    env["XDG_CACHE_HOME"] = str(CACHE_HOME)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT / "tests"), env.get("PYTHONPATH", "")) if p)
    return env
