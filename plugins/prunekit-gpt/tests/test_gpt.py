"""The gpt target: the layers it prunes, the surgery on a transformer block, its corpus, and the CLI."""

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from cli import prunekit as cli
from prunekit_gpt.corpus import generated, load
from prunekit_gpt.model import GPT

import prunekit
from prunekit.errors import BadInput
from prunekit.plugin import ScorerBase

SHAKESPEARE = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "text" / "tinyshakespeare" / "input.txt"


def _gpt() -> tuple[GPT, torch.Tensor]:
    torch.manual_seed(0)
    return GPT(vocab_size=20, block_size=16, n_layer=2, n_head=2, n_embd=16), torch.randint(0, 20, (6, 16))


def test_only_the_declared_feed_forward_layers_are_cut():
    model, idx = _gpt()
    pruned = prunekit.prune(
        model, (idx,), scorer="w_out", selector="topk", width=24, prunable=[b.mlp.fc for b in model.blocks]
    )
    dense, cut = dict(model.named_parameters()), dict(pruned.named_parameters())
    changed = {n for n in dense if dense[n].shape != cut[n].shape}
    assert changed == {f"blocks.{i}.mlp.{p}" for i in (0, 1) for p in ("fc.weight", "fc.bias", "proj.weight")}
    assert all(cut[f"blocks.{i}.mlp.fc.weight"].shape == (24, 16) for i in (0, 1))  # 64 hidden units → 24
    for n in dense.keys() - changed:  # everything else as it was, to the bit
        assert torch.equal(dense[n], cut[n]), n


def test_a_pruned_block_computes_the_dense_block_with_its_dropped_units_zeroed():
    """The reference is the dense block itself with a hook that zeroes the dropped GELU outputs."""
    model, idx = _gpt()
    pruned = prunekit.prune(model, (idx,), scorer="product", selector="topk", width=40, prunable=["blocks.0.mlp.fc"])
    kept = pruned.prunekit_plan.layers["blocks.0.mlp.fc"].kept
    mask = torch.zeros(64)
    mask[kept] = 1.0
    dense_block = model.blocks[0]
    handle = dense_block.mlp.fc.register_forward_hook(lambda m, args, out: out + (mask - 1) * 1e4)  # GELU(-1e4) = 0
    x = torch.randn(3, 16, 16)
    try:
        with torch.no_grad():
            want = dense_block(x)
    finally:
        handle.remove()
    with torch.no_grad():
        got = pruned.blocks[0](x)
    assert torch.allclose(got, want, atol=1e-5)
    assert not torch.allclose(got, model.blocks[0](x), atol=1e-3)  # dropping units did change the block


def test_a_fused_qkv_split_into_heads_is_refused_before_any_scorer_runs():
    calls = []

    class Counting(ScorerBase):
        name, needs_calibration = "counting", False

        def score(self, layer, calibration=None):
            calls.append(layer.name)
            return torch.ones(layer.width)

    model, idx = _gpt()
    with pytest.raises(BadInput, match=r"cannot prune blocks\.0\.attn\.qkv: .*Attention"):
        prunekit.prune(model, (idx,), scorer=Counting(), selector="topk", keep=0.7, prunable=["blocks.0.attn.qkv"])
    with pytest.raises(BadInput, match=r"cannot prune blocks\.1\.mlp\.proj: .*LayerNorm"):  # the residual stream
        prunekit.prune(model, (idx,), scorer=Counting(), selector="topk", keep=0.7, prunable=["blocks.1.mlp.proj"])
    assert calls == []
    # without a list, the graph finds only the feed-forward units: nothing else can lose a neuron alone
    pruned = prunekit.prune(model, (idx,), scorer=Counting(), selector="topk", keep=0.7)
    assert sorted(pruned.prunekit_plan.layers) == ["blocks.0.mlp.fc", "blocks.1.mlp.fc"]


def test_the_feed_forward_of_pytorchs_own_transformer_encoder_is_pruned_as_asked():
    """A transformer prunekit never saw (torch.nn.TransformerEncoder, pre-norm, fused attention)."""
    from torch import nn

    torch.manual_seed(0)

    class Encoder(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb = nn.Embedding(30, 32)
            layer = nn.TransformerEncoderLayer(
                32, 4, dim_feedforward=96, dropout=0.0, batch_first=True, norm_first=True
            )
            self.encoder = nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False)
            self.head = nn.Linear(32, 30)

        def forward(self, idx):
            return self.head(self.encoder(self.emb(idx)))

    model, idx = Encoder().eval(), torch.randint(0, 30, (4, 10))
    ffn = [layer.linear1 for layer in model.encoder.layers]
    pruned = prunekit.prune(model, (idx,), scorer="w_out", selector="topk", width=48, prunable=ffn)
    assert [(b.linear1.out_features, b.linear2.in_features) for b in pruned.encoder.layers] == [(48, 48)] * 2
    assert pruned.encoder.layers[0].self_attn.out_proj.weight.shape == (32, 32)  # attention untouched
    with pytest.raises(BadInput, match="not called as a module"):
        prunekit.prune(model, (idx,), width=16, prunable=["encoder.layers.0.self_attn.out_proj"])


def test_the_corpus_splits_as_nanogpt_does_with_a_held_out_slice_for_choices(tmp_path):
    text = "abcdefghij" * 100  # 1,000 characters
    (tmp_path / "t.txt").write_text(text, encoding="utf-8")
    corpus = load(tmp_path / "t.txt", block_size=8)
    assert corpus.chars == "abcdefghij"
    assert (len(corpus.train), len(corpus.choice), len(corpus.validation)) == (850, 50, 100)
    assert corpus.decode(corpus.validation[:3]) == "abc"  # character 900 onwards
    (tmp_path / "bin.txt").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(BadInput, match="not UTF-8"):
        load(tmp_path / "bin.txt", block_size=8)
    with pytest.raises(BadInput, match="too few"):
        load(tmp_path / "t.txt", block_size=64)
    default = generated()
    assert len(default) == 400_000 and default == generated()  # generated the same every time


def test_tiny_shakespeare_has_nanogpts_vocabulary():
    if not SHAKESPEARE.is_file():
        pytest.skip("../shared/data/text/tinyshakespeare is not present")
    corpus = load(SHAKESPEARE, block_size=64)
    assert len(corpus.chars) == 65  # nanoGPT's shakespeare_char: 65 characters, 1,115,394 in all
    assert len(corpus.train) + len(corpus.choice) + len(corpus.validation) == 1_115_394
    assert len(corpus.validation) == 1_115_394 - int(0.9 * 1_115_394)


def test_gpt_smoke_run_reports_a_loss_and_exports_to_onnx_with_dynamic_batch_and_sequence(tmp_path):
    pytest.importorskip("onnxruntime")
    run = tmp_path / "run"
    assert cli("run", "gpt", "--preset", "smoke", "--out", str(run)).returncode == 0
    report = json.loads((run / "report.json").read_text())
    assert report["headline"] == "loss" and report["higher_is_better"] is False
    assert report["pruned"]["perplexity"] == pytest.approx(math.exp(report["pruned"]["loss"]))
    assert set(report["ratios"]) >= {"sec_per_iter", "inference_seconds"}
    md = (run / "report.md").read_text()
    assert "samples/dense.txt" in md and "samples/pruned.txt" in md
    assert report["pruned"]["widths"]["gpt"][2] == 64  # half of the 128 feed-forward units: the default
    assert cli("export", str(run)).returncode == 0
    import onnxruntime as ort

    pruned = prunekit.load(run / "pruned" / "gpt.safetensors")
    engine = ort.InferenceSession(str(run / "export" / "pruned" / "gpt.onnx"))
    idx = torch.randint(0, pruned.head.out_features, (3, 11))  # a batch and a length the export never saw
    got = engine.run(None, {engine.get_inputs()[0].name: idx.numpy()})[0]
    with torch.no_grad():
        want = pruned(idx).numpy()
    assert np.abs(got - want).max() <= 1e-4 * np.abs(want).max()


def test_gpt_smoke_sweep_ranks_a_loss_lower_is_better(tmp_path):
    out = tmp_path / "sweep"
    result = cli(
        "sweep", "gpt", "--preset", "smoke", "--scorers", "w_out", "--selectors", "topk", "--widths", "32",
        "--seeds", "0,1", "--out", str(out),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    md = (out / "results.md").read_text()
    assert "Δloss vs the equal-budget dense model (lower is better" in md
    assert len(list((out / "cells").glob("w_out-topk-width32-finetune-seed*.json"))) == 2


def test_a_folder_or_a_missing_file_as_data_is_one_line(tmp_path):
    result = cli("run", "gpt", "--preset", "smoke", "--data", str(tmp_path), "--out", str(tmp_path / "r"))
    assert result.returncode == 2 and "reads one UTF-8 text file" in result.stderr
    assert "Traceback" not in result.stderr
