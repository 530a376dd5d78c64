"""Progress on stderr: a rich bar on a terminal, plain lines at regular intervals elsewhere (CI logs,
nohup, notebooks). ``PRUNEKIT_PROGRESS=0`` silences it, ``=1`` forces the bar, ``=plain`` the lines."""

from __future__ import annotations

import os
import sys
import time
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

console = Console(stderr=True)  # logs and progress
out_console = Console()  # results

PLAIN_EVERY_SECONDS = 30.0  # a plain line at least this often, and at every tenth of the work
PLAIN_MIN_STEPS = 100  # shorter stages (a timing run) print their last line only


def _mode() -> str:
    from prunekit.runtime import is_main

    if not is_main():  # under torchrun, one process reports
        return "off"
    setting = os.environ.get("PRUNEKIT_PROGRESS")
    if setting is None:
        return "bar" if sys.stderr.isatty() else "plain"
    if setting in ("0", ""):
        return "off"
    return "plain" if setting == "plain" else "bar"


def _fields(fields: dict) -> str:
    return " ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in fields.items())


@contextmanager
def progress_bar(label: str, total: int, completed: int = 0):
    """Yields ``advance(**fields)``: one step done; fields (e.g. loss) are shown beside the bar."""
    mode = _mode()
    if mode == "off":
        yield lambda **fields: None
        return
    if mode == "plain":
        yield _plain(label, total, completed)
        return
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task(label, total=total, completed=completed, info="")
        yield lambda **fields: progress.update(task, advance=1, info=_fields(fields))


def _plain(label: str, total: int, completed: int):
    start, state = time.monotonic(), {"done": completed, "last": time.monotonic(), "tenth": completed * 10 // total}

    def advance(**fields) -> None:
        state["done"] += 1
        now, tenth = time.monotonic(), state["done"] * 10 // max(total, 1)
        if total < PLAIN_MIN_STEPS and state["done"] < total:
            return
        if tenth == state["tenth"] and now - state["last"] < PLAIN_EVERY_SECONDS:
            return
        state["tenth"], state["last"] = tenth, now
        elapsed = now - start
        rate = (state["done"] - completed) / elapsed if elapsed > 0 else 0.0
        left = f", {(total - state['done']) / rate:.0f} s left" if rate > 0 and state["done"] < total else ""
        print(
            f"{label}: {state['done']}/{total} ({100 * state['done'] / total:.0f} %) {_fields(fields)}, "
            f"{elapsed:.0f} s{left}",
            file=sys.stderr,
            flush=True,
        )

    return advance
