"""``--precision auto``: fp32 without native bf16; where the hardware has it, bf16 only if a measurement
(faked here, never timed) finds it at least 1.25x faster; the answer remembered per device."""

import json

import pytest
import torch

from prunekit import precision
from prunekit.errors import BadInput
from prunekit.measured import key

AVX2 = {"avx2", "fma"}
AVX512_BF16 = {"avx512f", "avx512_bf16"}
AMX = {"avx512f", "avx512_bf16", "amx_bf16", "amx_tile"}


@pytest.fixture
def empty_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    return tmp_path / "prunekit" / "measured.json"


def fake_device(monkeypatch, bf16_seconds: float) -> list:
    """A device on which the layer takes 1 s in fp32 and ``bf16_seconds`` under bf16 autocast; returns
    the list of measurements made."""
    made = []
    real = precision.measure

    def measure(device):
        made.append(device)
        return real(device, lambda p, device: bf16_seconds if p == "bf16" else 1.0)

    monkeypatch.setattr(precision, "measure", measure)
    return made


def test_without_native_bf16_auto_is_fp32_and_nothing_is_measured(monkeypatch, empty_cache):
    made = fake_device(monkeypatch, 0.1)
    assert precision.resolve_precision("auto", "cpu", AVX2) == "fp32"
    assert made == [] and not empty_cache.exists()


@pytest.mark.parametrize(
    "flags, bf16_seconds, picked",
    [
        (AMX, 0.4, "bf16"),  # AMX: 2.5x
        (AVX512_BF16, 0.5, "bf16"),  # AVX-512 BF16 where it is 2x faster
        (AVX512_BF16, 1.6, "fp32"),  # ... and where it is 1.6x slower
        (AMX, 0.8, "bf16"),  # exactly the 1.25x asked for
        (AMX, 0.81, "fp32"),  # a gain too small to round every product for
    ],
)
def test_with_native_bf16_the_measurement_decides(monkeypatch, empty_cache, flags, bf16_seconds, picked):
    fake_device(monkeypatch, bf16_seconds)
    assert precision.resolve_precision("auto", "cpu", flags) == picked
    record = json.loads(empty_cache.read_text())[key(torch.device("cpu"))]["precision"]
    assert record == {"bf16_over_fp32": pytest.approx(bf16_seconds), "preferred": picked}


def test_the_answer_is_remembered_and_a_damaged_cache_measured_anew(monkeypatch, empty_cache):
    made = fake_device(monkeypatch, 0.5)
    assert precision.resolve_precision("auto", "cpu", AMX) == "bf16"
    assert precision.resolve_precision("auto", "cpu", AMX) == "bf16"
    assert len(made) == 1
    empty_cache.write_text("{not json")
    assert precision.resolve_precision("auto", "cpu", AMX) == "bf16"
    assert len(made) == 2 and json.loads(empty_cache.read_text())  # rewritten whole


def test_an_asked_for_precision_is_kept_and_a_bad_one_refused(monkeypatch, empty_cache):
    made = fake_device(monkeypatch, 0.1)
    assert precision.resolve_precision("fp32", "cpu", AMX) == "fp32"
    assert precision.resolve_precision("bf16", "cpu", AVX2) == "bf16"
    assert made == []
    with pytest.raises(BadInput, match="--precision must be one of fp32, bf16, auto"):
        precision.resolve_precision("fp16", "cpu")


def test_a_gpu_has_native_bf16_when_torch_says_so(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert precision.bf16_native(torch.device("cuda"), set())
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert not precision.bf16_native(torch.device("cuda"), AMX)  # the CPU's flags say nothing of a GPU
