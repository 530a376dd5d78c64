"""Bad input through the real CLI: one line, exit 2, no traceback. Unusual but valid input still works."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from cli import assert_one_line_error, kill_9_when, prunekit, report, wait_for_file

import prunekit as pk
from prunekit.errors import TrainingDiverged
from prunekit.plugin import ScorerBase
from prunekit.training import train

SMOKE = ("--preset", "smoke", "--iters", "2")


@pytest.mark.parametrize(
    "args, message",
    [
        (("--scorer", "nope"), "unknown scorer 'nope'; choose one of:"),
        (("--selector", "nope"), "unknown selector 'nope'; choose one of:"),
        (("--width", "0"), "--width must be a positive integer"),
        (("--width", "-4"), "--width must be a positive integer"),
        (("--width", "1000"), "larger than the model's widest prunable layer (64)"),
        (("--keep", "0"), "--keep must be in (0, 1]"),
        (("--keep", "1.5"), "--keep must be in (0, 1]"),
        (("--width", "64", "--keep", "0.5"), "exactly one of --width or --keep"),
        (("--retrain", "sometimes"), "--retrain must be finetune or scratch"),
        (("--preset", "huge"), "unknown preset 'huge'"),
        (("--device", "tpu"), "--device must be auto, cpu or cuda"),
    ],
)
def test_bad_flags(tmp_path, args, message):
    proc = prunekit("run", "fake", *SMOKE, "--out", tmp_path / "o", *args)
    assert_one_line_error(proc, message)
    assert not (tmp_path / "o" / "report.json").exists()


def test_unknown_target(tmp_path):
    assert_one_line_error(
        prunekit("run", "nope", "--out", tmp_path / "o"), "unknown target 'nope'; choose one of:", "fake"
    )


def test_out_is_a_file_or_unwritable_or_finished(tmp_path):
    f = tmp_path / "file"
    f.write_text("keep me")
    assert_one_line_error(prunekit("run", "digits", "--iters", "2", "--out", f), "is an existing file")
    assert f.read_text() == "keep me"
    assert_one_line_error(prunekit("run", "digits", "--iters", "2", "--out", f / "sub"), "is not writable")
    out = tmp_path / "done"
    assert prunekit("run", "digits", "--iters", "2", "--out", out).returncode == 0
    before = (out / "report.json").read_bytes()
    assert_one_line_error(prunekit("run", "digits", "--iters", "2", "--out", out), "holds a finished run", "--force")
    assert (out / "report.json").read_bytes() == before
    assert prunekit("run", "digits", "--iters", "2", "--out", out, "--force").returncode == 0


def test_prune_and_inspect_commands(tmp_path):
    from mlps import TwoHeadField

    path = pk.save(TwoHeadField(width=32), tmp_path / "field.safetensors")
    out = tmp_path / "pruned.safetensors"
    proc = prunekit(
        "prune",
        path,
        "--input-dims",
        "3,3",
        "--width",
        "8",
        "--selector",
        "topk",
        "--trust",  # the class lives in the tests' own module, which no plug-in registers
        "--out",
        out,
        env={"PYTHONPATH": os.path.dirname(__file__)},
    )
    assert proc.returncode == 0, proc.stderr
    shown = prunekit("inspect", out, env={"PYTHONPATH": os.path.dirname(__file__)})
    assert json.loads(shown.stdout)["widths"]["feat"] == 8
    assert_one_line_error(
        prunekit("prune", path, "--input-dims", "3,3", "--out", out, env={"PYTHONPATH": os.path.dirname(__file__)}),
        "already exists",
    )
    assert_one_line_error(prunekit("prune", path, "--input-dims", "x", "--out", tmp_path / "z"), "--input-dims")
    env = {"PYTHONPATH": os.path.dirname(__file__)}
    for dims in ("3,3,3", "3", "64,3"):  # one input too many, one too few, a wrong feature size: exit 2, no traceback
        proc = prunekit("prune", path, "--input-dims", dims, "--trust", "--out", tmp_path / "z", env=env)
        assert_one_line_error(proc, "does not accept inputs of sizes")
    assert_one_line_error(prunekit("inspect", tmp_path / "missing.safetensors"), "not found")
    data = out.read_bytes()
    out.write_bytes(data[:100])
    assert_one_line_error(
        prunekit("inspect", out, env={"PYTHONPATH": os.path.dirname(__file__)}), "truncated or corrupt"
    )


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    model = torch.nn.Linear(2, 1)
    state = tmp_path / "state.safetensors"

    def loss_at(step):
        loss = model(torch.ones(1, 2)).sum() ** 2
        return loss * float("nan") if step == 7 else loss

    with pytest.raises(TrainingDiverged, match="loss became nan at step 7; the last good checkpoint"):
        train({"m": model}, loss_at, 20, lambda s: 1e-2, state, checkpoint_every=3)
    from safetensors import safe_open

    with safe_open(str(state), "pt") as f:
        assert f.metadata()["step"] == "6"


def _metrics(r):
    """What a run computed, its wall times left out: sizes, widths and every metric of its headline's kind."""
    keep = ("params", "widths", r["headline"], "test_loss", "ssim")
    return {s: {k: v for k, v in r[s].items() if k in keep} for s in ("dense", "pruned")}


@pytest.mark.parametrize(
    "args, stage",
    [
        # killed while training the dense model
        (("run", "digits", "--iters", "300", "--selector", "coreset", "--width", "48", "--seed", "3"), "dense"),
        # killed while fine-tuning, the dense model already saved
        (("run", "nerf", "--preset", "smoke", "--iters", "80", "--width", "64", "--selector", "coreset"), "pruned"),
    ],
    ids=["digits-dense", "nerf-finetune"],
)
def test_kill_9_then_resume_matches_an_uninterrupted_run(tmp_path, args, stage):
    if args[1] == "nerf":
        pytest.importorskip("prunekit_nerf", reason="the NeRF plug-in is not installed")
    whole = tmp_path / "whole"
    assert prunekit(*args, "--out", whole).returncode == 0
    out = tmp_path / "killed"
    kill_9_when(out / stage / "train_state.safetensors", *args, "--out", out)
    assert not (out / "report.json").exists()
    resumed = prunekit(*args, "--out", out, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert _metrics(report(out)) == _metrics(report(whole))
    assert report(out)["training"][stage]["resumed_from"] > 0


def test_ctrl_c_saves_a_checkpoint_and_exits_cleanly(tmp_path):
    out = tmp_path / "int"
    exe = os.path.join(os.path.dirname(sys.executable), "prunekit")
    proc = subprocess.Popen(
        [exe, "run", "digits", "--iters", "100000", "--out", str(out)],
        env=dict(os.environ, PRUNEKIT_PROGRESS="0"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # as a script's background job starts it, SIGINT ignored: prunekit must install its own handler
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    state = out / "dense" / "train_state.safetensors"
    wait_for_file(state, proc)  # the first checkpoint: training is under way
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert err.strip().startswith("error: interrupted") and "--resume" in err and "Traceback" not in err
    assert state.exists()


def test_same_seed_same_metrics(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for out in (a, b):
        assert prunekit("run", "digits", "--iters", "40", "--out", out).returncode == 0
    assert _metrics(report(a)) == _metrics(report(b))


# --- abuse: what the issue "Nothing lost, nothing mislabelled" tried, each with its expected answer ---------

DIGITS = ("run", "digits", "--preset", "smoke", "--iters", "60", "--retrain-iters", "30", "--width", "32")


def _files(folder):
    return {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    """One finished digits run (seed 3), written under umask 022, that several tests copy and abuse."""
    out = tmp_path_factory.mktemp("digits") / "run"
    exe = os.path.join(os.path.dirname(sys.executable), "prunekit")
    subprocess.run([exe, *DIGITS, "--seed", "3", "--out", str(out)], preexec_fn=lambda: os.umask(0o022), check=True,
                   capture_output=True, env=dict(os.environ, PRUNEKIT_PROGRESS="0"))  # fmt: skip
    return out


def _copy(run, tmp_path):
    import shutil

    return Path(shutil.copytree(run, tmp_path / "copy"))


def test_resume_only_the_run_that_is_in_the_folder(digits_run, tmp_path):
    out = _copy(digits_run, tmp_path)
    finished = (out / "report.json").read_bytes()
    assert_one_line_error(prunekit(*DIGITS, "--seed", "3", "--out", out, "--resume"), "holds a finished run")
    assert (out / "report.json").read_bytes() == finished  # not rewritten without --force
    (out / "report.json").unlink()  # what a kill -9 before the report leaves
    assert_one_line_error(prunekit(*DIGITS, "--seed", "3", "--out", out), "holds an interrupted run", "--resume")
    base = [a for a in DIGITS if a not in ("--iters", "60")]
    for changed, shown in (
        (("--iters", "60", "--seed", "4"), "seed 3 there, 4 now"),
        (
            ("--iters", "60", "--seed", "3", "--scorer", "w_in", "--selector", "topk"),
            "scorer 'w_out' there, 'w_in' now",
        ),
        (("--iters", "50", "--seed", "3"), "iters 60 there, 50 now"),
    ):
        assert_one_line_error(prunekit(*base, *changed, "--out", out, "--resume"), "other settings", shown)
    assert prunekit(*DIGITS, "--seed", "3", "--out", out, "--resume").returncode == 0


def test_a_folder_prunekit_did_not_write_is_never_written_into(tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    (mine / "report.md").write_text("my own report")
    before = _files(mine)
    assert_one_line_error(prunekit(*DIGITS, "--out", mine), "non-empty folder that prunekit did not write")
    assert _files(mine) == before
    # --out "" (which Typer reads as the working directory) is refused before any folder is looked at
    assert_one_line_error(prunekit(*DIGITS, "--out", "", cwd=mine), "--out is empty")
    assert _files(mine) == before
    sweep = prunekit("sweep", "digits", "--widths", "8", "--seeds", "0", "--out", mine)
    assert_one_line_error(sweep, "is a non-empty folder that is not a sweep's")
    assert _files(mine) == before


def test_budgets_that_prune_nothing_or_cannot_apply_are_refused_before_training(tmp_path):
    out = tmp_path / "r"
    assert_one_line_error(
        prunekit("run", "fake", *SMOKE, "--width", "32", "--round-to", "1000", "--out", out),
        "--round-to 1000 is larger than --width 32",
    )
    assert_one_line_error(prunekit("run", "fake", *SMOKE, "--width", "1000", "--out", out), "larger than")
    assert not (out / "dense").exists()  # refused before any training
    for seeds, message in (("1,1", "--seeds names 1 more than once"), ("99999999999", "--seed must be in [0, 2**32)")):
        assert_one_line_error(prunekit("sweep", "digits", "--widths", "8", "--seeds", seeds, "--out", out), message)
    assert_one_line_error(prunekit(*DIGITS, "--seed", str(10**23), "--out", out), "--seed must be in [0, 2**32)")


def test_global_allocation_says_when_it_keeps_far_more_than_asked(capfd):
    # the digits MLP's shape: at 0.1 % a uniform cut keeps one neuron per layer, a global one 1/16 of each
    model = torch.nn.Sequential(
        torch.nn.Linear(64, 256), torch.nn.ReLU(), torch.nn.Linear(256, 256), torch.nn.ReLU(), torch.nn.Linear(256, 10)
    )
    pk.prune(model, (torch.randn(32, 64),), scorer="w_out", selector="topk", keep=0.001, allocation="global")
    err = capfd.readouterr().err.replace("\n", " ")
    assert "warning: --allocation global keeps" in err and "every layer keeps at least 1/16" in err


def _mlp():
    from mlps import ResidualMLP

    return ResidualMLP(d_in=6, width=16, hidden=32), (torch.randn(16, 6),)


class _Bad(ScorerBase):
    """A scorer or selector plug-in that misbehaves in one chosen way."""

    name = "broken"
    needs_calibration = False

    def __init__(self, how):
        self.how = how

    def score(self, layer, calibration=None):
        if self.how == "raise":
            raise RuntimeError("lookup table missing")
        if self.how == "none":
            return None
        return -torch.rand(layer.width)  # negative

    def select(self, scores, k, layer, generator):
        idx = torch.arange(k)
        if self.how == "nan":
            return idx, torch.full((k,), float("nan"))
        if self.how == "range":
            return idx + layer.width, None
        if self.how == "negative":
            return idx - 1, None
        return idx.float(), None


@pytest.mark.parametrize(
    "scorer, selector, message",
    [
        (_Bad("raise"), "topk", "scorer 'broken' failed on layer "),
        (_Bad("none"), "topk", "scorer 'broken' failed on layer "),
        (_Bad("negative"), "coreset", "selector 'coreset' failed on layer .*needs non-negative scores"),
        ("w_out", _Bad("nan"), "selector 'broken' on layer .* each must be finite and positive"),
        ("w_out", _Bad("range"), "selector 'broken' on layer .* indices outside"),
        ("w_out", _Bad("negative"), "selector 'broken' on layer .* indices outside"),
        ("w_out", _Bad("float"), "selector 'broken' on layer .*expected a 1-D integer tensor"),
    ],
)
def test_a_misbehaving_plug_in_is_named(scorer, selector, message):
    from prunekit.errors import PluginError

    model, inputs = _mlp()
    with pytest.raises(PluginError, match=message):
        pk.prune(model, inputs, scorer=scorer, selector=selector, width=4)


def test_verification_rejects_a_model_that_computes_nan():
    from prunekit.errors import VerificationError

    model, inputs = _mlp()
    plan = pk.plan(model, inputs, scorer="w_out", selector="coreset", width=4)
    name = next(iter(plan.layers))
    plan.layers[name].scales = [float("nan")] * len(plan.layers[name].kept)
    with pytest.raises(VerificationError, match="NaN or Inf"):
        pk.apply(model, plan, inputs)


def test_commands_on_the_wrong_kind_of_path(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    assert_one_line_error(prunekit("eval", f), "is not a run folder")
    assert_one_line_error(prunekit("prune", f, "--input-dims", "1000000000", "--out", tmp_path / "p"), "at most 65,536")
    cells = tmp_path / "sweep" / "cells"
    cells.mkdir(parents=True)
    cell = {"id": "x", "scorer": "w_out", "selector": "topk", "retrain": "finetune", "headline": "psnr", "seed": 0,
            "width": 8, "dense": {"psnr": 20.0}, "pruned": {"psnr": "twenty"}}  # fmt: skip
    (cells / "x.json").write_text(json.dumps(cell))
    assert_one_line_error(
        prunekit("results", tmp_path / "sweep"), "x.json is not a usable sweep cell: psnr is not a finite number"
    )


def test_a_full_disk_is_one_line_and_leaves_no_half_written_file(tmp_path):
    import resource

    def small_files():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG, as on a full disk
        resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))

    exe = os.path.join(os.path.dirname(sys.executable), "prunekit")
    out = tmp_path / "full"
    proc = subprocess.run(
        [exe, *DIGITS, "--out", str(out)], capture_output=True, text=True, preexec_fn=small_files,
        env=dict(os.environ, PRUNEKIT_PROGRESS="0"),
    )  # fmt: skip
    assert_one_line_error(proc, "cannot write ", "File too large")
    assert not list(out.rglob("*.tmp"))


def test_sigterm_is_handled_as_ctrl_c(tmp_path):
    out = tmp_path / "term"
    exe = os.path.join(os.path.dirname(sys.executable), "prunekit")
    proc = subprocess.Popen(
        [exe, "run", "digits", "--iters", "100000", "--out", str(out)],
        env=dict(os.environ, PRUNEKIT_PROGRESS="0"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    state = out / "dense" / "train_state.safetensors"
    wait_for_file(state, proc)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert err.strip().startswith("error: terminated") and "--resume" in err and "Traceback" not in err


def test_a_second_sweep_into_the_same_folder_stops_at_once(tmp_path):
    out = tmp_path / "s"
    args = ("sweep", "digits", "--widths", "8", "--seeds", "0", "--iters", "100000", "--out", str(out))
    exe = os.path.join(os.path.dirname(sys.executable), "prunekit")
    first = subprocess.Popen([exe, *args], env=dict(os.environ, PRUNEKIT_PROGRESS="0"), stderr=subprocess.DEVNULL)
    try:
        wait_for_file(out / "dense-seed0" / "train_state.safetensors", first)  # it holds the lock
        assert_one_line_error(prunekit(*args), "another prunekit process is writing to --out")
    finally:
        first.kill()
        first.wait()


def test_files_follow_the_umask(digits_run):
    out = digits_run
    for name in ("report.json", "report.md", "run.json", "dense/mlp.safetensors"):
        assert (out / name).stat().st_mode & 0o777 == 0o644, name


def test_an_unexpected_failure_is_one_line_naming_where(tmp_path):
    code = (
        "import sys, prunekit.commands as c\n"
        "def boom(cfg):\n    raise ValueError('a bug nobody foresaw')\n"
        "c.run_pipeline = boom\n"
        "from prunekit.cli import entry; sys.argv = ['prunekit'] + sys.argv[1:]; entry()"
    )
    proc = subprocess.run([sys.executable, "-c", code, *map(str, DIGITS), "--out", str(tmp_path / "u")],
                          capture_output=True, text=True)  # fmt: skip
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.strip() == (
        "error: unexpected ValueError in prunekit.commands.run: a bug nobody foresaw "
        "(rerun with --debug for the traceback)"
    )


def test_a_description_must_describe_what_the_target_builds(digits_run, tmp_path):
    out = _copy(digits_run, tmp_path)
    desc = out / "dense" / "mlp.json"
    original = desc.read_text()
    for change, message in (
        (lambda c: c.update(fourier=1e9), "the number 1000000000.0 exceeds 16,777,216"),
        (lambda c: c.update(hidden=[256] * 300_000), "a list of 300,000 entries (at most 4,096)"),
        (lambda c: c.update(fourier=1), "describes another architecture than this target builds"),
    ):
        meta = json.loads(original)
        change(meta["config"])
        desc.write_text(json.dumps(meta))
        assert_one_line_error(prunekit("eval", out), message)
    meta = json.loads(original)
    meta["config"]["fourier"] = 2**20  # within the bounds, but far more input columns than the file holds
    desc.write_text(json.dumps(meta))
    shown = prunekit("inspect", out / "dense" / "mlp.safetensors")
    assert shown.returncode == 0, shown.stderr
    (problem,) = json.loads(shown.stdout)["check"]
    assert "where the config builds" in problem and "no plan explains it" in problem
    desc.write_text('{"format": "prunekit.model/1", "config": ' + "[" * 100_000 + "]" * 100_000 + "}")
    assert_one_line_error(prunekit("inspect", out / "dense" / "mlp.safetensors"), "nested too deeply")
