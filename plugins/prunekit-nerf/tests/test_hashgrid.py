"""The hash-grid field (Instant-NGP's design): its encoding against hand-worked cases, pruning its MLPs
through the same graph-aware surgery, and `prunekit run nerf -O field=hashgrid` end to end."""

import pytest
import torch
from cli import assert_one_line_error, prunekit, report
from prunekit_nerf.hashgrid import HashGridField

import prunekit as pk


def one_level(resolution: int, log2_table: int, bound: float = 2.0) -> HashGridField:
    """A single-level grid with one feature whose table entry i holds the number i."""
    f = HashGridField(
        levels=1, features=1, log2_table=log2_table, base_resolution=resolution, max_resolution=resolution, bound=bound
    )
    with torch.no_grad():
        f.table.weight.copy_(torch.arange(f.table.num_embeddings, dtype=torch.float32)[:, None])
    return f


def world(unit: torch.Tensor, bound: float = 2.0) -> torch.Tensor:
    return (unit * 2 - 1) * bound


def test_a_dense_level_reads_grid_vertices_exactly_and_blends_trilinearly():
    f = one_level(resolution=4, log2_table=7)  # 5³ = 125 grid points fit in 128 entries: no hashing
    vertex = torch.tensor([[1, 2, 3]], dtype=torch.float32)  # in cells; entry x + 5 y + 25 z = 86
    assert f.encode_position(world(vertex / 4)).item() == pytest.approx(1 + 5 * 2 + 25 * 3)
    centre = vertex + 0.5  # the mean of the 8 corners, and the table is linear in the index
    assert f.encode_position(world(centre / 4)).item() == pytest.approx(1.5 + 5 * 2.5 + 25 * 3.5)
    # a quarter of the way along x only: 3/4 of one vertex, 1/4 of the next
    assert f.encode_position(world((vertex + torch.tensor([0.25, 0, 0])) / 4)).item() == pytest.approx(86.25)
    far_corner = torch.ones(1, 3)  # the box's last vertex, 4 + 5·4 + 25·4 = 124
    assert f.encode_position(world(far_corner)).item() == pytest.approx(124)


def test_a_level_finer_than_its_table_hashes_into_the_table():
    f = one_level(resolution=64, log2_table=10)  # 65³ points, 1,024 entries: hashed
    assert f.dense_levels == 0
    x = world(torch.rand(5000, 3, generator=torch.Generator().manual_seed(0)))
    values = f.encode_position(x)
    assert values.min() >= 0 and values.max() <= 1023  # blends of entries 0…1023
    # vertex (a, b, c) lands in entry (a ⊕ 2654435761 b ⊕ 805459861 c) mod 1024, computed here by hand
    a, b, c = 7, 30, 51
    expected = (a ^ (2654435761 * b) ^ (805459861 * c)) % 1024
    got = f.encode_position(world(torch.tensor([[a, b, c]], dtype=torch.float32) / 64)).item()
    assert got == pytest.approx(expected)


def test_points_outside_the_box_have_no_density():
    f = HashGridField(bound=1.0)
    x = torch.tensor([[0.0, 0.0, 0.0], [1.5, 0.0, 0.0], [0.0, -3.0, 0.0]])
    d = torch.nn.functional.normalize(torch.ones(3, 3), dim=-1)
    rgb, sigma = f(x, d)
    assert sigma[0].item() > 0 and sigma[1:].eq(0).all()
    assert rgb.shape == (3, 3) and ((rgb > 0) & (rgb < 1)).all()


def test_the_same_pruners_shrink_its_mlps_and_leave_the_tables():
    torch.manual_seed(0)
    field = HashGridField()
    x = world(torch.rand(128, 3))
    d = torch.nn.functional.normalize(torch.randn(128, 3), dim=-1)
    tables = 16 * 2**15 * 2
    # hand count of the MLPs: 32→64, 64→1, 64→15, (15+27)→64, 64→64, 64→3
    dense_mlp = (32 * 64 + 64) + 65 + (64 * 15 + 15) + (42 * 64 + 64) + (64 * 64 + 64) + (64 * 3 + 3)
    assert pk.count_params(field) == tables + dense_mlp
    for scorer, selector in (("w_out", "topk"), ("product", "coreset")):
        pruned = pk.prune(field, (x, d), scorer=scorer, selector=selector, width=32)
        # width 32: the 64-wide layers halve, the 15 geometry features keep round(7.5) = 8
        half_mlp = (32 * 32 + 32) + 33 + (32 * 8 + 8) + (35 * 32 + 32) + (32 * 32 + 32) + (32 * 3 + 3)
        assert pk.count_params(pruned) == tables + half_mlp
        assert torch.equal(pruned.table.weight, field.table.weight)


def test_run_nerf_with_the_hash_grid_field(tmp_path):
    out = tmp_path / "run"
    proc = prunekit("run", "nerf", "-O", "field=hashgrid", "--preset", "smoke", "--width", "16", "--out", out)
    assert proc.returncode == 0, proc.stderr
    r = report(out)
    assert r["dense"]["widths"]["fine"] == [64, 1, 15, 64, 64, 3]
    assert r["pruned"]["widths"]["fine"] == [16, 1, 4, 16, 16, 3]  # a quarter of the neurons
    assert r["pruned"]["params"] < r["dense"]["params"]
    assert (out / "pruned" / "fine.json").read_text().count('"log2_table": 15') == 1
    # the saved run reopens through the same field option
    proc = prunekit("eval", out)
    assert proc.returncode == 0, proc.stderr
    assert_one_line_error(
        prunekit("run", "nerf", "-O", "field=nope", "--preset", "smoke", "--out", tmp_path / "x"),
        "-O field=nope: unknown field; choose one of: vanilla, hashgrid",
    )
