"""The plug-in manager: built-ins first, then the ``prunekit`` entry-point group.

A plug-in that fails to import, raises while registering, or registers something unusable is recorded
with its reason and skipped; everything else keeps working. ``PRUNEKIT_LOAD_PLUGINS=0`` turns
entry-point loading off (tests, debugging); a comma-separated list loads only the entry points named.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from importlib.metadata import entry_points

import pluggy

from prunekit import hookspecs
from prunekit.errors import PluginError
from prunekit.protocols import Scorer

GROUP = "prunekit"
LOAD_ENV = "PRUNEKIT_LOAD_PLUGINS"
BUILTINS = ("prunekit.scorers", "prunekit.selectors")
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]*$")

# what each kind of plug-in object must have, beyond ``name`` and ``description``
_REQUIRED = {"scorer": ("score",), "selector": ("select",), "target": ("setup",)}
_HOOKS = {"scorer": "register_scorers", "selector": "register_selectors", "target": "register_targets"}


@dataclass(frozen=True)
class Entry:
    """One registered scorer, selector or target."""

    name: str
    kind: str
    description: str
    source: str
    obj: object = field(compare=False, repr=False)


@dataclass(frozen=True)
class Failure:
    """A plug-in (or one of its registrations) that was skipped, and why."""

    source: str
    reason: str


class Registry:
    """Everything the loaded plug-ins registered, by kind and name."""

    def __init__(self, load_entry_points: bool | None = None, extra: tuple = ()) -> None:
        self.pm = pluggy.PluginManager(GROUP)
        self.pm.add_hookspecs(hookspecs)
        self.failures: list[Failure] = []
        self._source: dict[object, str] = {}
        for module_name in BUILTINS:
            module = __import__(module_name, fromlist=["_"])
            self._add(module, module_name, "prunekit")
        for plugin in extra:
            self._add(plugin, getattr(plugin, "__name__", repr(plugin)), "(registered in code)")
        setting = os.environ.get(LOAD_ENV, "1").strip().lower()
        if load_entry_points is None:
            load_entry_points = setting not in ("0", "", "false", "no")
        if load_entry_points:
            names = None if setting in ("1", "true", "yes", "all", "0", "", "false", "no") else setting
            self._load_entry_points(names)
        self.entries: dict[str, dict[str, Entry]] = {kind: {} for kind in _HOOKS}
        for kind in _HOOKS:
            self._collect(kind)
        self.models: dict[str, type] = {}  # "module:QualName" → an nn.Module class prunekit.load may build
        self._collect_models()

    def _add(self, plugin: object, name: str, source: str) -> None:
        try:
            self.pm.register(plugin, name=name)
        except Exception as exc:  # a plug-in is never fatal
            self.failures.append(Failure(source, f"cannot register {name}: {exc}"))
            return
        self._source[plugin] = source

    def _load_entry_points(self, only: str | None) -> None:
        wanted = None if only is None else {s.strip() for s in only.split(",")}
        for ep in entry_points(group=GROUP):
            if wanted is not None and ep.name not in wanted:
                continue
            source = ep.dist.name if ep.dist else ep.name
            try:
                plugin = ep.load()
            except Exception as exc:
                self.failures.append(Failure(source, f"import failed: {type(exc).__name__}: {exc}"))
                continue
            self._add(plugin, f"{source}:{ep.name}", source)

    def _collect(self, kind: str) -> None:
        hook = getattr(self.pm.hook, _HOOKS[kind])
        for impl in hook.get_hookimpls():  # registration order: built-ins first
            source = self._source.get(impl.plugin, impl.plugin_name)
            try:
                impl.function(register=lambda obj, _s=source: self._register(kind, obj, _s))
            except Exception as exc:
                self.failures.append(Failure(source, f"{_HOOKS[kind]} raised {type(exc).__name__}: {exc}"))

    def _collect_models(self) -> None:
        from torch import nn

        def register(cls, source: str) -> None:
            if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
                self.failures.append(Failure(source, f"register_models: {cls!r} is not an nn.Module class"))
                return
            self.models[f"{cls.__module__}:{cls.__qualname__}"] = cls

        for impl in self.pm.hook.register_models.get_hookimpls():
            source = self._source.get(impl.plugin, impl.plugin_name)
            try:
                impl.function(register=lambda cls, _s=source: register(cls, _s))
            except Exception as exc:
                self.failures.append(Failure(source, f"register_models raised {type(exc).__name__}: {exc}"))

    def add_commands(self, cli) -> None:
        """Let every plug-in add its commands to the Typer app ``cli``; one that fails is listed, not fatal."""
        for impl in self.pm.hook.register_commands.get_hookimpls():
            source = self._source.get(impl.plugin, impl.plugin_name)
            try:
                impl.function(cli=cli)
            except Exception as exc:
                self.failures.append(Failure(source, f"register_commands raised {type(exc).__name__}: {exc}"))

    def _register(self, kind: str, obj: object, source: str) -> None:
        name = getattr(obj, "name", None)
        problem = None
        if not isinstance(name, str) or not _NAME.match(name):
            problem = f"a {kind} without a valid name ({name!r})"
        elif not isinstance(getattr(obj, "description", None), str):
            problem = f"{kind} {name!r} has no description"
        elif missing := [a for a in _REQUIRED[kind] if not callable(getattr(obj, a, None))]:
            problem = f"{kind} {name!r} has no {', '.join(missing)}()"
        elif kind == "scorer" and not isinstance(obj, Scorer):
            problem = f"scorer {name!r} lacks a capability of prunekit.plugin.Scorer (subclass ScorerBase)"
        elif name in self.entries[kind]:
            problem = f"{kind} {name!r} is already registered by {self.entries[kind][name].source}"
        if problem:
            self.failures.append(Failure(source, problem))
            return
        self.entries[kind][name] = Entry(name, kind, obj.description, source, obj)

    def get(self, kind: str, name: str):
        """The object registered as ``name``; a one-line error naming the valid choices otherwise."""
        try:
            return self.entries[kind][name].obj
        except KeyError:
            choices = ", ".join(sorted(self.entries[kind])) or "none"
            raise PluginError(f"unknown {kind} {name!r}; choose one of: {choices}") from None

    def listing(self) -> list[Entry]:
        return [e for kind in _HOOKS for e in self.entries[kind].values()]


_registry: Registry | None = None


def registry() -> Registry:
    """The process-wide registry, loaded on first use."""
    global _registry
    if _registry is None:
        _registry = Registry()
    return _registry


def get_scorer(name: str):
    return registry().get("scorer", name)


def get_selector(name: str):
    return registry().get("selector", name)


def get_target(name: str):
    return registry().get("target", name)
