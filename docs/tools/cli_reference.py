"""Write docs/reference/cli.md from the Typer app itself: every command (the plug-ins' included), its help
and every option with its default. ``--check`` exits 1 when the committed page differs (CI runs it
through tests/test_docs.py), so the reference cannot fall behind the code."""

from __future__ import annotations

import sys
from pathlib import Path

import typer.main

from prunekit.cli import app

PAGE = Path(__file__).resolve().parents[1] / "reference" / "cli.md"


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _default(param) -> str:
    if param.required:
        return "required"
    value = param.default
    if value is None or value == [] or value == ():
        return ""
    if isinstance(value, bool):
        return "on" if value else "off"
    return f"`{value}`"


def _names(param) -> str:
    if param.param_type_name == "argument":
        return f"`{param.name.upper()}`"
    return ", ".join(f"`{opt}`" for opt in [*param.opts, *param.secondary_opts])


def reference() -> str:
    group = typer.main.get_command(app)
    lines = [
        "# Command-line reference",
        "",
        "Generated from the command line itself (`python docs/tools/cli_reference.py`); a test fails when it",
        "is out of date. The commands of installed plug-ins (`render`, `view` of the NeRF plug-in) are",
        "included. Every command also takes `--help`; `prunekit --debug COMMAND` shows tracebacks.",
        "",
    ]
    for name in sorted(group.commands):
        command = group.commands[name]
        lines += [f"## `prunekit {name}`", "", _cell(command.help or ""), ""]
        params = [p for p in command.params if p.name != "help"]
        if params:
            lines += ["| argument / option | default | what |", "|---|---|---|"]
            lines += [f"| {_names(p)} | {_default(p)} | {_cell(p.help or '')} |" for p in params]
            lines.append("")
    return "\n".join(lines)


def main() -> int:
    text = reference()
    if "--check" in sys.argv[1:]:
        if not PAGE.exists() or PAGE.read_text(encoding="utf-8") != text:
            print(f"{PAGE} is out of date: run python docs/tools/cli_reference.py", file=sys.stderr)
            return 1
        return 0
    PAGE.write_text(text, encoding="utf-8")
    print(f"wrote {PAGE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
