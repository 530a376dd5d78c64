import json
import textwrap

import pytest
from cli import assert_one_line_error, prunekit, report

from prunekit.hookspecs import hookimpl
from prunekit.plugin import ScorerBase
from prunekit.plugins import Registry


class GoodScorer(ScorerBase):
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


def test_the_default_budget_is_half_the_widest_prunable_layer_of_the_model_built():
    from prunekit import plugins
    from prunekit.stages import default_width
    from prunekit.target import RunOptions

    digits = plugins.get_target("digits").setup(RunOptions(preset="smoke"))
    assert default_width(digits) == 128  # 64 → 256 → 256 → 10: half of 256
    fake = plugins.get_target("fake").setup(RunOptions(preset="smoke"))
    assert default_width(fake) == 32  # its widest prunable layers are 64 wide


TOY = '''
from dataclasses import dataclass

import torch
import typer
from torch.nn import functional as F

from prunekit.hookspecs import hookimpl
from prunekit.target import parse_options
from prunekit_mlp.tasks import PRESETS, ArrayTask


@dataclass
class ToyOptions:
    slope: float = 2.0


class ToyTask(ArrayTask):
    headline = "psnr"

    def __init__(self, options):
        self.toy = parse_options(ToyOptions, options.target_options, "toy")
        super().__init__(options)

    def load(self):
        x = torch.rand(512, 4, generator=torch.Generator().manual_seed(0))
        return x, torch.sin(self.toy.slope * x.sum(1, keepdim=True))

    def config(self, name):
        return {"d_in": 4, "hidden": [32, 32], "d_out": 1, "fourier": 0}

    def loss(self, out, y):
        return F.mse_loss(out, y)

    def metrics(self, out, y):
        return {"psnr": float(-10 * torch.log10(F.mse_loss(out, y)))}

    def write_visuals(self, out, dense, pruned):
        return []

    def preview(self, evaluation):
        return None


class ToyTarget:
    name = "toy"
    description = "sin(slope * sum(x)) regression"
    presets = PRESETS
    options = ToyOptions

    def setup(self, options):
        return ToyTask(options)


def toy_slope(slope: float = typer.Option(2.0)) -> None:
    """Print the toy target's curve at one point."""
    print(f"sin({slope} * 1) = {torch.sin(torch.tensor(slope)).item():.4f}")


@hookimpl
def register_targets(register):
    register(ToyTarget())


@hookimpl
def register_commands(cli):
    cli.command()(toy_slope)
'''


def test_a_new_target_with_its_own_option_and_command_touches_no_core_file(tmp_path):
    """A plug-in written here, outside prunekit, adds a target (own -O option, own default budget) and a
    command; the core's run, checks and report serve it unchanged."""
    _fake_distribution(tmp_path, "toy_plugin", TOY)
    env = {"PYTHONPATH": str(tmp_path)}
    out = tmp_path / "run"
    proc = prunekit("run", "toy", "--preset", "smoke", "-O", "slope=3", "--out", out, env=env)
    assert proc.returncode == 0, proc.stderr
    r = report(out)
    assert r["target"] == "toy" and r["options"]["target_options"] == {"slope": "3"}
    assert r["budget"] == {"width": 16, "round_to": "auto"}
    assert r["pruned"]["params"] == 4 * 16 + 16 + 16 * 16 + 16 + 16 + 1
    assert_one_line_error(
        prunekit("run", "toy", "-O", "steep=3", "--out", tmp_path / "x", env=env),
        "-O steep: the toy target has no such option (its options: slope)",
    )
    shown = prunekit("toy-slope", "--slope", "0.5", env=env)
    assert shown.returncode == 0 and shown.stdout.strip() == "sin(0.5 * 1) = 0.4794", shown.stderr


HANGS = """
import threading

from prunekit.plugin import ScorerBase, hookimpl


class QaSlow(ScorerBase):
    name, description, needs_calibration = "qa_slow", "a scorer that never returns", False

    def score(self, layer, calibration=None):
        threading.Event().wait()


@hookimpl
def register_scorers(register):
    register(QaSlow())
"""


def test_a_scorer_that_hangs_is_named_with_its_package_before_it_is_called(tmp_path):
    from cli import start, wait_for_line

    _fake_distribution(tmp_path, "qa_plugin", HANGS)
    proc = start("run", "digits", "--preset", "smoke", "--iters", "3", "--retrain-iters", "2", "--width", "32",
                 "--scorer", "qa_slow", "--out", tmp_path / "r", env={"PYTHONPATH": str(tmp_path)})  # fmt: skip
    try:
        wait_for_line(proc, "scoring with 'qa_slow' (from qa_plugin)")
    finally:
        proc.kill()
        proc.wait()
