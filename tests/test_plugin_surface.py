"""Plug-ins see one module of the core: ``prunekit.plugin``. Every plug-in module in this repository is
read (its import statements, by the parser) and may import nothing else of prunekit."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = sorted(p for p in [*ROOT.glob("plugins/*/prunekit_*"), *ROOT.glob("examples/*/prunekit_*")] if p.is_dir())


def _core_imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] if node.module != "prunekit" else [f"prunekit.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        found += [n for n in names if n == "prunekit" or n.startswith("prunekit.")]
    return found


def test_the_plug_in_packages_are_all_found():
    assert {p.name for p in PACKAGES} >= {"prunekit_nerf", "prunekit_mlp", "prunekit_gpt", "prunekit_flap"}


@pytest.mark.parametrize("package", PACKAGES, ids=lambda p: p.name)
def test_a_plug_in_imports_only_the_public_surface(package):
    wrong = {
        f"{path.relative_to(ROOT)}: {name}"
        for path in package.rglob("*.py")
        for name in _core_imports(path)
        if name != "prunekit.plugin"
    }
    assert not wrong, "plug-ins import prunekit.plugin only: " + "; ".join(sorted(wrong))


def test_the_check_sees_an_internal_import(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("from prunekit.graph import ModelGraph\nfrom prunekit import training\nimport prunekit.plugin\n")
    assert _core_imports(module) == ["prunekit.graph", "prunekit.training", "prunekit.plugin"]
