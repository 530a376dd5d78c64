"""The ``prunekit`` command line. Errors a user can cause print one line and exit with code 2."""

from __future__ import annotations

import json
import sys

import typer
from rich.console import Console
from rich.table import Table

from prunekit import plugins
from prunekit.errors import PrunekitError
from prunekit.runtime import keep_large_allocations

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    help="Neuron pruning for PyTorch MLPs.",
)
state = {"debug": False}
out_console = Console()


@app.callback()
def main(debug: bool = typer.Option(False, "--debug", help="Show tracebacks for errors.")) -> None:
    state["debug"] = debug


@app.command("plugins")
def list_plugins(as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table.")) -> None:
    """List scorers, selectors and targets, and plug-ins that failed to load."""
    reg = plugins.registry()
    entries = [
        {"name": e.name, "kind": e.kind, "description": e.description, "source": e.source} for e in reg.listing()
    ]
    failures = [{"source": f.source, "reason": f.reason} for f in reg.failures]
    if as_json:
        typer.echo(json.dumps({"plugins": entries, "failed": failures}, indent=2))
        return
    table = Table("name", "kind", "description", "source")
    for e in entries:
        table.add_row(e["name"], e["kind"], e["description"], e["source"])
    out_console.print(table)
    if failures:
        failed = Table("failed plug-in", "reason", title="not loaded")
        for f in failures:
            failed.add_row(f["source"], f["reason"])
        out_console.print(failed)


def _register_commands() -> None:
    from prunekit import commands  # noqa: F401  (run, sweep, prune, inspect register themselves on ``app``)


def entry() -> None:
    """Console-script entry point: one line on stderr and a non-zero exit for any PrunekitError."""
    _register_commands()
    keep_large_allocations()
    try:
        app()  # click reports its own usage errors (exit 2)
    except PrunekitError as exc:
        if state["debug"]:
            raise
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(getattr(exc, "exit_code", 2))
