"""The ``prunekit`` command line. Errors a user can cause print one line and exit with code 2."""

from __future__ import annotations

import signal
import sys
import traceback

import typer

from prunekit import commands, plugins
from prunekit.errors import BadInput, PrunekitError, StopSignal
from prunekit.runtime import init_distributed, keep_large_allocations, leave_distributed

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    help="Neuron pruning for PyTorch MLPs.",
)
state = {"debug": False}


def _version(shown: bool) -> None:
    if shown:
        from prunekit import __version__

        typer.echo(f"prunekit {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks for errors."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    state["debug"] = debug


app.command()(commands.run)
app.command()(commands.sweep)
app.command()(commands.results)
app.command()(commands.trend)
app.command()(commands.compare)
app.command("eval")(commands.evaluate)
app.command()(commands.export)
app.command("prune")(commands.prune_checkpoint)
app.command()(commands.inspect)
app.command("plugins")(commands.list_plugins)
plugins.registry().add_commands(app)  # after the core's: a plug-in cannot replace a core command by accident


def entry() -> None:
    """Console-script entry point: one line on stderr and a non-zero exit for any PrunekitError."""
    keep_large_allocations()
    # Ctrl-C raises KeyboardInterrupt even when the launcher ignored SIGINT (a script's background job
    # inherits it ignored); SIGTERM, what schedulers and `docker stop` send, is handled as Ctrl-C is
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _stop)
    try:
        refuse_empty(sys.argv[1:])
        init_distributed()  # under torchrun: join the process group (gloo on CPU, nccl on CUDA)
        app()  # click reports its own usage errors (exit 2)
    except PrunekitError as exc:
        if state["debug"]:
            raise
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(getattr(exc, "exit_code", 2))
    except Exception as exc:  # a failure nothing foresaw: still one line, naming where it happened
        if state["debug"]:
            raise
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        print(
            f"error: unexpected {type(exc).__name__} in {where(exc)}{': ' + text if text else ''} "
            "(rerun with --debug for the traceback)",
            file=sys.stderr,
        )
        sys.exit(1)
    finally:
        leave_distributed()


def refuse_empty(args: list[str]) -> None:
    """No prunekit argument means anything when empty, and some would mean harm: Typer turns ``--out ""``
    into the current folder. Refuse every empty value, naming its option."""
    for i, arg in enumerate(args):
        flag, eq, value = arg.partition("=")
        if arg.startswith("-") and eq and not value:
            raise BadInput(f"{flag} is empty; give a value")
        if arg == "":
            before = args[i - 1] if i and args[i - 1].startswith("-") else None
            raise BadInput(f"{before} is empty; give a value" if before else "an empty argument was given")


def _stop(signum, frame) -> None:
    raise StopSignal(signum)


def where(exc: BaseException) -> str:
    """The innermost function of prunekit or a plug-in (``prunekit*`` packages) the exception passed
    through, else the innermost of all, as module.function."""
    frames = [(f.f_globals.get("__name__", "?"), f.f_code.co_name) for f, _ in traceback.walk_tb(exc.__traceback__)]
    ours = [fr for fr in frames if fr[0].split(".")[0].startswith("prunekit")]
    module, function = (ours or frames or [("?", "?")])[-1]
    return f"{module}.{function}"
