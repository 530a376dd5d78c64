"""rich progress bars on stderr, quiet when stderr is not a terminal unless PRUNEKIT_PROGRESS=1."""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

console = Console(stderr=True)


def _enabled() -> bool:
    setting = os.environ.get("PRUNEKIT_PROGRESS")
    return sys.stderr.isatty() if setting is None else setting not in ("0", "")


@contextmanager
def progress_bar(label: str, total: int, completed: int = 0):
    """Yields ``advance(**fields)``: one step done; fields (e.g. loss) are shown beside the bar."""
    if not _enabled():
        yield lambda **fields: None
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

        def advance(**fields):
            info = " ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in fields.items())
            progress.update(task, advance=1, info=info)

        yield advance
