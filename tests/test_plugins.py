import json
import textwrap

import pytest
from cli import prunekit

from prunekit.hookspecs import hookimpl
from prunekit.plugins import Registry


class GoodScorer:
    name = "ones"
    description = "every neuron scores one"
    needs_calibration = False

    def score(self, layer, calibration=None):
        import torch

        return torch.ones(layer.width)


class RaisingPlugin:
    __name__ = "raising"

    @hookimpl
    def register_scorers(self, register):
        raise RuntimeError("boom")


class InvalidPlugin:
    __name__ = "invalid"

    @hookimpl
    def register_selectors(self, register):
        register(object())  # no name, no select()

    @hookimpl
    def register_scorers(self, register):
        class Dup(GoodScorer):
            name = "w_out"

        register(Dup())
        register(GoodScorer())


def test_builtins_are_registered_through_the_hooks():
    reg = Registry(load_entry_points=False)
    names = {(e.kind, e.name) for e in reg.listing()}
    assert {("scorer", n) for n in ("w_in", "w_out", "product", "random", "activation")} <= names
    assert {("selector", n) for n in ("uniform", "topk", "coreset")} <= names
    assert all(e.source == "prunekit" for e in reg.listing())
    assert reg.failures == []


def test_broken_plugins_are_isolated():
    reg = Registry(load_entry_points=False, extra=(RaisingPlugin(), InvalidPlugin()))
    reasons = " | ".join(f.reason for f in reg.failures)
    assert "register_scorers raised RuntimeError: boom" in reasons
    assert "without a valid name" in reasons
    assert "'w_out' is already registered by prunekit" in reasons
    assert reg.get("scorer", "ones").description == "every neuron scores one"  # the good part still loads
    assert reg.get("scorer", "w_out").__class__.__module__ == "prunekit.scorers"


def _fake_distribution(root, name, module_source):
    (root / f"{name}.py").write_text(textwrap.dedent(module_source))
    info = root / f"{name}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[prunekit]\n{name} = {name}\n")


@pytest.mark.parametrize(
    "source, reason",
    [
        ("raise ImportError('needs a missing package')", "import failed: ImportError: needs a missing package"),
        (
            "from prunekit.hookspecs import hookimpl\n@hookimpl\ndef register_targets(register):\n    register(42)\n",
            "a target without a valid name",
        ),
    ],
)
def test_cli_lists_a_broken_installed_plugin_and_keeps_working(tmp_path, source, reason):
    _fake_distribution(tmp_path, "broken_plugin", source)
    env = {"PYTHONPATH": str(tmp_path)}
    proc = prunekit("plugins", "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    listing = json.loads(proc.stdout)
    assert any(f["source"] == "broken_plugin" and reason in f["reason"] for f in listing["failed"])
    assert {"w_out", "coreset"} <= {p["name"] for p in listing["plugins"]}
    table = prunekit("plugins", env=env)
    assert table.returncode == 0 and "broken_plugin" in table.stdout and "w_out" in table.stdout


def test_entry_point_loading_can_be_switched_off(tmp_path):
    _fake_distribution(tmp_path, "broken_plugin", "raise ImportError('x')")
    proc = prunekit("plugins", "--json", env={"PYTHONPATH": str(tmp_path), "PRUNEKIT_LOAD_PLUGINS": "0"})
    assert json.loads(proc.stdout)["failed"] == []


def test_a_plugin_adds_a_command_and_a_broken_one_does_not_break_the_cli(tmp_path):
    _fake_distribution(
        tmp_path,
        "hello_plugin",
        """
        import typer
        from prunekit.hookspecs import hookimpl

        def hello(name: str = typer.Option("world")) -> None:
            '''Say hello.'''
            print(f"hello {name}")

        @hookimpl
        def register_commands(cli):
            cli.command()(hello)
        """,
    )
    _fake_distribution(
        tmp_path,
        "broken_commands",
        "from prunekit.hookspecs import hookimpl\n@hookimpl\ndef register_commands(cli):\n    raise KeyError('x')\n",
    )
    env = {"PYTHONPATH": str(tmp_path)}
    proc = prunekit("hello", "--name", "prunekit", env=env)
    assert proc.returncode == 0 and proc.stdout.strip() == "hello prunekit", proc.stderr
    listing = json.loads(prunekit("plugins", "--json", env=env).stdout)
    assert any(
        f["source"] == "broken_commands" and "register_commands raised KeyError" in f["reason"]
        for f in listing["failed"]
    )
    assert "render" in prunekit("--help", env=env).stdout  # the NeRF plug-in's command, added by the same hook
    assert "render" not in prunekit("--help", env={**env, "PRUNEKIT_LOAD_PLUGINS": "0"}).stdout


def test_a_target_declares_its_default_budget_or_gets_half_the_parameters():
    from prunekit import plugins
    from prunekit.target import default_budget

    assert default_budget(plugins.get_target("nerf")) == {"width": 128}
    assert default_budget(object()) == {"keep": 0.5}
