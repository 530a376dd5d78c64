"""Command-line flags generated from the typed settings: an option is declared once, as a dataclass field
with its help (:func:`flag`), and every command that takes it gets the same flag (:class:`Flags`).

A command lists the groups it takes with :func:`with_flags` and receives their values as keyword
arguments, which :meth:`Flags.take` turns back into the dataclass's fields.
"""

from __future__ import annotations

import dataclasses
import inspect
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import typer


def flag(help: str, *decls: str, cli_type: object = None, cli_default: object = None, parse: Callable | None = None):
    """Field metadata that makes a dataclass field a command-line flag. ``decls`` override the flag's
    name (``"--refit"`` for a bare switch); ``cli_type``/``cli_default``/``parse`` give a field the command
    line spells otherwise (``-O KEY=VALUE`` strings read into a dict)."""
    return {"flag": {"help": help, "decls": decls, "cli_type": cli_type, "cli_default": cli_default, "parse": parse}}


@dataclass(frozen=True)
class Flags:
    """The flags of one settings dataclass: every field declared with :func:`flag`, or ``only`` some,
    less ``skip``; ``defaults`` and ``helps`` change a field's default or help for one command."""

    cls: type
    skip: tuple[str, ...] = ()
    only: tuple[str, ...] | None = None
    defaults: Mapping[str, object] = field(default_factory=dict)
    helps: Mapping[str, str] = field(default_factory=dict)

    def fields(self) -> list[dataclasses.Field]:
        return [
            f
            for f in dataclasses.fields(self.cls)
            if "flag" in f.metadata and f.name not in self.skip and (self.only is None or f.name in self.only)
        ]

    def parameters(self) -> list[inspect.Parameter]:
        hints = typing.get_type_hints(self.cls)
        params = []
        for f in self.fields():
            meta = f.metadata["flag"]
            if f.name in self.defaults:
                default = self.defaults[f.name]
            elif meta["cli_default"] is not None:
                default = meta["cli_default"]
            else:
                default = f.default
            option = typer.Option(default, *meta["decls"], help=self.helps.get(f.name, meta["help"]))
            annotation = meta["cli_type"] or hints[f.name]
            params.append(
                inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=annotation)
            )
        return params

    def take(self, given: dict) -> dict:
        """This group's values, removed from ``given`` (a command's keyword arguments) and read as fields."""
        values = {}
        for f in self.fields():
            value = given.pop(f.name)
            parse = f.metadata["flag"]["parse"]
            values[f.name] = value if parse is None else parse(value)
        return values


def with_flags(*groups: Flags):
    """Give a command function ``def cmd(own args…, **given)`` the flags of ``groups`` after its own
    parameters, as Typer reads them from its signature."""

    def decorate(fn):
        sig = inspect.signature(fn)
        own = [p for p in sig.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
        names = {p.name for p in own}
        generated = [p for g in groups for p in g.parameters()]
        clash = sorted(names & {p.name for p in generated})
        if clash:
            raise TypeError(f"{fn.__name__}: {', '.join(clash)} declared twice")
        fn.__signature__ = sig.replace(parameters=[*own, *generated])
        return fn

    return decorate
