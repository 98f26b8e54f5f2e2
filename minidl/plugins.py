"""Loading plugins, and the typed facade through which the core calls hooks.

Order of loading: the built-in defaults (:data:`DEFAULT_PLUGINS`), then each installed
distribution's entry points in the group ``minidl`` (limited by
``MINIDL_LOAD_PLUGINS``), then plugins named explicitly (``MINIDL_PLUGINS``, ``-p``):
a module name or a path to a ``.py`` file. An installed plugin that fails is recorded
in :attr:`Plugins.failures` and the rest still load; a plugin named explicitly that
fails raises :class:`~minidl.errors.PluginError`.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, cast

import pluggy

from minidl import hookspecs
from minidl.entry_points import entry_points
from minidl.errors import SHOWN_CHARS, PluginError, shown
from minidl.registry import REGISTER_HOOKS, Registry

if TYPE_CHECKING:
    import click

ENTRY_POINT_GROUP = "minidl"

#: The notebook's components, registered exactly as a third-party plugin's are.
DEFAULT_PLUGINS: tuple[str, ...] = (
    "minidl.default_plugins.notebook",
    "minidl.default_plugins.metrics",
    "minidl.default_plugins.callbacks",
    "minidl.default_plugins.tensorboard",
    "minidl.default_plugins.live_plot",
)


class PluginLoadWarning(UserWarning):
    """An installed plugin failed to load; the others still work."""


@dataclass(frozen=True)
class PluginInfo:
    """A loaded plugin: its name, the distribution and version it came from, its hooks."""

    name: str
    distribution: str | None
    version: str | None
    hooks: tuple[str, ...]
    #: Functions named (nearly) like a hook that minidl never calls (see :func:`hook_problems`).
    problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class PluginFailure:
    """An installed plugin that could not be loaded or could not register."""

    name: str
    distribution: str | None
    error: BaseException

    def __str__(self) -> str:
        source = f" (from {self.distribution})" if self.distribution else ""
        error = _cut(f"{type(self.error).__name__}: {self.error}".splitlines()[0])
        return f"plugin {shown(self.name)}{source} failed to load: {error}"


class Plugins:
    """The loaded plugins and the registry they filled; the core's only door to pluggy."""

    def __init__(self, on_failure: Callable[[PluginFailure], None] | None = None) -> None:
        self.manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self.manager.add_hookspecs(hookspecs)
        self.failures: list[PluginFailure] = []
        #: Told of each failure as it happens; by default a :class:`PluginLoadWarning`.
        self.on_failure = on_failure or _warn
        self._distributions: dict[str, tuple[str | None, str]] = {}
        self._explicit: set[str] = set()  # plugins named with -p / MINIDL_PLUGINS / extra
        self._registry: Registry | None = None

    # -- loading ---------------------------------------------------------------------
    def register(self, plugin: object, name: str | None = None) -> str:
        """Register a plugin object or module; misspelled hooks raise ``PluginError``.

        ``name`` defaults to the module's name, or for an object its class name.
        """
        name = name or getattr(plugin, "__name__", None) or self._unused_name(type(plugin).__name__)
        try:
            self.manager.register(plugin, name=name)
            self.manager.check_pending()
        except (pluggy.PluginValidationError, ValueError) as exc:
            if self.manager.is_registered(plugin):
                self.manager.unregister(plugin)
            raise PluginError(f"plugin {name!r} is invalid: {validation_message(exc)}") from None
        self._registry = None
        return name

    def _unused_name(self, base: str) -> str:
        name, count = base, 1
        while self.manager.has_plugin(name):
            count += 1
            name = f"{base}-{count}"
        return name

    def load_defaults(self) -> None:
        """Register the built-in plugins."""
        for module_name in DEFAULT_PLUGINS:
            self.register(importlib.import_module(module_name), name=module_name)

    def load_entry_points(self, allow: Iterable[str] | None = None) -> None:
        """Load installed plugins one at a time; record failures instead of raising."""
        allowed = None if allow is None else set(allow)
        found = entry_points(ENTRY_POINT_GROUP)
        for missing in sorted((allowed or set()) - {entry_point.name for entry_point in found}):
            self._fail(PluginFailure(missing, None, LookupError(
                "MINIDL_LOAD_PLUGINS names it, but no installed distribution provides it")))
        for entry_point in found:
            if allowed is not None and entry_point.name not in allowed:
                continue
            try:
                self.register(entry_point.load(), name=entry_point.name)
            except (Exception, SystemExit) as exc:  # sys.exit() at import ended minidl, silently
                self._fail(PluginFailure(entry_point.name, entry_point.distribution, exc))
                continue
            self._distributions[entry_point.name] = (entry_point.distribution, entry_point.version)

    def load_named(self, specs: Iterable[str]) -> None:
        """Load plugins named by module or ``.py`` path; a failure raises ``PluginError``."""
        for spec in dict.fromkeys(specs):  # the same plugin named twice loads once
            if spec in self._explicit:
                continue
            self._explicit.add(spec)
            try:
                module = _import_plugin(spec)
            except (Exception, SystemExit) as exc:  # sys.exit() at import ended minidl, silently
                error = f"{type(exc).__name__}: {exc}".splitlines()[0]
                raise PluginError(f"plugin {shown(spec)} failed to load: {_cut(error)}") from exc  # --debug shows it
            if not self.manager.is_registered(module):
                self.register(module, name=spec)

    def _fail(self, failure: PluginFailure) -> None:
        self.failures.append(failure)
        self.on_failure(failure)

    # -- what plugins provide ----------------------------------------------------------
    @property
    def registry(self) -> Registry:
        """The components every loaded plugin registered (built on first use)."""
        if self._registry is None:
            self._registry = self._build_registry()
        return self._registry

    def _build_registry(self) -> Registry:
        registry = Registry()
        broken: set[str] = set()
        for kind, hook_name in REGISTER_HOOKS.items():
            caller = getattr(self.manager.hook, hook_name)
            for impl in caller.get_hookimpls():  # in load order: defaults first
                if impl.plugin_name in broken:
                    continue
                try:
                    impl.function(register=registry.registrar(kind, impl.plugin_name))
                except PluginError as exc:  # a name another plugin took
                    if impl.plugin_name in self._explicit or impl.plugin_name not in self._distributions:
                        raise
                    # an installed plugin: left out with a warning, as one that fails to load; the rest work
                    own = str(getattr(exc, "holder", "")).startswith("minidl.default_plugins.")
                    advice = "minidl's own plugin keeps it (MINIDL_LOAD_PLUGINS=NAME,... chooses the installed " \
                        "plugins to load)" if own else \
                        "the first keeps it (uninstall one, or load only some with MINIDL_LOAD_PLUGINS=NAME,...)"
                    self._leave_out(registry, broken, impl.plugin_name, PluginError(f"{exc}; {advice}"))
                except (Exception, SystemExit) as exc:
                    if impl.plugin_name in self._explicit:  # asked for by name: an error, not a warning
                        error = f"{type(exc).__name__}: {exc}".splitlines()[0]
                        raise PluginError(f"plugin {impl.plugin_name!r} failed to register its {kind}s: "
                                          f"{error}") from exc
                    self._leave_out(registry, broken, impl.plugin_name, exc)
        return registry

    def _leave_out(self, registry: Registry, broken: set[str], name: str, error: BaseException) -> None:
        """An installed plugin that failed to register: none of its components stay, one warning."""
        broken.add(name)
        registry.remove_plugin(name)
        self._fail(PluginFailure(name, self.distribution(name), error))

    def distribution(self, plugin_name: str) -> str | None:
        """The distribution an installed plugin came from, if any."""
        found = self._distributions.get(plugin_name)
        return found[0] if found else None

    def info(self) -> list[PluginInfo]:
        """Every loaded plugin, in load order, with its version and hooks."""
        result = []
        for name, plugin in self.manager.list_name_plugin():
            if plugin is None:
                continue
            dist, version = self._distributions.get(name, (None, None))
            if name.startswith("minidl.default_plugins."):
                from minidl import __version__

                dist, version = "minidl", __version__
            hooks = tuple(sorted(caller.name for caller in self.manager.get_hookcallers(plugin) or ()))
            result.append(PluginInfo(name, dist, version, hooks, tuple(hook_problems(plugin))))
        return result

    # -- the typed facade over training-event hooks ----------------------------------------
    def implemented(self, hook_name: str) -> bool:
        """True when some registered plugin implements ``hook_name``."""
        return bool(getattr(self.manager.hook, hook_name).get_hookimpls())

    def add_commands(self, cli: click.Group) -> None:
        """Let plugins add subcommands to the command line."""
        for impl in self.manager.hook.register_commands.get_hookimpls():
            try:
                impl.function(cli=cli)
            except (Exception, SystemExit) as exc:
                self._fail(PluginFailure(impl.plugin_name, self.distribution(impl.plugin_name), exc))

    @property
    def hook(self) -> hookspecs.Hooks:
        """pluggy's hook relay, typed by the hookspecs, for the Trainer's event calls."""
        return cast(hookspecs.Hooks, self.manager.hook)


def suggest_hook(name: str) -> str | None:
    """The hook ``name`` is most likely a misspelling of (``register_model`` -> ``register_models``)."""
    from difflib import get_close_matches

    matches = get_close_matches(name, hookspecs.HOOK_NAMES, n=1, cutoff=0.75)
    return matches[0] if matches else None


def _unknown_hook(name: str) -> str:
    suggestion = suggest_hook(name)
    hint = f"did you mean {suggestion!r}?" if suggestion else f"hooks: {', '.join(hookspecs.HOOK_NAMES)}"
    return f"{name!r} is not a minidl hook; {hint}"


def validation_message(error: Exception) -> str:
    """pluggy's complaint about a plugin in one line, without object reprs, with a did-you-mean."""
    text = " ".join(str(error).split())
    unknown = re.search(r"unknown hook '(\w+)'", text)
    if unknown:
        return _unknown_hook(unknown[1])
    text = re.sub(r"^Plugin '[^']*' for hook '(\w+)'", r"hook '\1':", text)
    return re.sub(r"<([\w.]+) (object|from) [^<>]*>|<module '([\w.]+)'[^<>]*>",
                  lambda m: m[1] or m[3] or "?", text)


def hook_problems(plugin: object) -> list[str]:
    """Functions of ``plugin`` that minidl will never call, each with what to do about it.

    A function named after a hook but without ``@hookimpl``, and one (decorated or not)
    whose name is close to a hook's (``register_model``): both register nothing.
    """
    if plugin is None:
        return []
    marker = f"{hookspecs.PROJECT_NAME}_impl"
    problems = []
    for attr in sorted(dir(plugin)):
        if attr.startswith("_") or not attr.startswith(("register", "on_")):
            continue
        value = getattr(plugin, attr, None)
        if not callable(value) or isinstance(value, type):
            continue
        marked = hasattr(value, marker)
        if attr in hookspecs.HOOK_NAMES:
            if not marked:
                problems.append(f"{attr!r} lacks the @hookimpl decorator, so minidl never calls it")
        elif marked or suggest_hook(attr):
            problems.append(_unknown_hook(attr))
    return problems


def _import_plugin(spec: str) -> ModuleType:
    if not spec.strip():
        raise ValueError("an empty name; give a module name or the path of a .py file")
    if spec.endswith(".py") or os.sep in spec or "/" in spec:
        return _import_file(spec)
    return importlib.import_module(spec)


def _import_file(spec: str) -> ModuleType:
    # imported here, not at the top: `minidl --help` imports this module
    from importlib.util import module_from_spec, spec_from_file_location
    from pathlib import Path

    path = Path(spec)
    if path.is_dir():
        raise IsADirectoryError(f"{spec} is a directory; give a .py file, or the package's module name")
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {spec}")
    module_name = f"minidl_local_plugin_{path.stem}"
    module_spec = spec_from_file_location(module_name, path)
    assert module_spec is not None and module_spec.loader is not None
    module = module_from_spec(module_spec)
    sys.modules[module_name] = module
    module_spec.loader.exec_module(module)
    return module


def _cut(text: str) -> str:
    """An error's text cut as :func:`~minidl.errors.shown` cuts a value (a 5000-character path in it)."""
    return text if len(text) <= 2 * SHOWN_CHARS else f"{text[:SHOWN_CHARS]}...{text[-30:]} ({len(text)} characters)"


def _env_list(name: str) -> list[str] | None:
    value = os.environ.get(name)
    if value is None:
        return None
    return [item.strip() for item in value.split(",") if item.strip()]


def _warn(failure: PluginFailure) -> None:
    warnings.warn(str(failure), PluginLoadWarning, stacklevel=4)


def load_plugins(extra: Sequence[str] = (), *, entry_points: bool = True,
                 on_failure: Callable[[PluginFailure], None] | None = None) -> Plugins:
    """Load the defaults, installed plugins and ``extra`` ones (plus ``MINIDL_PLUGINS``).

    ``MINIDL_LOAD_PLUGINS`` (comma-separated) limits which installed plugins load;
    set but empty, it loads none. A broken installed plugin is passed to
    ``on_failure`` (default: a :class:`PluginLoadWarning`) and the others still load.
    """
    plugins = Plugins(on_failure)
    plugins.load_defaults()
    if entry_points:
        plugins.load_entry_points(allow=_env_list("MINIDL_LOAD_PLUGINS"))
    plugins.load_named([*(_env_list("MINIDL_PLUGINS") or []), *extra])
    return plugins


_default: Plugins | None = None


def get_plugins() -> Plugins:
    """The process-wide plugins, loaded on first use (for library users)."""
    global _default
    if _default is None:
        _default = load_plugins()
    return _default


def get_registry() -> Registry:
    """The process-wide registry, for library users: ``get_registry().build(...)``."""
    return get_plugins().registry
