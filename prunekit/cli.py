"""The ``prunekit`` command line. Errors a user can cause print one line and exit with code 2."""

from __future__ import annotations

import sys

import typer

from prunekit import commands
from prunekit.errors import PrunekitError
from prunekit.runtime import init_distributed, keep_large_allocations, leave_distributed

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    help="Neuron pruning for PyTorch MLPs.",
)
state = {"debug": False}


@app.callback()
def main(debug: bool = typer.Option(False, "--debug", help="Show tracebacks for errors.")) -> None:
    state["debug"] = debug


app.command()(commands.run)
app.command()(commands.sweep)
app.command()(commands.results)
app.command()(commands.trend)
app.command()(commands.compare)
app.command("eval")(commands.evaluate)
app.command()(commands.render)
app.command("prune")(commands.prune_checkpoint)
app.command()(commands.inspect)
app.command("plugins")(commands.list_plugins)


def entry() -> None:
    """Console-script entry point: one line on stderr and a non-zero exit for any PrunekitError."""
    keep_large_allocations()
    try:
        init_distributed()  # under torchrun: join the process group (gloo on CPU, nccl on CUDA)
        app()  # click reports its own usage errors (exit 2)
    except PrunekitError as exc:
        if state["debug"]:
            raise
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(getattr(exc, "exit_code", 2))
    finally:
        leave_distributed()
