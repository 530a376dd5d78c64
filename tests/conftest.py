import os
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "nerf_synthetic"


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture
def lego_official_100() -> Path:
    path = SHARED / "lego_official_100"
    if not (path / "transforms_test.json").exists():
        pytest.skip("../shared/data/nerf_synthetic/lego_official_100 is not present")
    return path


@pytest.fixture
def fern() -> Path:
    path = SHARED.parent / "nerf_llff" / "fern"
    if not (path / "poses_bounds.npy").exists():
        pytest.skip("../shared/data/nerf_llff/fern is not present")
    return path


@pytest.fixture
def lego_100() -> Path:
    path = SHARED / "lego_100"
    if not (path / "transforms_train.json").exists():
        pytest.skip("../shared/data/nerf_synthetic/lego_100 is not present")
    return path


def cli_env() -> dict:
    env = dict(os.environ)
    env.pop("PRUNEKIT_LOAD_PLUGINS", None)
    env["PRUNEKIT_PROGRESS"] = "0"
    return env
